"""``fmbench paths OUT``: how each flow-matching method carries noise to one posterior, drawn.

For one observation of a task, the fits of ``fmpe`` (the Gaussian optimal-transport path) and ``fmpe_vp``
(the variance-preserving diffusion path) that a run left in OUT push the same source draws from
:math:`\\mathcal N(0, I)` along their flows; the figure shows where the draws are at several fractions of
the path's time (one row per method, one column per time, the first two parameters), the reference
posterior in grey in the last column, and each draw's track in light lines (after Lipman et al. 2023,
Fig. 3, which the poster this suite grew from redraws on two_moons and slcp).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from fmbench.fmpe.method import FlowPosterior
from fmbench.method import Posterior
from fmbench.registry import get_method, get_task
from fmbench.run.results import Cell

#: The methods drawn by default: the two paths of the in-house FMPE.
PATH_METHODS = ("fmpe", "fmpe_vp")
#: Fractions of the path's time at which the draws are shown.
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def fitted_posterior(
    out: Path, task: str, method: str, budget: int, seed: int, settings: Mapping[str, object] | None = None
) -> Posterior:
    """The posterior of the cell (task, method with ``settings``, budget, seed) fitted in ``out``.

    Raises:
        FileNotFoundError: no fit of that cell in ``out``, saying the command that makes one.
    """
    config = get_method(method, dict(settings or {})).config
    cell = Cell(task, method, budget, seed, config.hash(budget))
    path = cell.fit_path(out)
    if not path.exists():
        make = f"fmbench run --tasks {task} --methods {method} --budgets {budget} --seeds {seed}"
        if cell.path(out).exists():  # rows without their fit: a clone of committed results
            raise FileNotFoundError(
                f"{out} holds the rows of {method} on {task} at {budget} simulations, seed {seed}, but not "
                f"its fit ({path.name}; fits are not committed to git), and a run there would skip the "
                f"finished cell; make the fit in a folder of your own and point this command at it: "
                f"{make} --observations 1 --coverage-pairs 0 --out DIR"
            )
        raise FileNotFoundError(
            f"no fit of {method} on {task} at {budget} simulations, seed {seed}, in {out} "
            f"({path.name}); make one with: {make} --out {out}"
        )
    try:  # read only, onto the CPU: unlike a run, never removes a file it cannot read
        fit = torch.load(path, map_location="cpu", weights_only=False)  # our own file (store.save_torch)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line message
        raise ValueError(f"cannot read the fit {path}: {type(err).__name__}: {err}") from None
    posterior = getattr(fit, "posterior", None)
    if not isinstance(posterior, Posterior):
        raise ValueError(f"{path} holds no fitted posterior")
    return posterior


def fitted_flow(
    out: Path, task: str, method: str, budget: int, seed: int, settings: Mapping[str, object] | None = None
) -> FlowPosterior:
    """:func:`fitted_posterior`, which must be one of fmbench's flows (``ValueError`` otherwise)."""
    posterior = fitted_posterior(out, task, method, budget, seed, settings)
    if not isinstance(posterior, FlowPosterior):
        raise ValueError(f"{method}'s posterior is a {type(posterior).__name__}, not an fmbench flow")
    return posterior


def draw_paths(
    out: Path,
    task_name: str,
    budget: int,
    observation: int,
    methods: Sequence[str] = PATH_METHODS,
    seed: int = 1,
    samples: int = 500,
    fractions: Sequence[float] = FRACTIONS,
    settings: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """Draws the trajectories of ``methods``' fits of (task, budget, seed) for one observation into
    ``OUT/paths_TASK_BUDGET_obsI.png``; the source draws come from a generator seeded with ``seed``, the same
    for every method. The fits are read onto the CPU and run there. Returns the figure's path."""
    if samples <= 0:
        raise ValueError(f"samples must be a positive integer, got {samples}")
    task = get_task(task_name)
    flows = {m: fitted_flow(out, task_name, m, budget, seed, (settings or {}).get(m)) for m in methods}
    theta_0 = torch.randn(samples, task.theta_dim, generator=torch.Generator().manual_seed(seed))
    x_o = task.observation(observation)
    tracks = {m: flow.trajectory(theta_0, x_o, fractions) for m, flow in flows.items()}
    reference = task.reference_samples(observation)[:samples]
    figure = out / f"paths_{task_name}_{budget}_obs{observation}.png"
    plot_paths(
        tracks,
        fractions,
        reference,
        f"{task_name}, {budget:,} simulations, observation {observation}",
        figure,
    )
    return figure


def plot_paths(
    tracks: Mapping[str, Tensor], fractions: Sequence[float], reference: Tensor | None, title: str, path: Path
) -> None:
    """One row per method, one column per fraction of time: the draws ``tracks[m]`` ``(T, B, D)`` in their
    first two parameters (the first against itself when there is one), their tracks up to that time, and
    ``reference`` ``(N, D)`` behind the last column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(tracks), len(fractions)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False, sharex=True, sharey=True
    )
    for r, (method, points) in enumerate(tracks.items()):
        a, b = (0, 1) if points.shape[2] > 1 else (0, 0)
        for c, fraction in enumerate(fractions):
            ax = axes[r][c]
            if c == cols - 1 and reference is not None:
                ax.scatter(reference[:, a], reference[:, b], s=2, color="0.75", label="reference")
            for k in range(min(points.shape[1], 60)):  # a few tracks, so the points stay visible
                ax.plot(points[: c + 1, k, a], points[: c + 1, k, b], color=f"C{r}", alpha=0.15, lw=0.5)
            ax.scatter(points[c, :, a], points[c, :, b], s=2, color=f"C{r}", alpha=0.6)
            ax.set_title(f"{method}, t = {fraction:g}", fontsize=8)
            ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel(f"θ{b + 1}", fontsize=8)
            if r == rows - 1:
                ax.set_xlabel(f"θ{a + 1}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
