"""Several result folders, one table: how ``fmbench report OUT DIR...`` puts a new method beside ours.

The rows of every folder are stacked, with a ``source`` column naming the folder. Two kinds of overlap are
handled, never averaged silently:

- a cell (task, method, budget, seed) present in several folders **with different settings** (another
  ``method_config_hash``) is a *conflict*: the rows of every folder but the first that holds the cell are
  renamed ``METHOD@FOLDER``, so they get their own leaderboard column, and the report lists the conflict;
- the same row (cell, observation and settings) in several folders is a *duplicate*: the first folder's
  row is kept and the report says how many were dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmbench.run.results import KEY, load_results

CELL = ["task", "method", "budget", "seed"]


@dataclass(frozen=True)
class Merged:
    """The stacked rows, and what overlapped.

    Attributes:
        rows: The results table with a ``source`` column.
        conflicts: One row per conflicting cell: ``task, method, budget, seed, hashes`` (``hash (source)``
            pairs).
        duplicates: Rows dropped because an earlier folder holds the same row with the same settings.
        renamed: ``{(source, method, method_config_hash): new name}`` of the conflicting rows.
    """

    rows: pd.DataFrame
    conflicts: pd.DataFrame
    duplicates: int
    renamed: dict[tuple[str, str, str], str]


def source_names(paths: Sequence[Path]) -> list[str]:
    """A short distinct name per folder: its name, or its name and position where two names clash."""
    names = [Path(p).name if Path(p).is_dir() else Path(p).parent.name for p in paths]
    return [n if names.count(n) == 1 else f"{n}{i + 1}" for i, n in enumerate(names)]


def merge_results(paths: Sequence[Path]) -> Merged:
    """Stacks the results tables of ``paths`` (folders or CSV files), first folder first."""
    frames = [load_results(Path(p)).assign(source=s) for p, s in zip(paths, source_names(paths), strict=True)]
    rows = pd.concat(frames, ignore_index=True)
    rows["method_config_hash"] = rows["method_config_hash"].astype(str)
    before = len(rows)
    rows = rows.drop_duplicates([*KEY, "method_config_hash"], keep="first")
    duplicates = before - len(rows)
    conflicts, renamed = _conflicts(rows)
    for (source, method, config_hash), name in renamed.items():
        mask = (rows.source == source) & (rows.method == method) & (rows.method_config_hash == config_hash)
        rows.loc[mask, "method"] = name
    return Merged(rows.reset_index(drop=True), conflicts, duplicates, renamed)


def _conflicts(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str, str], str]]:
    found, renamed = [], {}
    for cell, part in rows.groupby(CELL, sort=True):
        holders = part.drop_duplicates("method_config_hash")[["method_config_hash", "source"]]
        if holders.source.nunique() < 2:  # several settings inside one folder: labelled by summary
            continue
        found.append(
            {
                **dict(zip(CELL, cell, strict=True)),
                "hashes": ", ".join(f"{h} ({s})" for h, s in holders.itertuples(index=False)),
            }
        )
        first = holders.source.iloc[0]
        for config_hash, source in holders.itertuples(index=False):
            if source != first:
                renamed[(source, cell[1], config_hash)] = f"{cell[1]}@{source}"
    return pd.DataFrame(found, columns=[*CELL, "hashes"]), renamed


def conflict_note(merged: Merged) -> str:
    """The leaderboard's note on conflicting cells and dropped duplicates ("" when there are none)."""
    lines = []
    if len(merged.conflicts):
        lines.append(
            "\nCells run with different settings in different folders (not averaged; the later folder's "
            "rows are the METHOD@FOLDER columns):\n"
        )
        lines += [
            f"- {r.task} {r.method} {r.budget:,} seed {r.seed}: method_config_hash {r.hashes}"
            for r in merged.conflicts.itertuples(index=False)
        ]
    if merged.duplicates:
        lines.append(
            f"\n{merged.duplicates} row(s) found in several folders with the same settings: kept once."
        )
    return "\n".join(lines) + ("\n" if lines else "")


def rename_coverage(
    coverage: pd.DataFrame, source: str, renamed: dict[tuple[str, str, str], str]
) -> pd.DataFrame:
    """``coverage`` (one folder's coverage table) with the methods of conflicting cells renamed."""
    if coverage.empty:
        return coverage
    coverage = coverage.assign(method_config_hash=coverage["method_config_hash"].astype(str))
    for (src, method, config_hash), name in renamed.items():
        if src == source:
            mask = (coverage.method == method) & (coverage.method_config_hash == config_hash)
            coverage.loc[mask, "method"] = name
    return coverage
