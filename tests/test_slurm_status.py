"""How fmbench reads a SLURM job's end and its cause (``fmbench.run.slurm``), with stand-in ``squeue`` and
``scontrol`` on the PATH: these run everywhere; ``tests/test_slurm.py`` runs against a real cluster."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from fmbench.run import slurm


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """``squeue`` prints the file ``queue``, ``scontrol`` the file ``job`` (exit 1 if it is missing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(f"#!/bin/sh\ncat {tmp_path / 'queue'}\n")
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\ncat {tmp_path / 'job'} 2>/dev/null || exit 1\n")
    (bin_dir / "sacct").write_text("#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2; exit 1\n")
    for name in ("squeue", "scontrol", "sacct"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return tmp_path


def test_a_job_has_ended_once_squeue_no_longer_lists_it(fake_slurm) -> None:
    (fake_slurm / "queue").write_text("12_0\n12_1\n")
    queue = slurm.SlurmQueue(every_s=60.0)
    assert queue.holds("12_1", submitted_at=time.monotonic())
    (fake_slurm / "queue").write_text("12_0\n")
    assert queue.holds("12_1", submitted_at=0.0)  # an answer younger than every_s is reused
    assert not queue.holds("12_1", submitted_at=time.monotonic())  # read again after a submission


@pytest.mark.parametrize(
    ("fields", "log", "words"),
    [
        ("JobId=12 JobState=CANCELLED Reason=None", "", "was cancelled (scancel)"),
        ("JobId=12 JobState=TIMEOUT Reason=TimeLimit", "", "time limit"),
        (
            None,
            "slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-12-07T02:16:55 DUE TO TIME LIMIT ***",
            "time limit",
        ),
        (None, "srun: error: vm: task 0: Exited with exit code 3", "ended without a result: srun: error"),
        ("JobId=12 JobState=OUT_OF_MEMORY Reason=OutOfMemory", "", "mem_gb"),
    ],
)
def test_the_cause_of_an_ended_job_comes_from_scontrol_else_its_log(fake_slurm, fields, log, words) -> None:
    if fields:
        (fake_slurm / "job").write_text(fields + "\n")
    (fake_slurm / "log.err").write_text(log)
    assert words in slurm.ended_without_result("12", fake_slurm / "log.err")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ("JobState=COMPLETING Reason=TimeLimit RunTime=00:01:21 TimeLimit=00:01:00", "time limit"),
        ("JobState=COMPLETING Reason=None RunTime=00:01:00 TimeLimit=00:01:00", "time limit"),
        ("JobState=COMPLETING Reason=None RunTime=00:00:06 TimeLimit=1-00:00:00", "cancelled"),
    ],
)
def test_a_sigterm_inside_a_job_becomes_a_failure_naming_its_cause(fake_slurm, monkeypatch, fields, words):
    (fake_slurm / "job").write_text(f"JobId=13 ArrayJobId=12 ArrayTaskId=1 {fields}\n")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "12")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(slurm.StoppedBySlurm, match=f"its SLURM job 12_1 .*{words}"):
        with slurm.stop_on_signals():
            os.kill(os.getpid(), signal.SIGUSR2)  # the time-limit warning: ignored
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before  # put back


def test_a_short_time_limit_is_not_warned_of_at_its_start() -> None:
    assert slurm.signal_delay_s(24 * 60) == 90
    assert slurm.signal_delay_s(1) == 6
