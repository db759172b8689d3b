"""Throughput of ``fmbench run --jobs N`` against a serial run on one fixed mini-grid.

The mini-grid: fmpe and npe_nsf on two_moons (2 parameters) and gaussian_linear (10 parameters) at 1,000
simulations, observations 1-3, seed 1 (4 fits, 12 evaluations). It runs once serially and once with
``--jobs N`` (each job on one torch thread in both), each into a fresh folder, and prints both wall times,
their ratio and whether the two runs' rows are identical (metrics, to the bit). Run it on an otherwise
idle machine: timings taken while other work shares the cores say little.

    python scripts/bench_jobs.py                 # --jobs 2 on this machine
    python scripts/bench_jobs.py --jobs 8 --device cuda --jobs-per-gpu 8   # a GPU box
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

TASKS = ["two_moons", "gaussian_linear"]
METHODS = ["fmpe", "npe_nsf"]
METRICS = ["task", "method", "budget", "seed", "observation", "status", "c2st", "mmd", "nltp"]


def run(out: Path, extra: list[str], args: argparse.Namespace) -> float:
    """Runs the mini-grid into ``out``; returns the wall time in seconds."""
    command = [sys.executable, "-m", "fmbench.cli", "run", "--tasks", *TASKS, "--methods", *METHODS]
    command += ["--budgets", "1000", "--observations", args.observations, "--seeds", "1"]
    command += ["--coverage-pairs", str(args.coverage_pairs), "--threads", "1", "--no-progress"]
    command += ["--device", args.device, "--out", str(out), *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel run (default 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs-per-gpu", type=int, default=1)
    parser.add_argument("--observations", default="1-3")
    parser.add_argument("--coverage-pairs", type=int, default=0, help="held-out coverage pairs (default 0)")
    parser.add_argument("--keep", type=Path, default=None, help="keep both output folders here")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_jobs_"))
    serial = run(root / "serial", [], args)
    parallel_extra = ["--jobs", str(args.jobs), "--jobs-per-gpu", str(args.jobs_per_gpu)]
    parallel = run(root / f"jobs{args.jobs}", parallel_extra, args)
    rows = [pd.read_csv(root / name / "results.csv")[METRICS] for name in ("serial", f"jobs{args.jobs}")]
    identical = rows[0].equals(rows[1])
    fits = pd.read_csv(root / "serial" / "results.csv").groupby(["task", "method"]).fit_s.first()
    print(f"mini-grid: {', '.join(TASKS)} x {', '.join(METHODS)}, 1000 simulations, observations "
          f"{args.observations}, device {args.device}")  # fmt: skip
    print("serial fit seconds:", ", ".join(f"{t}/{m} {s:.0f}" for (t, m), s in fits.items()))
    print(f"serial (1 job):   {serial:8.1f} s")
    print(f"--jobs {args.jobs}:        {parallel:8.1f} s")
    print(f"speed-up: {serial / parallel:.2f}x; rows identical: {'yes' if identical else 'NO'}")
    print(f"all rows ok: {all((r.status == 'ok').all() for r in rows)}")
    if args.keep is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
