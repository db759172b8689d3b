"""What a grid will cost, before it runs: ``fmbench run ... --dry-run``.

Every row records its seconds (``fit_s``; ``sample_s``, ``c2st_s``, ``mmd_s``, ``nltp_s`` and
``log_prob_s`` of its evaluation), so committed results time the next grid. :func:`job_seconds`
summarises a results table into a per (task, method, budget) table of median seconds: a fit, one
observation's evaluation at the protocol's 10,000 samples, and the samples drawn per second (for the
calibration, which draws ``pairs x samples`` of them). ``fmbench/data/job_seconds.csv`` is that table for
the committed paper grid (``python scripts/job_seconds.py results/paper`` remakes it); a run folder's own
rows, when it has some, come first.

:func:`estimate_plans` prices each planned job from the closest entry: the same (task, method, budget);
else the method at that budget over the other tasks (median); an evaluation's classifier part
(C2ST and MMD) from the same task, else tasks of the same parameter dimension, else scaled by dimension.
An estimate is a CPU time of one torch thread on the machine that made the rows (2 cores, 1 thread per
job, another job on the other core); it says where it came from, and "unknown" where nothing fits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

from fmbench import registry
from fmbench.run.jobs import NUM_SAMPLES, Job
from fmbench.run.results import load_results
from fmbench.run.runner import CellPlan

#: The committed summary of the paper grid's seconds.
COMMITTED = "data/job_seconds.csv"
KEY = ["task", "method", "budget"]
#: The columns of a :func:`job_seconds` table.
COLUMNS = [*KEY, "theta_dim", "sampling_s", "classifier_s", "samples_per_s", "rows", "fit_s", "cells"]
_SAMPLING = ["sample_s", "nltp_s", "log_prob_s"]  # scale with the method
_CLASSIFIER = ["c2st_s", "mmd_s"]  # scale with the task's dimension


def job_seconds(results: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per (task, method, budget) of a results table's ``ok`` rows.

    Columns: ``task, method, budget, theta_dim``; ``fit_s`` (median over cells); ``sampling_s`` (drawing
    10,000 samples plus the density metrics, per observation) and ``classifier_s`` (C2ST and MMD at
    10,000 samples, per observation), rescaled from each row's ``num_samples``, NaN where the rows
    predate the evaluation timings; ``samples_per_s``; ``cells`` and ``rows`` behind them.
    """
    ok = results[results.status == "ok"].copy()
    for column in ["fit_s", "num_samples", *_SAMPLING, *_CLASSIFIER]:
        ok[column] = pd.to_numeric(ok.get(column), errors="coerce")
    scale = NUM_SAMPLES / ok["num_samples"].fillna(NUM_SAMPLES)
    ok["sampling_s"] = ok["sample_s"].mul(scale) + ok[["nltp_s", "log_prob_s"]].fillna(0).sum(axis=1)
    classifier = ok[_CLASSIFIER].sum(axis=1, min_count=len(_CLASSIFIER))
    ok["classifier_s"] = classifier * scale
    ok["samples_per_s"] = ok["num_samples"].fillna(NUM_SAMPLES) / ok["sample_s"]
    cells = ok.groupby([*KEY, "seed"])["fit_s"].median().groupby(KEY).agg(["median", "size"])
    table = ok.groupby(KEY).agg(
        sampling_s=("sampling_s", "median"),
        classifier_s=("classifier_s", "median"),
        samples_per_s=("samples_per_s", "median"),
        rows=("status", "size"),
    )
    table = table.join(cells.rename(columns={"median": "fit_s", "size": "cells"})).reset_index()
    table.insert(3, "theta_dim", [_theta_dim(t) for t in table.task])
    return table


def committed_seconds() -> pd.DataFrame:
    """The committed summary (:data:`COMMITTED`); empty where the package was installed without it."""
    try:
        with files("fmbench").joinpath(COMMITTED).open() as handle:
            return pd.read_csv(handle)
    except FileNotFoundError:
        return pd.DataFrame(columns=COLUMNS)


@dataclass(frozen=True)
class Estimate:
    """The estimated CPU seconds of one job (``None``: nothing to go by) and where they came from."""

    job: Job
    seconds: float | None
    source: str


@dataclass(frozen=True)
class Pricing:
    """What a run's jobs draw and evaluate (the options that scale their cost)."""

    num_samples: int = NUM_SAMPLES
    coverage_pairs: int = 200
    coverage_samples: int = 1000


def estimate_jobs(jobs: Iterable[Job], seconds: pd.DataFrame, pricing: Pricing) -> list[Estimate]:
    """Prices each of ``jobs`` from ``seconds`` (a :func:`job_seconds` table; the first row of a key
    wins, so put a run's own rows before the committed ones)."""
    table = seconds.drop_duplicates(subset=KEY, keep="first")
    return [_estimate(job, table, pricing) for job in jobs]


