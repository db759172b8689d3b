"""The safe store: concurrent writers, damaged files, claims."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from toys import ToyGaussian

from fmbench.run.results import Cell, ResultRow, assemble, merge_rows, read_cell, read_table
from fmbench.run.simulations import CHUNK, SimulationCache, SimulationError
from fmbench.run.store import Claim, DamagedFileError, is_claimed, load_torch, save_torch, write_atomic

PLUGIN = str(Path(__file__).parent / "toy_plugin.py")
CELL = Cell("toy_gaussian", "toy_exact", 100, 1, "abc")


def _add_rows(out: str, observations: list[int]) -> None:
    for i in observations:
        row = ResultRow("toy_gaussian", "toy_exact", 100, 1, i, c2st=0.5, timestamp="t")
        merge_rows(CELL, Path(out), [row])


def _fmbench_run(out: Path, observations: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "fmbench.cli", "--plugin", PLUGIN, "run", "--tasks", "toy_gaussian"]
    command += ["--methods", "toy_slow", "toy_exact", "--budgets", "100", "--num-samples", "300"]
    command += ["--coverage-pairs", "10", "--coverage-samples", "50", "--threads", "1", "--no-progress"]
    return subprocess.Popen([*command, "--observations", observations, "--out", str(out)])


def test_four_runs_on_one_folder_with_overlapping_grids_lose_and_duplicate_nothing(tmp_path) -> None:
    # (before the store merged rows under a lock, two runs with observations 1-2 and 3-4 left 2 of 4 rows)
    runs = [_fmbench_run(tmp_path, spec) for spec in ("1-4", "3-6", "5-8", "7-10")]
    assert [run.wait(300) for run in runs] == [0, 0, 0, 0]
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 20 and not table.duplicated(["method", "observation"]).any()
    assert (table.status == "ok").all()
    assert len(pd.read_csv(tmp_path / "coverage.csv")) == 20  # each fit calibrated once


def test_four_processes_adding_rows_to_one_cell_lose_none(tmp_path) -> None:
    context = multiprocessing.get_context("spawn")
    parts = [[1, 5, 9], [2, 6, 10], [3, 7], [4, 8]]
    workers = [context.Process(target=_add_rows, args=(str(tmp_path), part)) for part in parts]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert sorted(r.observation for r in read_cell(CELL, tmp_path)) == list(range(1, 11))
    assert len(assemble(tmp_path)) == 10


def test_a_truncated_cell_line_is_left_out_and_named(tmp_path, capsys) -> None:
    _add_rows(str(tmp_path), [1, 2, 3])
    path = CELL.path(tmp_path)
    text = path.read_text()
    path.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 40])  # the third row cut short
    assert [r.observation for r in read_cell(CELL, tmp_path)] == [1, 2]
    assert str(path) in capsys.readouterr().err
    assert len(assemble(tmp_path)) == 2


def test_a_results_file_that_is_not_a_table_is_refused_with_its_path(tmp_path) -> None:
    path = tmp_path / "results.csv"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(DamagedFileError, match=str(path)):
        read_table(path)


def test_a_truncated_torch_file_raises_with_its_path(tmp_path) -> None:
    path = tmp_path / "a.pt"
    save_torch({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DamagedFileError, match="a.pt"):
        load_torch(path, weights_only=True)


def test_damaged_and_short_simulation_chunks_are_simulated_again(tmp_path, capsys) -> None:
    task, cache = ToyGaussian(), SimulationCache(tmp_path)
    first = cache.get(task, 1, 2 * CHUNK)
    chunk0 = next(tmp_path.rglob("chunk00000.pt"))
    chunk0.write_bytes(chunk0.read_bytes()[:200])  # truncated
    chunk1 = next(tmp_path.rglob("chunk00001.pt"))
    torch.save({"theta": first.theta[:500], "x": first.x[:500]}, chunk1)  # valid but half a chunk
    again = cache.get(task, 1, 2 * CHUNK)
    assert torch.equal(first.theta, again.theta) and torch.equal(first.x, again.x)
    err = capsys.readouterr().err
    assert str(chunk0) in err and str(chunk1) in err and "expected (1000, 2)" in err


def test_a_task_whose_simulations_all_fail_says_so(tmp_path) -> None:
    from toys import ToyAllNan

    with pytest.raises(SimulationError, match="all 10 simulations of task 'toy_all_nan'"):
        SimulationCache(tmp_path).get(ToyAllNan(), 1, 10)


def test_a_claim_is_exclusive_and_freed_when_its_process_dies(tmp_path) -> None:
    path = tmp_path / "claims" / "job.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from fmbench.run.store import Claim; c = Claim({str(path)!r}); c.acquire(); "
            "print('held', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    assert is_claimed(path) and not Claim(path).acquire()
    holder.kill()
    holder.wait()
    with Claim(path) as claim:
        assert claim.acquire()


def test_a_damaged_coverage_file_is_named_and_calibrated_again(tmp_path, capsys) -> None:
    from fmbench.coverage import read_coverage

    path = tmp_path / "coverage" / "x.csv"
    path.parent.mkdir(parents=True)
    path.write_text("pair,rank\n0,0.5\n1,7\n")
    assert read_coverage(path) is None and not path.exists()
    assert str(path) in capsys.readouterr().err


def test_a_stored_file_gets_the_permissions_open_would_give(tmp_path) -> None:
    path = tmp_path / "cell.csv"
    write_atomic(path, lambda tmp: Path(tmp).write_text("a\n1\n"))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask and path.read_text() == "a\n1\n"


def test_whole_numbers_stay_whole_beside_a_failed_row(tmp_path) -> None:
    # (a failed row's blank epochs once turned the cell's epochs, and then every cell's in results.csv,
    # into 133.0)
    ok = ResultRow("toy_gaussian", "toy_exact", 100, 1, 1, c2st=0.5, epochs=133, num_parameters=9)
    failed = ResultRow("toy_gaussian", "toy_exact", 100, 1, 2, status="failed", error="diverged")
    merge_rows(CELL, tmp_path, [ok, failed])
    merge_rows(CELL, tmp_path, [])  # read back and written again
    assemble(tmp_path)
    for path in (CELL.path(tmp_path), tmp_path / "results.csv"):
        line = path.read_text().splitlines()[1].split(",")
        assert "133" in line and "133.0" not in line and "9" in line, path
    assert read_cell(CELL, tmp_path)[0].epochs == 133
