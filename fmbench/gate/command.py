"""What ``fmbench check REFERENCE [--out RUN]`` does, step by step (the comparison is in
:mod:`fmbench.gate.check`, the reading and re-running of the reference in :mod:`fmbench.gate.reference`).

1. Read the reference grid from REFERENCE's rows, keep the cells of the seeds asked for (all by default;
   every seed measures the refit noise); refuse (:class:`CheckError`) one produced with other versions of
   torch or sbi than this environment's, unless ``ignore_versions``.
2. If RUN already holds an ``ok`` row for every reference observation, read it; otherwise run the
   reference grid into RUN (a temporary folder by default), which skips the rows already there.
3. Compare cell by cell, print the table, return 1 when a cell fails and 0 otherwise.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fmbench.gate.check import Tolerance, compare, format_comparison, is_complete
from fmbench.gate.reference import (
    BadReferenceError,
    ReferenceGrid,
    expected_hashes,
    read_reference,
    reference_rows,
    run_reference,
    with_seeds,
)
from fmbench.registry import RegistryError
from fmbench.run.provenance import package_version
from fmbench.run.results import load_results
from fmbench.task import TaskUnavailableError


class CheckError(ValueError):
    """Bad input to ``fmbench check``: reported in one line, exit status 2."""


def run_check(
    reference_path: Path,
    out: Path | None = None,
    tolerance: Tolerance | None = None,
    seeds: tuple[int, ...] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    ignore_versions: bool = False,
    device: str = "cpu",
    show_progress: bool = True,
    jobs: int = 1,
    plugin_files: tuple[str, ...] = (),
) -> int:
    """Checks a run against the reference at ``reference_path`` (its cells of ``seeds``, all by default);
    prints the table; returns the exit status (0: every cell passes, 1: some cell fails). ``jobs`` > 1
    re-runs the reference in that many worker processes (one torch thread each, loading ``plugin_files``)."""
    try:
        limits = tolerance or Tolerance()
        reference = with_seeds(read_reference(reference_path), seeds)
        run = _RerunOptions(device, show_progress, jobs, plugin_files)
    except (BadReferenceError, ValueError) as err:
        raise CheckError(str(err)) from None
    if out is None:
        with tempfile.TemporaryDirectory(prefix="fmbench_check_") as tmp:
            return _check_into(reference_path, reference, Path(tmp), limits, overrides, ignore_versions, run)
    return _check_into(reference_path, reference, Path(out), limits, overrides, ignore_versions, run)


def _check_into(
    reference_path: Path,
    reference: ReferenceGrid,
    out: Path,
    tolerance: Tolerance,
    overrides: dict[str, dict[str, Any]] | None,
    ignore_versions: bool,
    options: _RerunOptions,
) -> int:
    try:
        expected = expected_hashes(reference, overrides)
    except (BadReferenceError, RegistryError, KeyError, ValueError, TaskUnavailableError) as err:
        raise CheckError(f"the reference cannot be re-run: {err}") from None
    existing = load_results(out) if _has_results(out) else None
    if existing is not None and is_complete(reference, existing, expected):
        print(f"{out} is complete: comparing its rows")
        run = existing
    else:
        _check_versions(reference_path, reference.versions, _environment_versions(), ignore_versions)
        run_reference(
            reference,
            out,
            overrides,
            options.device,
            options.show_progress,
            options.jobs,
            options.plugin_files,
        )
        run = load_results(out)
    _check_versions(reference_path, reference.versions, _versions_of(run), ignore_versions)
    comparison = compare(reference, reference_rows(reference_path), run, tolerance, expected)
    print(format_comparison(comparison))
    return 0 if comparison.passed else 1


@dataclass(frozen=True)
class _RerunOptions:
    """How the reference is re-run: device, progress bars, worker processes, plugin files."""

    device: str
    show_progress: bool
    jobs: int
    plugin_files: tuple[str, ...]


def _has_results(out: Path) -> bool:
    return (out / "results.csv").exists() or (out / "cells").is_dir()


def _environment_versions() -> dict[str, str]:
    return {"torch": torch.__version__, "sbi": package_version("sbi")}


def _versions_of(run: Any) -> dict[str, str]:
    return {
        "torch": "+".join(sorted(set(map(str, run["torch_version"].dropna())))),
        "sbi": "+".join(sorted(set(map(str, run["sbi_version"].dropna())))),
    }


def _check_versions(
    reference_path: Path, reference: dict[str, str], now: dict[str, str], ignore: bool
) -> None:
    if ignore or reference == now:
        return
    raise CheckError(
        f"{reference_path} was produced with torch {reference['torch']}, sbi {reference['sbi']}; "
        f"this run has torch {now['torch']}, sbi {now['sbi']} (--ignore-versions compares anyway)"
    )
