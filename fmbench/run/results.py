"""The tidy results table: one row per (task, method, budget, seed, observation).

Rows of one fit (a *cell*: task, method, budget, seed, method settings) are kept in their own CSV file
under ``OUT/cells/``. A job adds its rows by :func:`merge_rows`: under the cell's lock it reads the file,
replaces the rows of the same observations and writes the file atomically (:mod:`fmbench.run.store`), so any
number of workers and runs can add rows to one cell without losing one. ``OUT/results.csv`` is the
concatenation of all cell files, rebuilt under its own lock. A run killed at any point therefore loses at
most the observations in progress, never duplicates a row, and resumes where it stopped.

Reading checks every line: a line with the wrong number of fields, a malformed key or status, or an ``ok``
row without a C2ST (a torn or hand-damaged file) is reported with the file's path and left out, so that
its observation is recomputed rather than trusted.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmbench.run.store import DamagedFileError, locked, write_atomic

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
    fit_id: str = ""  # which fit made the row: see fmbench.run.identity
    passes_per_sample: float | None = None
    log_prob_s: float | None = None
    c2st_s: float | None = None
    mmd_s: float | None = None
    nltp_s: float | None = None
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
    cpu: str = ""
    timestamp: str = ""


COLUMNS = [f.name for f in dataclasses.fields(ResultRow)]
#: The columns that hold whole numbers: written as such even where a failed row leaves them blank.
INTEGER_COLUMNS = [f.name for f in dataclasses.fields(ResultRow) if str(f.type).startswith("int")]
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
        """Where the cell's fitted posterior is kept (written atomically; read by evaluation jobs)."""
        return self.path(out).with_suffix(".fit.pt")

    @property
    def name(self) -> str:
        """A file-name-safe identifier of the cell, unique within an output folder."""
        return f"{self.task}.{self.method}.budget{self.budget}_seed{self.seed}_{self.config_hash}"


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Writes ``frame`` to ``path`` through a temporary file and a rename."""
    write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def _whole(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its :data:`INTEGER_COLUMNS` as nullable integers, so that a column a blank turned
    into floats is written ``133``, not ``133.0``."""
    frame = frame.copy()
    for column in [c for c in INTEGER_COLUMNS if c in frame.columns]:
        try:
            frame[column] = frame[column].astype("Int64")
        except (TypeError, ValueError):  # not whole numbers after all: written as they are
            pass
    return frame


def read_table(path: Path) -> pd.DataFrame:
    """Reads a results CSV written by this module, leaving out (and reporting, with the path) every
    damaged line; raises :class:`DamagedFileError` when even the header is unusable."""
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError as err:
        raise DamagedFileError(Path(path), f"not text ({err})") from None
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        raise DamagedFileError(Path(path), "empty, without even a header")
    header = lines[0]
    if not set(KEY) <= set(header) or "status" not in header:
        raise DamagedFileError(Path(path), f"its header is not a results header: {','.join(header)[:80]}")
    complete = text.endswith("\n")
    good, bad = [], []
    for number, fields in enumerate(lines[1:], start=2):
        last = number == len(lines)
        if (
            len(fields) == len(header)
            and (complete or not last)
            and _valid(dict(zip(header, fields, strict=True)))
        ):
            good.append(fields)
        else:
            bad.append(number)
    if bad:
        print(
            f"fmbench: damaged file {path}: line(s) {', '.join(map(str, bad))} left out; their rows will "
            "be recomputed",
            file=sys.stderr,
        )
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *good])
    buffer.seek(0)
    return pd.read_csv(buffer, keep_default_na=False, na_values=[""])


def _valid(row: dict[str, str]) -> bool:
    try:
        keys_ok = all(int(row[k]) >= 0 for k in ("budget", "seed", "observation"))
    except ValueError:
        return False
    if not (keys_ok and row["task"] and row["method"] and row["status"] in ("ok", "failed")):
        return False
    if row["status"] == "failed":
        return True
    try:
        c2st = float(row.get("c2st", ""))
    except ValueError:
        return False
    return math.isfinite(c2st) and 0.0 <= c2st <= 1.0


def read_cell(cell: Cell, out: Path) -> list[ResultRow]:
    """The rows already written for ``cell`` (empty if none); damaged lines are left out."""
    path = cell.path(out)
    if not path.exists():
        return []
    try:
        frame = read_table(path)
    except DamagedFileError as err:
        print(f"fmbench: {err}; its rows will be recomputed", file=sys.stderr)
        return []
    return [ResultRow(**_clean(record)) for record in frame.to_dict("records")]


def _clean(record: dict) -> dict:
    known = set(COLUMNS)
    return {k: (None if pd.isna(v) else v) for k, v in record.items() if k in known}


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def merge_rows(cell: Cell, out: Path, rows: list[ResultRow]) -> None:
    """Adds ``rows`` to ``cell``'s file, replacing rows of the same observations, under the cell's lock
    (so concurrent jobs on one cell never lose each other's rows)."""
    path = cell.path(out)
    with locked(_lock_path(path)):
        merged = {r.observation: r for r in read_cell(cell, out)}
        merged.update({r.observation: r for r in rows})
        ordered = sorted(merged.values(), key=lambda r: r.observation)
        frame = pd.DataFrame([dataclasses.asdict(r) for r in ordered], columns=COLUMNS)
        write_csv_atomic(_whole(frame), path)


def assemble(out: Path) -> pd.DataFrame:
    """Rebuilds ``out/results.csv`` from all cell files (under its lock) and returns it."""
    files = sorted((out / CELLS_DIR).glob("*/*/*.csv"))
    with locked(_lock_path(out / RESULTS_FILE)):
        frames = []
        for file in files:
            try:
                frames.append(read_table(file))
            except DamagedFileError as err:
                print(f"fmbench: {err}; left out of the table", file=sys.stderr)
        frames = [f for f in frames if not f.empty]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
        table = table.sort_values(KEY, kind="stable").reset_index(drop=True)
        write_csv_atomic(_whole(table), out / RESULTS_FILE)
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
    return read_table(path)
