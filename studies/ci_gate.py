"""How often the CI gate fires on unchanged code, and which planted regressions it catches (issue 43).

The CI reference ``results/ci`` holds seeds 1-5 of each cell (refits of unchanged code); ``fmbench check``
takes its tolerance from their spread (``fmbench/gate/noise.py``). This study re-runs the reference's
cells, unchanged or with a planted regression, into ``runs/ci_gate/PLANT_tTHREADS/`` and judges every run
the way ``fmbench check`` does, for the one-seed gate CI runs (``--seeds S``, each S of 1-5 counted as one
check run) and for the five-seed gate (all seeds at once):

    python studies/ci_gate.py run none --threads 1      # unchanged code, one torch thread
    python studies/ci_gate.py run none --threads 2      # unchanged code, two threads (another numerical path)
    python studies/ci_gate.py run npe_lr_tenth          # a planted regression (see PLANTS)
    python studies/ci_gate.py table                     # studies/results/ci_gate.csv and a summary

Plants that are settings fail the real check as SETTINGS anyway; what is measured here is whether the C2ST
alone would catch them (WORSE), as it must for a code regression that keeps the settings (``half_sims``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pandas as pd
import torch

from fmbench.gate.check import Tolerance, compare
from fmbench.gate.noise import refit_noise
from fmbench.gate.reference import expected_hashes, read_reference, reference_rows, run_reference
from fmbench.run.results import load_results
from fmbench.run.simulations import SimulationCache

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "ci"
WORK = ROOT / "runs" / "ci_gate"
TABLE = ROOT / "studies" / "results" / "ci_gate.csv"

#: name: (method whose cells are re-run, setting overrides, what it plants)
PLANTS: dict[str, tuple[str | None, dict, str]] = {
    "none": (None, {}, "unchanged code"),
    "fmpe_epochs_100": ("fmpe", {"max_epochs": 100}, "fmpe stopped at 100 epochs per candidate"),
    "fmpe_epochs_50": ("fmpe", {"max_epochs": 50}, "fmpe stopped at 50 epochs per candidate"),
    "npe_lr_third": ("npe_nsf", {"learning_rate": 5e-4 / 3}, "npe_nsf with a third of its learning rate"),
    "npe_lr_tenth": ("npe_nsf", {"learning_rate": 5e-5}, "npe_nsf with a tenth of its learning rate"),
    "fmpe_epochs_5": ("fmpe", {"max_epochs": 5}, "fmpe stopped at 5 epochs per candidate"),
    "npe_epochs_3": ("npe_nsf", {"max_num_epochs": 3}, "npe_nsf stopped at 3 epochs"),
    "half_sims": (None, {}, "every method fitted on the first half of its simulations (same settings)"),
    "tenth_sims": (None, {}, "every method fitted on the first tenth of its simulations (same settings)"),
}
#: The plants that hand the fits a share of the cell's simulations (a data bug that keeps the settings).
SHARES = {"half_sims": 2, "tenth_sims": 10}


def _share_simulations(divisor: int) -> None:
    """Plants a data bug: the cache hands every fit the first 1/``divisor`` of the cell's simulations."""
    original = SimulationCache.get

    def first_share(self, task, seed, budget):
        sims = original(self, task, seed, budget)
        share = len(sims.theta) // divisor
        return dataclasses.replace(sims, theta=sims.theta[:share], x=sims.x[:share])

    SimulationCache.get = first_share


def cmd_run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    method, settings, _ = PLANTS[args.plant]
    if args.plant in SHARES:
        _share_simulations(SHARES[args.plant])
    reference = read_reference(REFERENCE)
    if method is not None:
        reference = dataclasses.replace(
            reference, cells=tuple(c for c in reference.cells if c.method == method)
        )
    overrides = {method: settings} if method and settings else None
    run_reference(reference, WORK / f"{args.plant}_t{args.threads}", overrides, show_progress=False)


