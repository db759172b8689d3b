"""Calibration of each fit on held-out prior-predictive pairs (expected coverage, TARP by default).

The held-out pairs are simulations of the same task drawn from a seed stream disjoint from the training
simulations' (``COVERAGE_SEED_OFFSET + seed``, see :mod:`fmbench.run.simulations`), so no method ever
trained on them. Posterior samples go through the same outside-prior rejection as the protocol's. Where
almost none of a pair's samples fall inside the prior (:class:`~fmbench.run.support.SamplingError`), that
pair is ranked on the posterior's own unrejected samples instead of voiding the fit's coverage: the true
parameter lies inside the prior, so such a posterior shows up as miscalibrated, as it is. The per-pair
ranks of each fit, with a ``support_rejection`` column that is false for such pairs and the seconds the
calibration took (``calibration_s``), are kept in
``OUT/coverage/TASK/METHOD/<cell>.csv`` and gathered into ``OUT/coverage.csv``; the report draws the
coverage curves from them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmbench.coverage.ranks import CoverageCurve, coverage_curve, expected_coverage
from fmbench.method import Posterior
from fmbench.run.results import Cell, write_csv_atomic
from fmbench.run.simulations import COVERAGE_SEED_OFFSET, SimulationCache
from fmbench.run.support import SupportPosterior
from fmbench.task import Task

COVERAGE_FILE = "coverage.csv"
COVERAGE_DIR = "coverage"


@dataclass(frozen=True)
class CoverageOptions:
    """Held-out pairs per fit (0 turns calibration off), posterior samples per pair, rank statistic."""

    num_pairs: int = 200
    num_samples: int = 1000
    method: str = "tarp"


def coverage_path(cell: Cell, out: Path) -> Path:
    """Where the per-pair ranks of ``cell`` are kept."""
    return out / COVERAGE_DIR / cell.task / cell.method / cell.path(out).name


def read_coverage(path: Path, *, repair: bool = True) -> pd.DataFrame | None:
    """The per-pair ranks at ``path``, or ``None`` if there are none. A damaged file (unreadable, without
    the rank column, or with a rank outside [0, 1]) reads as ``None``; with ``repair`` it is also reported
    with its path and removed, so that the calibration is computed again. Planning (and so a dry run)
    reads with ``repair=False`` and changes nothing."""
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path)
        ranks = frame["rank"].astype(float)
        if frame.empty or not ranks.between(0.0, 1.0).all():
            raise ValueError("no ranks, or ranks outside [0, 1]")
    except (ValueError, KeyError, pd.errors.ParserError, UnicodeDecodeError) as err:
        if not repair:
            return None
        print(f"fmbench: damaged file {path}: {err}; calibrating again", file=sys.stderr)
        path.unlink(missing_ok=True)
        return None
    return frame


def calibrate(
    cell: Cell,
    task: Task,
    posterior: Posterior,
    cache: SimulationCache,
    out: Path,
    options: CoverageOptions,
    fit_id: str | None = None,
) -> int:
    """Computes and stores the coverage ranks of ``cell`` unless already stored; returns how many pairs were
    ranked on unrejected samples (0 when nothing was computed). ``fit_id`` (the fit's identity, see
    :mod:`fmbench.run.identity`) is stored with the ranks."""
    path = coverage_path(cell, out)
    if options.num_pairs <= 0 or read_coverage(path) is not None:
        return 0
    start = time.perf_counter()
    pairs = cache.get(task, COVERAGE_SEED_OFFSET + cell.seed, options.num_pairs)
    support = SupportPosterior(posterior, task.prior)
    curve = expected_coverage(
        support,
        pairs.theta,
        pairs.x,
        num_samples=options.num_samples,
        method=options.method,
        seed=cell.seed,
    )
    frame = pd.DataFrame(
        {"pair": range(curve.num_pairs), "rank": curve.ranks, "support_rejection": support.rejected}
    )
    frame = frame.assign(
        task=cell.task,
        method=cell.method,
        budget=cell.budget,
        seed=cell.seed,
        method_config_hash=cell.config_hash,
        fit_id=fit_id,
        coverage_method=curve.method,
        num_samples=curve.num_samples,
        calibration_s=time.perf_counter() - start,
    )
    write_csv_atomic(frame, path)
    return support.rejected.count(False)


def assemble_coverage(out: Path) -> pd.DataFrame:
    """Rebuilds ``out/coverage.csv`` from the per-fit files and returns it (empty if there are none)."""
    frames = [read_coverage(f) for f in sorted((out / COVERAGE_DIR).glob("*/*/*.csv"))]
    frames = [f for f in frames if f is not None]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    write_csv_atomic(table, out / COVERAGE_FILE)
    return table


def coverage_curves(table: pd.DataFrame) -> dict[tuple[str, int], dict[str, CoverageCurve]]:
    """``{(task, budget): {method: curve}}`` from a coverage table, all seeds pooled."""
    curves: dict[tuple[str, int], dict[str, CoverageCurve]] = {}
    for (task, budget, method), part in table.groupby(["task", "budget", "method"]):
        ranks = part["rank"].to_numpy()
        levels, coverage = coverage_curve(ranks)
        curve = CoverageCurve(
            levels, coverage, ranks, str(part.coverage_method.iloc[0]), int(part.num_samples.iloc[0])
        )
        curves.setdefault((str(task), int(budget)), {})[str(method)] = curve
    return curves
