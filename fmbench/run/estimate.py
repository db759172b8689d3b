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

:func:`spent_seconds` is the other side: what the grid's work already in the run folder cost, summed
from its rows' and calibrations' own seconds, so that a grid's cost is known before and after it runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from fmbench import registry
from fmbench.coverage import coverage_path, read_coverage
from fmbench.run.jobs import NUM_SAMPLES, Job
from fmbench.run.results import Cell, load_results, read_cell
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
    checks = sum(len(_rechecked(p)) for p in plans)
    if checks:
        lines.append(
            f"{checks} observation(s) already ok lie in cells whose kept fit is gone: each is evaluated "
            "again only if the refit is another network (fmbench.run.identity); priced as evaluations, "
            "the most they can cost."
        )
    if unknown:
        lines.append(f"{len(unknown)} job(s) without an estimate (no timing to go by), e.g. {unknown[0]}.")
    return "\n".join(lines)


def _rechecked(p: CellPlan) -> set[int]:
    """The observations of ``p`` already ``ok`` that its evaluation jobs check against a refit."""
    planned = {i for job in p.followers if job.kind == "evaluate" for i in job.observations}
    return planned - set(p.fit.observations)


@dataclass(frozen=True)
class Spent:
    """What a grid's finished work in a run folder cost, from its own records.

    Attributes:
        cells: Cells with at least one evaluated observation.
        evaluations: Observations evaluated ``ok``.
        calibrations: Cells with their calibration (coverage) done.
        fit_s: Fit seconds, one fit per cell (the median over its rows, as in the cost tables).
        evaluate_s: Evaluation seconds (sampling, C2ST, MMD, NLTP, log_prob) summed over the rows.
        calibrate_s: Calibration seconds summed over the cells.
        untimed: Evaluations or calibrations made before their seconds were recorded (counted, not timed).
    """

    cells: int = 0
    evaluations: int = 0
    calibrations: int = 0
    fit_s: float = 0.0
    evaluate_s: float = 0.0
    calibrate_s: float = 0.0
    untimed: int = 0

    @property
    def total_s(self) -> float:
        return self.fit_s + self.evaluate_s + self.calibrate_s


_EVALUATION_SECONDS = ("sample_s", "c2st_s", "mmd_s", "nltp_s", "log_prob_s")


def spent_seconds(cells: Iterable[Cell], observations: Iterable[int], out: Path) -> Spent:
    """The measured cost of the work ``out`` already holds for ``cells`` on ``observations``: reads the
    cells' rows and calibration files and changes nothing (a damaged file counts as not done)."""
    wanted = set(observations)
    totals = {"cells": 0, "evaluations": 0, "calibrations": 0, "untimed": 0}
    seconds = {"fit_s": 0.0, "evaluate_s": 0.0, "calibrate_s": 0.0}
    for cell in cells:
        rows = [r for r in read_cell(cell, out) if r.status == "ok" and r.observation in wanted]
        if rows:
            totals["cells"] += 1
            totals["evaluations"] += len(rows)
            fits = [r.fit_s for r in rows if r.fit_s is not None]
            seconds["fit_s"] += float(np.median(fits)) if fits else 0.0
            for r in rows:
                totals["untimed"] += r.c2st_s is None
                seconds["evaluate_s"] += sum(getattr(r, k) or 0.0 for k in _EVALUATION_SECONDS)
        calibration = _calibration_seconds(coverage_path(cell, out))
        if calibration is not None:
            totals["calibrations"] += 1
            totals["untimed"] += math.isnan(calibration)
            seconds["calibrate_s"] += 0.0 if math.isnan(calibration) else calibration
    return Spent(**totals, **seconds)


def _calibration_seconds(path: Path) -> float | None:
    """A calibration file's seconds (NaN where it predates them), or ``None`` when there is none."""
    frame = read_coverage(path, repair=False)
    if frame is None:
        return None
    values = pd.to_numeric(frame.get("calibration_s", pd.Series(dtype=float)), errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else math.nan


def spent_text(spent: Spent, out: Path) -> str:
    """What ``fmbench run --dry-run`` prints of the work already done."""
    if not spent.cells and not spent.calibrations:
        return f"Done so far in {out}: nothing of this grid."
    untimed = (
        f"; {spent.untimed} evaluation(s) or calibration(s) predate their timings and are not in it"
        if spent.untimed
        else ""
    )
    return (
        f"Done so far in {out}: {spent.evaluations} evaluation(s) in {spent.cells} cell(s), "
        f"{spent.calibrations} calibration(s). Measured time (the rows' own seconds): fits "
        f"{format_hours(spent.fit_s)}, evaluations {format_hours(spent.evaluate_s)}, calibrations "
        f"{format_hours(spent.calibrate_s)}; total {format_hours(spent.total_s)}{untimed}."
    )


def _per(total: float | None, count: int) -> float | None:
    return None if total is None or count == 0 else total / count


def _cost(seconds: float | None) -> str:
    return "-" if seconds is None else format_hours(seconds)
