"""What fmpe costs to fit against npe_nsf: both fitted on the same simulations, one after the other.

For every cell (task, budget; seed 1) the first ``budget`` simulations of the benchmark seed are fitted by
each method exactly as ``fmbench run`` fits them (torch seeded with the seed, default settings), on one torch
thread, and the wall time of ``Method.fit`` is taken. It prints one line per cell with each method's fit
seconds and fmpe's ratio to npe_nsf, then the summed times and their ratio. The goal of issue 16 is a
summed ratio of at most 1 and no cell above 2. With ``--sample``, each fit is also timed drawing 10,000
samples of observation 1 within the prior, as an evaluation draws them (best of two, as
``bench_sample_cost.py`` times saved fits; network passes per sample in brackets). Run it on an otherwise
idle machine: timings taken while other work shares the cores say little.

    python scripts/bench_fit_cost.py                          # the FMPE grid's ten cells (~15 minutes)
    python scripts/bench_fit_cost.py --budgets 1e3 --also sbi_fmpe --csv fit_cost.csv
    python scripts/bench_fit_cost.py --also sbi_fmpe --sample          # fit and sample times (~20 minutes)
    python scripts/bench_fit_cost.py --set fmpe.time_prior_exponent=1 --set fmpe.conditioning=concat
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import time
from pathlib import Path
from typing import Any

import torch
from bench_sample_cost import (  # a sibling script (scripts/ is this script's import path)
    draw_seconds,
    with_passes,
)

from fmbench.cli.arguments import add_settings_option, parse_budget, settings_by_method
from fmbench.method import ConfigError, FitContext, Posterior
from fmbench.registry import get_method, get_task
from fmbench.run.simulations import SimulationCache

TASKS = ["two_moons", "gaussian_linear", "gaussian_mixture", "slcp", "bernoulli_glm"]
BUDGETS = [1_000, 10_000]
#: The two methods compared; ``--also`` times more beside them (e.g. sbi_fmpe), without a ratio.
METHODS = ["fmpe", "npe_nsf"]
#: ``--sample``: samples per draw, the observation drawn from, and the draws per fit (the fastest kept).
SAMPLE_NUM, SAMPLE_OBSERVATION, SAMPLE_REPEATS = 10_000, 1, 2


def fit_seconds(
    method_name: str,
    task_name: str,
    budget: int,
    seed: int,
    cache: SimulationCache,
    settings: dict[str, Any] | None = None,
) -> tuple[float, Posterior]:
    """Wall time of one fit, as the runner makes it (torch seeded with the benchmark seed), with
    ``settings`` overriding the method's defaults; and the fit."""
    task = get_task(task_name)
    sims = cache.get(task, seed, budget)
    method = get_method(method_name, settings)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # sbi prints a line per fit
        posterior = method.fit(sims.theta, sims.x, task.prior, FitContext(budget=sims.budget, seed=seed))
    return time.perf_counter() - start, posterior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--budgets", nargs="+", default=BUDGETS, type=parse_budget)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--sim-cache",
        type=Path,
        default=Path("results/paper/simulations"),
        help="simulation cache (default: the paper grid's, which holds the same seed-1 simulations)",
    )
    parser.add_argument("--also", nargs="*", default=[], help="more methods to time beside the two")
    parser.add_argument("--csv", type=Path, default=None, help="also write the per-cell seconds here")
    parser.add_argument(
        "--sample",
        action="store_true",
        help=f"also time each fit drawing {SAMPLE_NUM:,} samples of observation {SAMPLE_OBSERVATION} "
        f"within the prior (best of {SAMPLE_REPEATS})",
    )
    add_settings_option(
        parser, "a method setting instead of its default, as `fmbench run --set` (repeatable)"
    )
    args = parser.parse_args()
    settings = settings_by_method(args.set)
    torch.set_num_threads(args.threads)
    cache = SimulationCache(args.sim_cache)
    methods = METHODS + [m for m in args.also if m not in METHODS]
    if set(settings) - set(methods):
        parser.error(f"--set names a method not timed: {', '.join(sorted(set(settings) - set(methods)))}")
    for m in methods:
        try:
            get_method(m, settings.get(m))  # a wrong name or setting fails here, before any fit
        except (ConfigError, KeyError) as error:
            parser.error(str(error))
    rows = []
    print(f"fit seconds on {args.threads} torch thread(s), seed {args.seed}, torch {torch.__version__}")
    if args.sample:
        print(
            f"sample seconds: {SAMPLE_NUM:,} samples of observation {SAMPLE_OBSERVATION} within the prior "
            f"(best of {SAMPLE_REPEATS}), network passes per sample in brackets"
        )
    for m, values in settings.items():
        print(f"{m} settings: " + ", ".join(f"{name}={value}" for name, value in values.items()))
    header = "".join(f"{m:>10}" for m in methods) + f"{'ratio':>8}"
    if args.sample:
        header += "".join(f"{'sample ' + m:>20}" for m in methods)
    print(f"{'task':<18}{'budget':>8}{header}")
    for budget in args.budgets:
        for task in args.tasks:
            row: dict[str, Any] = {"task": task, "budget": budget}
            samples = ""
            for m in methods:
                row[m], posterior = fit_seconds(m, task, budget, args.seed, cache, settings.get(m))
                if args.sample:
                    drawn = draw_seconds(
                        posterior, get_task(task), SAMPLE_OBSERVATION, SAMPLE_NUM, SAMPLE_REPEATS
                    )
                    row[f"sample_{m}"], row[f"passes_{m}"] = drawn, posterior.passes_per_sample
                    samples += f"{with_passes(drawn, posterior.passes_per_sample):>20}"
            row["ratio"] = row["fmpe"] / row["npe_nsf"]
            rows.append(row)
            times = "".join(f"{row[m]:>10.1f}" for m in methods)
            print(f"{task:<18}{budget:>8}{times}{row['ratio']:>8.2f}{samples}", flush=True)
    total = {m: sum(r[m] for r in rows) for m in methods}
    worst = max(rows, key=lambda r: r["ratio"])
    sums = "".join(f"{total[m]:>10.1f}" for m in methods)
    print(f"{'sum':<26}{sums}{total['fmpe'] / total['npe_nsf']:>8.2f}")
    print(f"summed fmpe <= summed npe_nsf: {total['fmpe'] <= total['npe_nsf']}; "
          f"largest cell ratio {worst['ratio']:.2f} ({worst['task']} {worst['budget']}), "
          f"cells above 2x: {sum(r['ratio'] > 2 for r in rows)} of {len(rows)}")  # fmt: skip
    if args.csv:
        with args.csv.open("w", newline="") as f:
            sampled = [f"{kind}_{m}" for m in methods for kind in ("sample", "passes")] if args.sample else []
            writer = csv.DictWriter(f, ["task", "budget", *methods, "ratio", *sampled])
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
