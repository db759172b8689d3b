"""What fmpe's fit time buys: npe_nsf, fmpe and a one-network fmpe on the same simulations, timed and scored
by held-out NLL.

Issue 16 asks fmpe to fit in no more time than npe_nsf. fmpe's 1e3 tier trains six networks per fit and
keeps the one of lowest validation NLL, and its 1e4 tier did the same with four until this study (it now
trains one: ``NOTES.md``, "One network at 1e4"); one network of the same architecture and schedule fits in
a fraction of that time. This study measures the trade on held-out simulations only: every
entrant fits the first ``budget`` simulations of training seed ``--seed`` as ``fmbench run`` fits it (torch
seeded with the seed, on the same simulations), its wall time is taken, and its mean held-out NLL
-log q(theta | x) over the first ``--pairs`` pairs of seed 2,000,001 is appended to ``--out``. On a prior of
bounded support each fit is renormalised to it, as the evaluation's rejection sampling renormalises it
(``heldout_nll.renormalised_nll``: the log of its in-support mass, from ``--mass-draws`` of its own samples
per pair). The difference of two entrants' mean NLL is the difference of their expected KL divergences from
the true posterior. Rows already in ``--out`` are not fitted again, so an interrupted run resumes.

Entrants (:data:`ENTRANTS`):

- ``npe_nsf``: sbi's NPE with a neural spline flow, default settings.
- ``fmpe``: fmpe's selection among several networks: at 1e3 its default settings (the tier's six
  candidates), above 3e3 the four candidates of the 1e4 tier this study was run with (alpha 1 or 4, concat
  or glu conditioning, :data:`SELECTION_ABOVE_3E3`).
- ``fmpe_one``: one network of the tier: time prior alpha = 1 (the single alpha of lowest held-out NLL at
  both 1e3 and 1e4, ``NOTES.md``, "Time prior alpha"), batch 256 up to 3e3 (the cheaper of the tier's two),
  conditioning by the observation's length (concat below 50 entries); everything else the tier's. Above
  3e3 that is fmpe's default fit since this study.

Usage:
    python studies/equal_cost.py --tasks two_moons slcp --budgets 1e3 1e4 --seed 1 --out F.csv
    python studies/equal_cost.py --summary --out F.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from heldout_nll import renormalised_nll

from fmbench.cli.arguments import parse_budget
from fmbench.fmpe.tiers import GLU_MIN_X_DIM, tier_for
from fmbench.method import FitContext, Posterior
from fmbench.registry import get_method, get_task
from fmbench.run.simulations import SELECTION_SEED, SimulationCache
from fmbench.task import Task

TASKS = ["two_moons", "gaussian_linear", "gaussian_mixture", "slcp", "bernoulli_glm"]


def _one_network(budget: int, task: Task) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "time_prior_exponent": 1.0,
        "conditioning": "glu" if task.x_dim >= GLU_MIN_X_DIM else "concat",
    }
    if not isinstance(tier_for(budget).batch_size, int):
        settings["batch_size"] = 256
    return settings


#: The ``fmpe`` entrant's candidates above 3e3: the 1e4 tier's before it became one network.
SELECTION_ABOVE_3E3: dict[str, Any] = {"time_prior_exponent": [1.0, 4.0], "conditioning": ["concat", "glu"]}


def _selection(budget: int, task: Task) -> dict[str, Any]:
    return {} if not isinstance(tier_for(budget).batch_size, int) else dict(SELECTION_ABOVE_3E3)


#: Entrant name -> (registered method, its settings for a budget and task).
ENTRANTS: dict[str, tuple[str, Callable[[int, Task], dict[str, Any]]]] = {
    "npe_nsf": ("npe_nsf", lambda budget, task: {}),
    "fmpe": ("fmpe", _selection),
    "fmpe_one": ("fmpe", _one_network),
}
FIELDS = ["task", "budget", "seed", "entrant", "fit_s", "epochs", "nll", "nll_se", "pairs", "mass_draws"]


def fit(entrant: str, task: Task, budget: int, seed: int, cache: SimulationCache) -> tuple[Posterior, float]:
    """The entrant's fit of the first ``budget`` simulations of ``seed``, and its wall time in seconds."""
    name, settings = ENTRANTS[entrant]
    method = get_method(name, settings(budget, task))
    sims = cache.get(task, seed, budget)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # sbi prints a line per fit
        posterior = method.fit(sims.theta, sims.x, task.prior, FitContext(budget=sims.budget, seed=seed))
    return posterior, time.perf_counter() - start


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def summarize(rows: list[dict[str, str]]) -> str:
    """Per task and budget, each entrant's fit seconds and NLL (means over seeds), both against npe_nsf's on
    the same seeds; then each entrant's fit seconds summed over its cells against npe_nsf's on those cells."""
    by_cell: dict[tuple[str, int], dict[str, dict[int, dict[str, str]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in rows:
        by_cell[(r["task"], int(r["budget"]))][r["entrant"]][int(r["seed"])] = r
    lines = [
        "| task | budget | entrant | seeds | fit s | × npe_nsf | NLL | − npe_nsf's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # the entrant's seconds, npe_nsf's
    for (task, budget), entrants in sorted(by_cell.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        base = entrants.get("npe_nsf", {})
        for entrant in ENTRANTS:
            seeds = sorted(set(entrants.get(entrant, {})) & set(base))
            if not seeds:
                continue
            fit_s, base_s = (
                statistics.mean([float(e[s]["fit_s"]) for s in seeds]) for e in (entrants[entrant], base)
            )
            nll = statistics.mean([float(entrants[entrant][s]["nll"]) for s in seeds])
            diff = [float(entrants[entrant][s]["nll"]) - float(base[s]["nll"]) for s in seeds]
            versus = "" if entrant == "npe_nsf" else f"{statistics.mean(diff):+.3f}"
            if versus and len(diff) > 1:
                versus += f" ± {_se(diff):.3f}"
            lines.append(
                f"| {task} | {budget:.0e} | {entrant} | {','.join(map(str, seeds))} | {fit_s:.1f} | "
                f"{fit_s / base_s:.2f} | {nll:.3f} | {versus} |"
            )
            totals[entrant][0] += fit_s
            totals[entrant][1] += base_s
    lines.append("")
    lines += [
        f"summed fit s over its cells, {entrant}: {mine:.1f} ({mine / base:.2f} × npe_nsf's {base:.1f})"
        for entrant, (mine, base) in totals.items()
        if entrant != "npe_nsf"
    ]
    return "\n".join(lines)


def _se(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--budgets", nargs="+", type=parse_budget, default=[1_000, 10_000])
    parser.add_argument("--entrants", nargs="+", choices=list(ENTRANTS), default=list(ENTRANTS))
    parser.add_argument("--seed", type=int, default=1, help="seed of the training simulations and of torch")
    parser.add_argument("--pairs", type=int, default=300, help="held-out pairs")
    parser.add_argument(
        "--mass-draws", type=int, default=1000, help="samples per pair for the in-support mass"
    )
    parser.add_argument("--sim-cache", type=Path, default=Path("results/paper/simulations"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("studies/results/equal_cost.csv"))
    parser.add_argument("--summary", action="store_true", help="only print the summary of --out")
    args = parser.parse_args(argv)
    if args.summary:
        print(summarize(_read(args.out)))
        return
    torch.set_num_threads(args.threads)
    cache = SimulationCache(args.sim_cache)
    done = {(r["task"], int(r["budget"]), int(r["seed"]), r["entrant"]) for r in _read(args.out)}
    if not args.out.exists():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            csv.DictWriter(f, FIELDS).writeheader()
    for task_name in args.tasks:
        task = get_task(task_name)
        held = cache.get(task, SELECTION_SEED, max(args.pairs, 5_000))
        theta, x = held.theta[: args.pairs], held.x[: args.pairs]
        for budget in args.budgets:
            for entrant in args.entrants:
                if (task_name, budget, args.seed, entrant) in done:
                    continue
                posterior, fit_s = fit(entrant, task, budget, args.seed, cache)
                nll = renormalised_nll(posterior, task, theta, x, args.mass_draws)
                row = {
                    "task": task_name,
                    "budget": budget,
                    "seed": args.seed,
                    "entrant": entrant,
                    "fit_s": f"{fit_s:.2f}",
                    "epochs": posterior.cost.epochs if posterior.cost.epochs is not None else "",
                    "nll": f"{nll.mean():.4f}",
                    "nll_se": f"{nll.std() / math.sqrt(len(nll)):.4f}",
                    "pairs": len(nll),
                    "mass_draws": args.mass_draws,
                }
                with args.out.open("a", newline="") as f:
                    csv.DictWriter(f, FIELDS).writerow(row)
                print(
                    f"{task_name} {budget:.0e} seed {args.seed} {entrant}: fit {fit_s:.1f} s, "
                    f"NLL {nll.mean():.3f} ({posterior.cost.epochs or '-'} epochs)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
