"""``fmbench passes OUT``: accuracy against sampling cost for the methods that sample by solving an ODE.

For one observation of a task, each method's fit in OUT draws ``num_samples`` samples by a fixed-step
solver at each step count and by the adaptive dopri5, the draws outside the prior rejected as in the
protocol (:func:`~fmbench.run.support.sample_within_prior`); the C2ST against the reference posterior and the
network passes per sample are written to ``OUT/passes_TASK_BUDGET_obsI.csv`` and drawn, C2ST against
passes, one line per method (the poster's Fig. 3, right). Every method is solved by fmbench's own solver
(:mod:`fmbench.fmpe.ode`): ``fmpe`` and ``fmpe_vp`` along their flows, ``sbi_fmpe`` and ``npse`` along the
probability-flow ODE of sbi's estimator (npse's own sampler, the reverse SDE, is not this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd
import torch
from torch import Tensor

from fmbench.fmpe.ode import FlowSample, OdeSettings
from fmbench.method import Posterior
from fmbench.metrics import c2st
from fmbench.registry import get_task
from fmbench.report.paths import fitted_posterior
from fmbench.run.support import SamplingError, sample_within_prior

#: The methods compared by default.
ODE_METHODS = ("fmpe", "fmpe_vp", "sbi_fmpe", "npse")
#: Step counts of the fixed-step solver.
STEPS = (4, 8, 16, 32, 64)
#: The columns of a sweep's table.
COLUMNS = (
    "task",
    "budget",
    "observation",
    "method",
    "solver",
    "steps",
    "passes_per_sample",
    "c2st",
    "rejected_fraction",
    "error",
)


@runtime_checkable
class OdeSampled(Protocol):
    """A posterior whose samples can be solved with any :class:`~fmbench.fmpe.ode.OdeSettings`."""

    def sample_by_ode(self, n: int, x_o: Tensor, settings: OdeSettings) -> FlowSample: ...


class _Solved(Posterior):
    """``posterior`` sampled with ``settings``; remembers the passes per sample of its last solve."""

    def __init__(self, posterior: OdeSampled, settings: OdeSettings) -> None:
        self.posterior, self.settings, self.passes = posterior, settings, 0

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        out = self.posterior.sample_by_ode(n, x_o, self.settings)
        self.passes = out.evaluations
        return out.theta


def solver_sweep(
    out: Path,
    task_name: str,
    budget: int,
    observation: int,
    methods: Sequence[str] = ODE_METHODS,
    steps: Sequence[int] = STEPS,
    solver: str = "euler",
    seed: int = 1,
    num_samples: int = 10_000,
    settings: Mapping[str, Mapping[str, object]] | None = None,
) -> pd.DataFrame:
    """C2ST and passes per sample of each method's fit of (task, budget, seed) in ``out`` on one
    observation, with ``solver`` at each of ``steps`` and with dopri5 (atol = rtol = 1e-5): one row each
    (:data:`COLUMNS`). A solve whose draws almost all leave the prior's support (fewer than 1% inside)
    gets no C2ST and says so in ``error``."""
    task = get_task(task_name)
    posteriors = {
        m: fitted_posterior(out, task_name, m, budget, seed, (settings or {}).get(m)) for m in methods
    }
    for method, posterior in posteriors.items():
        if not isinstance(posterior, OdeSampled):
            raise ValueError(f"{method}'s posterior ({type(posterior).__name__}) is not sampled by an ODE")
    x_o = task.observation(observation)
    reference = task.reference_samples(observation)
    solves = [OdeSettings(solver, k) for k in steps] + [OdeSettings("dopri5", atol=1e-5, rtol=1e-5)]
    rows = []
    for method, posterior in posteriors.items():
        for ode in solves:
            solved = _Solved(posterior, ode)  # type: ignore[arg-type]
            row = {
                "task": task_name,
                "budget": budget,
                "observation": observation,
                "method": method,
                "solver": ode.solver,
                "steps": ode.steps if ode.passes is not None else None,
            }
            torch.manual_seed(seed)
            try:
                drawn = sample_within_prior(solved, task.prior, num_samples, x_o)
            except SamplingError as err:  # a solve too coarse to land in the prior: no C2ST, said why
                rows.append({**row, "passes_per_sample": solved.passes, "c2st": None, "error": str(err)})
                continue
            n = min(len(reference), len(drawn.samples))
            score = c2st(reference[:n], drawn.samples[:n], backend="torch", device="cpu")
            rows.append(
                {
                    **row,
                    "passes_per_sample": solved.passes,
                    "c2st": score,
                    "rejected_fraction": drawn.rejected_fraction,
                    "error": "",
                }
            )
    return pd.DataFrame(rows, columns=[*COLUMNS])


def plot_sweep(table: pd.DataFrame, title: str, path: Path) -> None:
    """C2ST against network passes per sample (log scale), one line per method, dopri5 as a star (solves
    without a C2ST left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for k, (method, rows) in enumerate(table.groupby("method", sort=False)):
        rows = rows[rows.c2st.notna()]
        fixed = rows[rows.solver != "dopri5"].sort_values("passes_per_sample")
        ax.plot(fixed.passes_per_sample, fixed.c2st, marker="o", ms=3, color=f"C{k}", label=method)
        adaptive = rows[rows.solver == "dopri5"]
        ax.scatter(adaptive.passes_per_sample, adaptive.c2st, marker="*", s=60, color=f"C{k}")
    ax.set_xscale("log")
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("network passes per sample (stars: dopri5)")
    ax.set_ylabel("C2ST (0.5 is best)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_sweep(out: Path, task_name: str, budget: int, observation: int, **kwargs: object) -> Path:
    """:func:`solver_sweep` written to ``OUT/passes_TASK_BUDGET_obsI.csv`` and drawn beside it (``.png``);
    returns the CSV's path."""
    table = solver_sweep(out, task_name, budget, observation, **kwargs)  # type: ignore[arg-type]
    csv = out / f"passes_{task_name}_{budget}_obs{observation}.csv"
    table.to_csv(csv, index=False)
    title = f"{task_name}, {budget:,} simulations, observation {observation}"
    plot_sweep(table, title, csv.with_suffix(".png"))
    return csv
