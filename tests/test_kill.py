"""A grid killed (SIGKILL, the whole process group) at ten random moments and re-run after each ends with
the same table as an uninterrupted run: one ok row per key, the same metrics to the bit (CPU)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

PLUGIN = str(Path(__file__).parent / "toy_plugin.py")
KEY = ["task", "method", "budget", "seed", "observation"]
METRICS = [*KEY, "status", "c2st", "mmd", "nltp", "rejected_fraction", "method_config_hash"]


def _command(out: Path, jobs: int) -> list[str]:
    return [
        sys.executable, "-m", "fmbench.cli", "--plugin", PLUGIN, "run",
        "--tasks", "toy_gaussian", "--methods", "toy_exact", "toy_slow", "--budgets", "200", "3000",
        "--observations", "1-3", "--num-samples", "400", "--coverage-pairs", "30",
        "--coverage-samples", "200", "--threads", "1", "--jobs", str(jobs), "--no-progress",
        "--report", "--out", str(out),
    ]  # fmt: skip


def _start(out: Path, jobs: int) -> subprocess.Popen:
    return subprocess.Popen(
        _command(out, jobs), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_a_grid_killed_ten_times_ends_as_an_uninterrupted_run(tmp_path) -> None:
    start = time.perf_counter()
    assert _start(tmp_path / "whole", 1).wait(300) == 0
    duration = time.perf_counter() - start
    rng = random.Random(0)
    killed = tmp_path / "killed"
    for attempt in range(10):
        run = _start(killed, 1 + attempt % 2)  # every other attempt with two worker processes
        time.sleep(rng.uniform(0.2, 1.0) * duration)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(60)
    assert _start(killed, 1).wait(300) == 0
    whole = pd.read_csv(tmp_path / "whole" / "results.csv")[METRICS]
    after = pd.read_csv(killed / "results.csv")[METRICS]
    assert not after.duplicated(KEY).any() and (after.status == "ok").all() and len(after) == 12
    pd.testing.assert_frame_equal(after, whole, check_exact=True)
    ranks = [
        pd.read_csv(f / "coverage.csv").sort_values(["budget", "method", "pair"])
        for f in (killed, tmp_path / "whole")
    ]
    assert ranks[0]["rank"].tolist() == ranks[1]["rank"].tolist()
    assert (killed / "leaderboard.md").exists()


_POOL_WHOSE_PARENT_IS_KILLED = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from fmbench.run.executors import _init_worker
pool = ProcessPoolExecutor(
    1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(None, os.getpid())
)
print(pool.submit(os.getpid).result(), flush=True)
pool.submit(time.sleep, 120)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_a_worker_ends_itself_when_the_run_that_started_it_is_killed() -> None:
    if not Path("/proc/self/stat").exists():
        import pytest

        pytest.skip("needs /proc")
    parent = subprocess.Popen(
        [sys.executable, "-c", _POOL_WHOSE_PARENT_IS_KILLED], stdout=subprocess.PIPE, text=True
    )
    worker = int(parent.stdout.readline())  # the worker is now in a 120 s job
    assert _alive(worker)
    parent.kill()  # SIGKILL to the parent alone: it cannot stop its pool
    parent.wait(10)
    deadline = time.monotonic() + 15
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)