def _estimate(job: Job, table: pd.DataFrame, pricing: Pricing) -> Estimate:
    cell = job.cell
    if job.kind == "fit":
        value, source = _lookup(table, cell.task, cell.method, cell.budget, "fit_s")
        return Estimate(job, value, source)
    samples_per_s, source = _lookup(table, cell.task, cell.method, cell.budget, "samples_per_s")
    if job.kind == "calibrate":
        drawn = pricing.coverage_pairs * pricing.coverage_samples
        if not samples_per_s:
            return Estimate(job, None, "unknown")
        return Estimate(job, drawn / samples_per_s, f"{drawn:,} draws at the rate of {source}")
    sampling, source = _lookup(table, cell.task, cell.method, cell.budget, "sampling_s")
    classifier, where = _classifier(table, cell.task)
    if sampling is None or classifier is None:
        return Estimate(job, None, "unknown")
    per_observation = (sampling + classifier) * pricing.num_samples / NUM_SAMPLES
    return Estimate(job, per_observation * len(job.observations), f"{source}; classifier: {where}")


def _lookup(
    table: pd.DataFrame, task: str, method: str, budget: int, column: str
) -> tuple[float | None, str]:
    """The value for (task, method, budget), else the method's median at that budget over other tasks."""
    rows = table[(table.method == method) & (table.budget == budget)].dropna(subset=[column])
    same = rows[rows.task == task]
    if len(same):
        return float(same[column].iloc[0]), "same cell"
    if len(rows):
        return float(rows[column].median()), f"{method} at {budget:,} on {len(rows)} other task(s)"
    return None, "unknown"


def _classifier(table: pd.DataFrame, task: str) -> tuple[float | None, str]:
    """C2ST and MMD seconds per observation: the task's median, else its dimension's, else scaled."""
    timed = table.dropna(subset=["classifier_s"])
    if timed.empty:
        return None, "unknown"
    same = timed[timed.task == task]
    if len(same):
        return float(same.classifier_s.median()), "same task"
    dim = _theta_dim(task)
    alike = timed[timed.theta_dim == dim]
    if len(alike):
        return float(alike.classifier_s.median()), f"tasks of dimension {dim}"
    per_dim = (timed.classifier_s / timed.theta_dim).median()
    return float(per_dim * dim), "scaled by dimension"


def _theta_dim(task: str) -> int:
    try:
        return registry.get_task(task).theta_dim
    except (KeyError, ValueError, RuntimeError):
        return 0


def run_seconds(out: Path) -> pd.DataFrame:
    """:func:`job_seconds` of the rows already in the run folder ``out`` (empty if none)."""
    try:
        return job_seconds(load_results(out))
    except (FileNotFoundError, ValueError, KeyError):
        return pd.DataFrame(columns=COLUMNS)


def format_hours(seconds: float) -> str:
    """``"3.2 h"``, ``"45 min"`` or ``"30 s"``."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def dry_run_text(
    plans: list[CellPlan], out: Path, seconds: pd.DataFrame, pricing: Pricing, workers: int
) -> str:
    """What ``fmbench run --dry-run`` prints: a line per cell with work left in ``out`` (its fit, unless
    its fit file is there, its evaluations and calibration, estimated), the totals by kind, and the wall
    time on ``workers`` workers."""
    lines = [f"{'cell':<44} {'fit':>8} {'evaluations':>16} {'calibration':>12} {'total':>8}"]
    totals = {"fit": 0.0, "evaluate": 0.0, "calibrate": 0.0}
    unknown: list[str] = []
    for p in plans:
        fitted = p.fit.cell.fit_path(out).exists()  # a fit job then only reloads the fit
        jobs = [*([] if fitted else [p.fit]), *p.followers]
        estimates = estimate_jobs(jobs, seconds, pricing)
        by_kind = {kind: [e for e in estimates if e.job.kind == kind] for kind in totals}
        parts: dict[str, float | None] = {}
        for kind, found in by_kind.items():
            known = [e.seconds for e in found if e.seconds is not None]
            unknown += [e.job.label for e in found if e.seconds is None]
            parts[kind] = sum(known) if found else None
            totals[kind] += sum(known)
        c = p.fit.cell
        evaluations = len(by_kind["evaluate"])
        lines.append(
            f"{f'{c.task} {c.method} {c.budget:,} seed {c.seed}':<44} {_cost(parts['fit']):>8} "
            f"{f'{evaluations} x ' + _cost(_per(parts['evaluate'], evaluations)):>16} "
            f"{_cost(parts['calibrate']):>12} {format_hours(sum(v or 0.0 for v in parts.values())):>8}"
        )
    total = sum(totals.values())
    jobs = sum(1 + len(p.followers) for p in plans)
    lines += [
        "",
        f"{len(plans)} cell(s) with work left, {jobs} job(s). Estimated CPU time (one torch thread a job): "
        f"fits {format_hours(totals['fit'])}, evaluations {format_hours(totals['evaluate'])}, "
        f"calibrations {format_hours(totals['calibrate'])}; total {format_hours(total)}, about "
        f"{format_hours(total / max(1, workers))} of wall time on {workers} worker(s).",
    ]
    if unknown:
        lines.append(f"{len(unknown)} job(s) without an estimate (no timing to go by), e.g. {unknown[0]}.")
    return "\n".join(lines)


def _per(total: float | None, count: int) -> float | None:
    return None if total is None or count == 0 else total / count


def _cost(seconds: float | None) -> str:
    return "-" if seconds is None else format_hours(seconds)
