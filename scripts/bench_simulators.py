"""Times the Julia-free sir and lotka_volterra simulators on 1e5 prior draws each.

Prints, per task, the wall time of one ``task.simulate`` call on all draws and of the same draws in calls
of 1,000 rows (how the runner's simulation cache calls it), simulations per second, the number of failed
solves (NaN rows) and the ODE steps per row.

Usage::

    nice python scripts/bench_simulators.py [--num 100000] [--threads 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from fmbench.registry import get_task
from fmbench.tasks.julia_free import SimulationFailureWarning, StoredSbibmTask


def bench(task: StoredSbibmTask, num: int, seed: int) -> None:
    """Prints the timings of ``num`` simulations of ``task``."""
    torch.manual_seed(seed)
    theta = task.prior.sample((num,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SimulationFailureWarning)
        start = time.perf_counter()
        x = task.simulate(theta)
        whole = time.perf_counter() - start
        start = time.perf_counter()
        for chunk in theta.split(1000):
            task.simulate(chunk)
        chunked = time.perf_counter() - start
    steps = task.solve(theta[:10_000]).steps.double()
    failed = int((~torch.isfinite(x).all(-1)).sum())
    print(
        f"{task.name:15s} {num:>7d} sims  one call {whole:6.1f} s ({num / whole:8.0f}/s)  "
        f"calls of 1000 {chunked:6.1f} s  failed solves {failed}  "
        f"steps/row mean {steps.mean():.0f} max {steps.max():.0f}  warnings {len(caught)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in ("sir", "lotka_volterra"):
        bench(get_task(name), args.num, args.seed)


if __name__ == "__main__":
    main()
