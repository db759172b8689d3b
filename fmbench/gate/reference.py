"""A reference grid: what a committed results folder ran, read back from its rows, and run again.

Everything needed to repeat a results folder is in its rows: the cells (task, method, budget, seed) and
their observations, each method's settings (``method_config``), the posterior samples per observation
(``num_samples``), the C2ST backend, and the versions that produced it; the held-out coverage of each fit,
when there is one, is in ``coverage.csv`` (pairs per fit, samples per pair). ``fmbench check`` reads a
:class:`ReferenceGrid` with :func:`read_reference`, and :func:`run_reference` repeats it into a new folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from fmbench import registry
from fmbench.coverage import COVERAGE_FILE, CoverageOptions
from fmbench.run.results import RESULTS_FILE


class BadReferenceError(ValueError):
    """A reference folder that cannot be read or repeated as asked."""


@dataclass(frozen=True)
class CellSpec:
    """One fit of the reference and the observations it was evaluated on."""

    task: str
    method: str
    budget: int
    seed: int
    observations: tuple[int, ...]

    @property
    def key(self) -> tuple[str, str, int, int]:
        """``(task, method, budget, seed)``."""
        return (self.task, self.method, self.budget, self.seed)


@dataclass(frozen=True)
class ReferenceGrid:
    """What a reference folder ran.

    Attributes:
        cells: The fits, in the folder's order.
        settings: Each method's settings, as recorded (``{method: {name: value}}``).
        num_samples: Posterior samples per observation.
        c2st_backend: The C2ST implementation.
        coverage: The held-out coverage options (``num_pairs=0`` when the folder has none).
        versions: ``{"torch": ..., "sbi": ...}`` of the rows.
    """

    cells: tuple[CellSpec, ...]
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    num_samples: int = 10_000
    c2st_backend: str = "torch"
    coverage: CoverageOptions = CoverageOptions(num_pairs=0)
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cells:
            raise BadReferenceError("the reference has no rows")
        if self.num_samples < 1:
            raise BadReferenceError(f"num_samples must be positive, got {self.num_samples}")


def reference_rows(path: Path) -> pd.DataFrame:
    """The rows of the reference at ``path``: its ``results.csv`` as committed (read only, never rebuilt
    from its cell files), or the table ``path`` itself."""
    path = Path(path)
    table = path / RESULTS_FILE if path.is_dir() else path
    if not table.exists():
        raise BadReferenceError(f"no results table at {table}")
    return pd.read_csv(table, keep_default_na=False, na_values=[""], dtype={"method_config_hash": str})


def read_reference(path: Path) -> ReferenceGrid:
    """The :class:`ReferenceGrid` of the results folder (or table) at ``path``."""
    rows = reference_rows(path)
    if rows.empty:
        raise BadReferenceError(f"the reference at {path} has no rows")
    cells = tuple(
        CellSpec(str(t), str(m), int(b), int(s), tuple(sorted(int(i) for i in part.observation.unique())))
        for (t, m, b, s), part in rows.groupby(["task", "method", "budget", "seed"], sort=False)
    )
    return ReferenceGrid(
        cells=cells,
        settings={method: _settings(part, method) for method, part in rows.groupby("method")},
        num_samples=int(_one(rows, "num_samples", path)),
        c2st_backend=str(_one(rows, "c2st_backend", path)),
        coverage=_coverage(Path(path)),
        versions={
            "torch": str(_one(rows, "torch_version", path)),
            "sbi": str(_one(rows, "sbi_version", path)),
        },
    )


def with_seeds(reference: ReferenceGrid, seeds: tuple[int, ...] | None) -> ReferenceGrid:
    """``reference`` with only the cells of ``seeds`` (all when ``None``): the ones a check re-runs; the
    reference's other seeds still measure its refit noise."""
    if seeds is None:
        return reference
    held = sorted({cell.seed for cell in reference.cells})
    unknown = sorted(set(seeds) - set(held))
    if unknown:
        missing, present = (", ".join(map(str, values)) for values in (unknown, held))
        raise BadReferenceError(f"--seeds {missing} not in the reference (it holds {present})")
    return replace(reference, cells=tuple(c for c in reference.cells if c.seed in seeds))


def _one(rows: pd.DataFrame, column: str, path: Path) -> Any:
    values = rows[column].dropna().unique()
    if len(values) != 1:
        found = ", ".join(map(str, values)) or "none"
        raise BadReferenceError(f"the reference at {path} needs one {column}, found: {found}")
    return values[0]


