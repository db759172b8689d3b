"""What sampling costs per cell: a run folder's saved fits timed drawing posterior samples, side by side.

For every cell (task, budget, method; seed 1, each method's default settings) whose fit a run left in OUT,
NUM samples of each observation are drawn within the prior exactly as an evaluation draws them
(``fmbench.run.support.sample_within_prior``: outside-prior draws rejected and redrawn), on one torch thread,
and the wall time is taken (best of REPEATS). It prints one line per cell with each method's seconds and
network passes per sample, and fmpe's ratio to the other methods. Run it on an otherwise idle machine;
the grid's own ``sample_s`` rows are taken under whatever else the machine ran.

    python scripts/bench_sample_cost.py results/paper --tasks two_moons slcp --budgets 1e3 1e4
    python scripts/bench_sample_cost.py results/paper --methods fmpe npe_nsf sbi_fmpe --csv sample_cost.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from fmbench.cli.arguments import parse_budget
from fmbench.method import Posterior
from fmbench.registry import get_task
from fmbench.report.paths import fitted_posterior
from fmbench.run.support import sample_within_prior
from fmbench.task import Task

TASKS = ["two_moons", "gaussian_linear", "gaussian_mixture", "slcp", "bernoulli_glm"]
BUDGETS = [1_000, 10_000]
METHODS = ["fmpe", "npe_nsf", "sbi_fmpe"]


def sample_seconds(
    out: Path, task_name: str, method: str, budget: int, seed: int, observation: int, num: int, repeats: int
) -> tuple[float, float | None]:
    """Best wall time of ``repeats`` draws of ``num`` samples within the prior, and the passes per sample.

    Raises:
        FileNotFoundError: the run folder has no fit of that cell.
    """
    task = get_task(task_name)
    posterior = fitted_posterior(out, task_name, method, budget, seed)
    return draw_seconds(posterior, task, observation, num, repeats), posterior.passes_per_sample


def draw_seconds(posterior: Posterior, task: Task, observation: int, num: int, repeats: int) -> float:
    """Best wall time of ``repeats`` draws of ``num`` samples within the prior from ``posterior`` at the
    task's observation ``observation``, as an evaluation draws them (also used by bench_fit_cost.py)."""
    x_o = task.observation(observation)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sample_within_prior(posterior, task.prior, num, x_o)
        best = min(best, time.perf_counter() - start)
    return best


def with_passes(seconds: float, passes: float | None) -> str:
    """Seconds with the network passes per sample in brackets (none where the method has no count; also
    used by bench_fit_cost.py)."""
    return f"{seconds:.2f}" + (f" ({passes:.0f})" if passes else "")


def _shown(row: dict[str, object], method: str) -> str:
    """A method's seconds in a row, with its passes per sample in brackets; blank without a fit."""
    if method not in row:
        return ""
    return with_passes(row[method], row[f"{method}_passes"])  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a run folder with saved fits (e.g. results/paper)")
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--budgets", nargs="+", default=BUDGETS, type=parse_budget)
    parser.add_argument("--methods", nargs="+", default=METHODS, help="the first is set against the others")
    parser.add_argument("--observation", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num", type=int, default=10_000, help="samples per draw (the protocol's 10,000)")
    parser.add_argument("--repeats", type=int, default=2, help="draws per cell; the fastest is kept")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--csv", type=Path, default=None, help="also write the per-cell seconds here")
    args = parser.parse_args()
    if not args.out.is_dir():
        parser.error(f"{args.out} is not a run folder")
    torch.set_num_threads(args.threads)
    first, others = args.methods[0], args.methods[1:]
    rows, missing = [], []
    print(
        f"seconds for {args.num:,} samples of observation {args.observation} within the prior "
        f"(best of {args.repeats}), {args.threads} torch thread(s), torch {torch.__version__}; "
        "network passes per sample in brackets"
    )
    header = "".join(f"{m:>18}" for m in args.methods) + "".join(f"{'/ ' + m:>14}" for m in others)
    print(f"{'task':<18}{'budget':>8}{header}")
    for budget in args.budgets:
        for task in args.tasks:
            row: dict[str, object] = {"task": task, "budget": budget}
            for method in args.methods:
                try:
                    seconds, passes = sample_seconds(
                        args.out, task, method, budget, args.seed, args.observation, args.num, args.repeats
                    )
                except FileNotFoundError:
                    missing.append(f"{task} {method} {budget}")
                    continue
                row[method], row[f"{method}_passes"] = seconds, passes
            if first not in row:
                continue
            cells = ""
            for method in args.methods:
                cells += f"{_shown(row, method):>18}"
            for method in others:
                if method in row:
                    row[f"ratio_{method}"] = row[first] / row[method]
                cells += f"{row[f'ratio_{method}']:>14.2f}" if method in row else f"{'':>14}"
            rows.append(row)
            print(f"{task:<18}{budget:>8}{cells}", flush=True)
    if missing:
        print(f"no fit in {args.out} (left out): " + ", ".join(missing))
    if args.csv and rows:
        fields = ["task", "budget", *(f for m in args.methods for f in (m, f"{m}_passes"))]
        fields += [f"ratio_{m}" for m in others]
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
