"""Several result folders, one leaderboard: a new method beside ours, conflicts flagged, never averaged."""

from __future__ import annotations

import pandas as pd

from fmbench.cli import main
from fmbench.report.merge import merge_results
from fmbench.run.results import COLUMNS


def _rows(method: str, c2st: float, config_hash: str, budgets=(1000,), observations=(1, 2)) -> pd.DataFrame:
    rows = [
        {
            "task": "two_moons",
            "method": method,
            "budget": budget,
            "seed": 1,
            "observation": obs,
            "status": "ok",
            "c2st": c2st + 0.01 * obs,
            "c2st_backend": "torch",
            "fit_s": 1.0,
            "method_config_hash": config_hash,
            "method_config": '{"width": 1}',
            "metric_conventions": "sbibm",
        }
        for budget in budgets
        for obs in observations
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _folder(path, *frames) -> str:
    path.mkdir()
    pd.concat(frames, ignore_index=True).to_csv(path / "results.csv", index=False)
    return str(path)


def test_a_new_method_stands_beside_ours_on_the_same_cells(tmp_path, capsys) -> None:
    ours = _folder(tmp_path / "paper", _rows("npe_nsf", 0.70, "a"), _rows("fmpe", 0.60, "b"))
    mine = _folder(tmp_path / "mine", _rows("zuko_npe", 0.55, "z"))
    assert main(["report", mine, ours]) == 0
    board = (tmp_path / "mine" / "leaderboard.md").read_text()
    assert "| task | budget | fmpe | npe_nsf | zuko_npe | sbibm NPE (published) |" in board
    assert (
        "| two_moons | 1,000 | 0.615 (1×2, 1 seed) | 0.715 (1×2, 1 seed) | **0.565 (1×2, 1 seed)** | 0.725 |"
        in board
    )
    assert "different settings" not in board
    assert (tmp_path / "mine" / "c2st_vs_budget.png").exists()


def test_cells_with_different_settings_in_two_folders_are_flagged_not_averaged(tmp_path) -> None:
    ours = _folder(tmp_path / "paper", _rows("npe_nsf", 0.70, "a"))
    mine = _folder(tmp_path / "mine", _rows("npe_nsf", 0.90, "other"))
    assert main(["report", ours, mine, "--to", str(tmp_path / "report")]) == 0
    board = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "| npe_nsf | npe_nsf@mine |" in board
    assert "0.715 (1×2, 1 seed)" in board and "0.915 (1×2, 1 seed)" in board
    assert "- two_moons npe_nsf 1,000 seed 1: method_config_hash a (paper), other (mine)" in board


def test_the_same_rows_in_two_folders_count_once(tmp_path) -> None:
    ours = _folder(tmp_path / "paper", _rows("npe_nsf", 0.70, "a"))
    copy = _folder(
        tmp_path / "copy", _rows("npe_nsf", 0.70, "a"), _rows("npe_nsf", 0.70, "a", observations=(3,))
    )
    merged = merge_results([ours, copy])
    assert merged.duplicates == 2 and len(merged.rows) == 3 and merged.conflicts.empty
    assert list(merged.rows.source) == ["paper", "paper", "copy"]


def test_folders_with_one_name_get_distinct_sources(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _folder(tmp_path / "a" / "run", _rows("npe_nsf", 0.70, "a"))
    second = _folder(tmp_path / "b" / "run", _rows("npe_nsf", 0.80, "b"))
    merged = merge_results([first, second])
    assert set(merged.rows.method) == {"npe_nsf", "npe_nsf@run2"}


def test_a_missing_folder_exits_2(tmp_path, capsys) -> None:
    ours = _folder(tmp_path / "paper", _rows("npe_nsf", 0.70, "a"))
    assert main(["report", ours, str(tmp_path / "nowhere")]) == 2
    assert "no results table" in capsys.readouterr().err
