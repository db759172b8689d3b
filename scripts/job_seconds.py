"""Writes fmbench/data/job_seconds.csv, the committed timings `fmbench run --dry-run` prices jobs from.

    python scripts/job_seconds.py results/paper

Reads the run folder's rows (every seed) and keeps, per (task, method, budget), the median seconds of a
fit and of one observation's evaluation (fmbench.run.estimate.job_seconds). Run it after committing new
rows of the paper grid, so that estimates follow the grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fmbench.run.estimate import COMMITTED, job_seconds
from fmbench.run.results import load_results

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder, e.g. results/paper")
    args = parser.parse_args()
    table = job_seconds(load_results(args.run))
    path = ROOT / "fmbench" / COMMITTED
    table.round(4).to_csv(path, index=False)
    timed = table.classifier_s.notna().sum()
    print(f"{path}: {len(table)} (task, method, budget) entries, {timed} with evaluation timings")


if __name__ == "__main__":
    main()
