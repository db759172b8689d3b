"""The tidy results table: one row per (task, method, budget, seed, observation).

Rows of one fit (a *cell*: task, method, budget, seed, method settings) are kept in their own CSV file
under ``OUT/cells/``, rewritten atomically after every observation; ``OUT/results.csv`` is the
concatenation of all cell files, rebuilt after every cell. A run killed at any point therefore loses at
most the observation in progress, never duplicates a row, and resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RESULTS_FILE = "results.csv"
CELLS_DIR = "cells"


@dataclass
class ResultRow:
    """One row of the results table. Metrics a method or run did not produce stay ``None``."""

    task: str
    method: str
    budget: int
    seed: int
    observation: int
    status: str = "ok"  # "ok" or "failed"
    error: str = ""
    c2st: float | None = None
    c2st_backend: str = ""
    mmd: float | None = None
    nltp: float | None = None
    rejected_fraction: float | None = None
    num_invalid_simulations: int | None = None
    fit_s: float | None = None
    sample_s: float | None = None
    epochs: int | None = None
    num_parameters: int | None = None
    passes_per_sample: float | None = None
    log_prob_s: float | None = None
    peak_memory_mb: float | None = None
    num_samples: int | None = None
    method_config_hash: str = ""
    method_config: str = ""
    metric_conventions: str = ""
    fmbench_version: str = ""
    git_revision: str = ""
    torch_version: str = ""
    sbi_version: str = ""
    device: str = ""
    timestamp: str = ""


COLUMNS = [f.name for f in dataclasses.fields(ResultRow)]
KEY = ["task", "method", "budget", "seed", "observation"]


@dataclass(frozen=True)
class Cell:
    """One fit: a method with its settings, on a task's budget and seed."""

    task: str
    method: str
    budget: int
    seed: int
    config_hash: str

    def path(self, out: Path) -> Path:
        """The cell's rows file under ``out``."""
        name = f"budget{self.budget}_seed{self.seed}_{self.config_hash}"
        return out / CELLS_DIR / self.task / self.method / f"{name}.csv"

    def fit_path(self, out: Path) -> Path:
        """Where the cell's fitted posterior is kept for resuming."""
        return self.path(out).with_suffix(".fit.pt")


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Writes ``frame`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_cell(cell: Cell, out: Path) -> list[ResultRow]:
    """The rows already written for ``cell`` (empty if none)."""
    path = cell.path(out)
    if not path.exists():
        return []
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return [ResultRow(**_clean(record)) for record in frame.to_dict("records")]


def _clean(record: dict) -> dict:
    known = set(COLUMNS)
    return {k: (None if pd.isna(v) else v) for k, v in record.items() if k in known}


def write_cell(cell: Cell, out: Path, rows: list[ResultRow]) -> None:
    """Replaces the rows of ``cell``, sorted by observation."""
    rows = sorted(rows, key=lambda r: r.observation)
    write_csv_atomic(pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=COLUMNS), cell.path(out))


def assemble(out: Path) -> pd.DataFrame:
    """Rebuilds ``out/results.csv`` from all cell files and returns it."""
    files = sorted((out / CELLS_DIR).glob("*/*/*.csv"))
    frames = [pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in files]
    frames = [f for f in frames if not f.empty]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    table = table.sort_values(KEY, kind="stable").reset_index(drop=True)
    write_csv_atomic(table, out / RESULTS_FILE)
    return table


def load_results(path: Path) -> pd.DataFrame:
    """Reads a results table, from ``path`` itself or from ``path/results.csv`` (rebuilt from cells)."""
    path = Path(path)
    if path.is_dir():
        if (path / CELLS_DIR).is_dir():
            return assemble(path)
        path = path / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no results table at {path}")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])