def _settings(rows: pd.DataFrame, method: str) -> dict[str, Any]:
    recorded = rows["method_config"].dropna().unique()
    if len(recorded) != 1:
        raise BadReferenceError(
            f"the reference needs one set of settings per method; {method} has {len(recorded)}"
        )
    return json.loads(recorded[0])


def _coverage(path: Path) -> CoverageOptions:
    file = (path if path.is_dir() else path.parent) / COVERAGE_FILE
    if not file.exists():
        return CoverageOptions(num_pairs=0)
    table = pd.read_csv(file)
    if table.empty:
        return CoverageOptions(num_pairs=0)
    per_fit = table.groupby(["task", "method", "budget", "seed"]).size()
    return CoverageOptions(
        num_pairs=int(per_fit.max()),
        num_samples=int(table["num_samples"].max()),
        method=str(table["coverage_method"].iloc[0]),
    )


def run_reference(
    reference: ReferenceGrid,
    out: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
    device: str = "cpu",
    show_progress: bool = True,
    jobs: int = 1,
    plugin_files: tuple[str, ...] = (),
) -> None:
    """Runs every cell of ``reference`` into ``out`` (rows already ``ok`` there are kept), with the
    recorded settings updated by ``overrides`` (``{method: {name: value}}``); ``jobs`` > 1 runs the jobs
    in that many worker processes of one torch thread each (which load ``plugin_files``)."""
    from fmbench.run.executors import ProcessExecutor
    from fmbench.run.jobs import WorkerSetup
    from fmbench.run.runner import RunOptions, run_grid

    options = RunOptions(
        out=Path(out),
        num_samples=reference.num_samples,
        c2st_backend=reference.c2st_backend,
        device=device,
        show_progress=show_progress and jobs == 1,
        calibration=reference.coverage,
    )
    for grid in reference_grids(reference, overrides, merged=True):
        executor = None
        if jobs > 1:
            executor = ProcessExecutor(WorkerSetup(options, grid.settings, plugin_files, threads=1), jobs)
        run_grid(grid, options, executor, progress=show_progress)


def expected_hashes(
    reference: ReferenceGrid, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[tuple[str, str, int, int], str]:
    """The ``method_config_hash`` each reference cell gets when run today with the recorded settings
    updated by ``overrides`` (it differs from the recorded one when the settings, or what they resolve
    to, changed)."""
    return {
        grid_cell: registry.get_method(grid.methods[0], grid.settings[grid.methods[0]]).config.hash(
            grid.budgets[0]
        )
        for grid_cell, grid in zip(
            (cell.key for cell in reference.cells), reference_grids(reference, overrides), strict=True
        )
    }


def reference_grids(
    reference: ReferenceGrid, overrides: dict[str, dict[str, Any]] | None = None, merged: bool = False
) -> list:
    """The :class:`fmbench.run.runner.Grid` s that run the reference's cells (validated: bad names or
    settings raise): one per cell, or with ``merged`` a single grid when the cells are every combination
    of their tasks, methods, budgets and seeds with the same observations (so that its jobs can run side by
    side)."""
    from fmbench.run.runner import Grid

    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(reference.settings))
    if unknown:
        raise BadReferenceError(f"--set names method(s) not in the reference: {', '.join(unknown)}")
    settings = {m: {**s, **overrides.get(m, {})} for m, s in reference.settings.items()}
    cells = reference.cells
    axes = [tuple(dict.fromkeys(key[i] for key in (c.key for c in cells))) for i in range(4)]
    product = {(t, m, b, s) for t in axes[0] for m in axes[1] for b in axes[2] for s in axes[3]}
    if merged and product == {c.key for c in cells} and len({c.observations for c in cells}) == 1:
        tasks, methods, budgets, seeds = axes
        return [
            Grid(
                tasks=tasks,
                methods=methods,
                budgets=budgets,
                seeds=seeds,
                observations=cells[0].observations,
                settings={m: settings[m] for m in methods},
            )
        ]
    return [
        Grid(
            tasks=(cell.task,),
            methods=(cell.method,),
            budgets=(cell.budget,),
            seeds=(cell.seed,),
            observations=cell.observations,
            settings={cell.method: settings[cell.method]},
        )
        for cell in cells
    ]