def _judge(out: Path, plant: str, threads: int) -> pd.DataFrame:
    """Every check run one folder stands for: each seed alone (CI's one-seed gate) and all seeds."""
    method, settings, _ = PLANTS[plant]
    full = read_reference(REFERENCE)
    rows = reference_rows(REFERENCE)
    noise = refit_noise(rows)
    cells_checked = len({c.key[:3] for c in full.cells})  # CI checks every cell: Bonferroni over all
    run = load_results(out)
    overrides = {method: settings} if method and settings else None
    seeds = sorted({c.seed for c in full.cells})
    frames = []
    for chosen in [(s,) for s in seeds] + [tuple(seeds)]:
        cells = tuple(c for c in full.cells if c.seed in chosen and (method is None or c.method == method))
        reference = dataclasses.replace(full, cells=cells)
        table = compare(
            reference, rows, run, Tolerance(fixed=0.0), expected_hashes(reference, overrides)
        ).cells
        if table.verdict.eq("MISSING").any():  # seeds not run (yet) in this folder
            continue
        table["tolerance"] = noise.tolerance(len(chosen), cells_checked, Tolerance().false_alarm_rate)
        table["caught"] = table.difference > table.tolerance
        table["old_tolerance"] = [_old_rule(rows, r, chosen) for r in table.itertuples(index=False)]
        table["old_caught"] = table.difference > table.old_tolerance
        table["gate"] = "one seed" if len(chosen) == 1 else f"{len(chosen)} seeds"
        table["plant"], table["threads"] = plant, threads
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _old_rule(rows: pd.DataFrame, cell, seeds: tuple[int, ...]) -> float:
    """The tolerance before refit calibration, max(0.02, 2 SE over the reference's rows), for one seed."""
    if len(seeds) != 1:
        return math.nan
    mine = rows[(rows.task == cell.task) & (rows.method == cell.method) & (rows.seed == seeds[0])]
    return Tolerance(absolute=0.02, standard_errors=2.0).of(mine.c2st)  # no noise: the old rule


def cmd_table(args: argparse.Namespace) -> None:
    frames = []
    for folder in sorted(WORK.glob("*_t*")):
        plant, threads = folder.name.rsplit("_t", 1)
        if plant in PLANTS and ((folder / "results.csv").exists() or (folder / "cells").is_dir()):
            frames.append(_judge(folder, plant, int(threads)))
    table = pd.concat(frames, ignore_index=True)
    columns = ["plant", "threads", "gate", "task", "method", "seeds", "reference", "now", "difference"]
    columns += ["tolerance", "exact", "n", "caught", "old_tolerance", "old_caught"]
    table = table[columns].round(4)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(TABLE, index=False)
    print(f"{TABLE}: {len(table)} rows")
    noise = refit_noise(reference_rows(REFERENCE))
    print(noise.cells.round(4).to_string(index=False))
    print(f"pooled SD {noise.sd:.4f}, {noise.df} df")
    runs = table.groupby(["plant", "threads", "gate", "seeds"]).agg(
        cells=("caught", "size"),
        caught=("caught", "sum"),
        old=("old_caught", "sum"),
        exact=("exact", "sum"),
        rows=("n", "sum"),
    )
    summary = runs.groupby(["plant", "threads", "gate"]).agg(
        runs=("cells", "size"),
        runs_failing=("caught", lambda c: int((c > 0).sum())),
        cells=("cells", "sum"),
        cells_caught=("caught", "sum"),
        runs_failing_old_rule=("old", lambda c: int((c > 0).sum())),
        rows_exact=("exact", "sum"),
        rows=("rows", "sum"),
    )
    print(summary.to_string())
    per_cell = table.groupby(["plant", "threads", "gate", "task", "method"]).agg(
        mean_difference=("difference", "mean"),
        min_difference=("difference", "min"),
        tolerance=("tolerance", "first"),
        caught=("caught", "sum"),
        old_rule_caught=("old_caught", "sum"),
        runs=("caught", "size"),
    )
    print(per_cell.round(3).to_string())
    print(_markdown(table))


def _markdown(table: pd.DataFrame) -> str:
    """Per plant and cell: the C2ST rise over the five seeds checked one at a time (mean, lowest-highest)
    and how often each gate caught it (docs/ci_gate.md)."""
    lines = [
        "| plant | cell | rise, one seed at a time: mean (lowest to highest) | one-seed gate caught | "
        "five-seed gate caught |",
        "|---|---|---|---|---|",
    ]
    one = table[(table.gate == "one seed") & (table.threads == 1)]
    five = table[(table.gate != "one seed") & (table.threads == 1)]
    for plant in PLANTS:
        for (task, method), part in one[one.plant == plant].groupby(["task", "method"], sort=False):
            both = five[(five.plant == plant) & (five.task == task) & (five.method == method)]
            caught_five = f"{int(both.caught.sum())} of {len(both)}" if len(both) else "-"
            lines.append(
                f"| {PLANTS[plant][2]} | {task} {method} | {part.difference.mean():+.3f} "
                f"({part.difference.min():+.3f} to {part.difference.max():+.3f}) | "
                f"{int(part.caught.sum())} of {len(part)} | {caught_five} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="re-run the reference's cells, unchanged or with a plant")
    run.add_argument("plant", choices=sorted(PLANTS))
    run.add_argument("--threads", type=int, default=1)
    run.set_defaults(handler=cmd_run)
    table = sub.add_parser("table", help="judge every run folder and summarise")
    table.set_defaults(handler=cmd_table)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
