"""Which kept posterior draws (:mod:`fmbench.run.draws`) the site can draw, per leaderboard column.

A leaderboard column is a method label (:func:`fmbench.report.summary.method_labels`, or the
``METHOD@FOLDER`` name :mod:`fmbench.report.merge` gives conflicting cells); its draws are under the
folder its rows came from, by the method's own name. Of a (task, label, budget, observation), the
lowest seed with a readable file is drawn.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fmbench.run.draws import KEPT_OBSERVATIONS, draws_path
from fmbench.run.results import Cell

#: Columns of :func:`kept_draws_index`.
COLUMNS = ["task", "method", "budget", "observation", "seed", "path"]


def kept_draws_index(rows: pd.DataFrame) -> pd.DataFrame:
    """The kept draws files of ``rows``, one per (task, method label, budget, observation).

    Args:
        rows: Result rows with ``label`` (the leaderboard column), ``run_method`` (the method's name in
            its folder), ``folder`` (the run folder as a :class:`~pathlib.Path`), and the usual ``task``,
            ``budget``, ``seed``, ``observation``, ``status`` and ``method_config_hash``.

    Returns:
        Columns :data:`COLUMNS`; only files that exist; the lowest seed of each key.
    """
    kept = rows[(rows.status == "ok") & rows.observation.isin(KEPT_OBSERVATIONS)]
    keys = ["task", "label", "run_method", "budget", "seed", "observation", "method_config_hash", "folder"]
    found = []
    for task, label, method, budget, seed, obs, config_hash, folder in (
        kept[keys].drop_duplicates().to_numpy()
    ):
        cell = Cell(str(task), str(method), int(budget), int(seed), str(config_hash))
        path = draws_path(cell, Path(folder), int(obs))
        if path.exists():
            found.append((task, label, int(budget), int(obs), int(seed), path))
    table = pd.DataFrame(found, columns=COLUMNS)
    table = table.sort_values(["task", "method", "budget", "observation", "seed"])
    return table.drop_duplicates(["task", "method", "budget", "observation"]).reset_index(drop=True)


def draws_size(folders: list[Path]) -> tuple[int, int]:
    """``(files, bytes)`` of every kept draws file under ``folders``."""
    files = [f for folder in folders for f in (Path(folder) / "draws").rglob("*.npy")]
    return len(files), sum(f.stat().st_size for f in files)
