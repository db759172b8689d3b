"""What fmbench asks SLURM itself, besides submitting through submitit.

submitit learns that a job has ended from its result file or from ``sacct``. On a cluster without an
accounting database (``AccountingStorageType=accounting_storage/none``, common on small clusters)
``sacct`` fails, so a job that ends without a result file (cancelled, killed at its time limit or for
its memory, its node lost) would be waited for forever. fmbench asks ``squeue``, which every cluster
answers: a job that SLURM no longer holds has ended (:class:`SlurmQueue`), and
:func:`ended_without_result` says why, from ``scontrol``, else ``sacct``, else the job's log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fmbench.run.jobs import Job, JobOutcome, WorkerSetup, run_job

#: Seconds any SLURM command may take before fmbench gives up on its answer.
COMMAND_TIMEOUT_S = 30.0

#: What a job's final SLURM state says about why it ended without a result.
CAUSES = {
    "TIMEOUT": "was killed by SLURM's time limit (raise it with --slurm timeout_min=...)",
    "CANCELLED": "was cancelled (scancel)",
    "OUT_OF_MEMORY": "was killed for exceeding its memory (raise it with --slurm mem_gb=...)",
    "NODE_FAIL": "was lost with its node (NODE_FAIL)",
    "PREEMPTED": "was preempted",
    "BOOT_FAIL": "could not start: its node failed to boot (BOOT_FAIL)",
    "DEADLINE": "passed its deadline",
}

#: The line slurmstepd writes into a job's log when it kills the job, and the state it means.
_LOG_CAUSES = (("DUE TO TIME LIMIT", "TIMEOUT"), ("CANCELLED AT", "CANCELLED"), ("oom-kill", "OUT_OF_MEMORY"))


def _slurm(*args: str, shielded: bool = False) -> str | None:
    """The output of a SLURM command, or ``None`` if it failed or did not answer in time. ``shielded``:
    the command starts with ``SIGTERM`` blocked (inside a job that SLURM is stopping, SLURM sends it to
    every process of the job, the command too)."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}) if shielded else None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return done.stdout if done.returncode == 0 else None


class SlurmQueue:
    """The jobs SLURM still holds (pending, running, completing, ...), read with one ``squeue`` for all
    of this user's jobs at most every ``every_s`` seconds.

    Args:
        every_s: The longest an answer is reused.
    """

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self._ids: set[str] | None = None
        self._read_at = float("-inf")

    def holds(self, job_id: str, submitted_at: float) -> bool:
        """Whether SLURM still holds ``job_id`` (``"12"`` or an array task ``"12_3"``), from an answer
        read after ``submitted_at`` (``time.monotonic()``); ``True`` while ``squeue`` does not answer."""
        now = time.monotonic()
        if self._read_at < submitted_at or now - self._read_at > self.every_s:
            self._read_at = now
            self._ids = self._read()
        return self._ids is None or job_id in self._ids

    @staticmethod
    def _read() -> set[str] | None:
        user = os.environ.get("USER") or str(os.getuid())
        out = _slurm("squeue", "--noheader", "--array", "--format=%i", f"--user={user}")
        return None if out is None else {line.strip() for line in out.splitlines() if line.strip()}


def job_fields(job_id: str, shielded: bool = False) -> dict[str, str]:
    """``scontrol show job``'s fields of ``job_id`` (``JobState``, ``Reason``, ``RunTime``, ...); SLURM
    keeps an ended job for ``MinJobAge`` seconds (300 by default); empty if it does not know the job."""
    out = _slurm("scontrol", "--oneliner", "show", "job", job_id, shielded=shielded) or ""
    return dict(re.findall(r"\b(\w+)=(\S*)", out.splitlines()[0] if out.strip() else ""))


def final_state(job_id: str) -> str | None:
    """The state of an ended job (``"TIMEOUT"``, ``"CANCELLED"``, ...) from ``scontrol``, else ``sacct``
    (where the cluster keeps accounts); ``None`` if neither knows it."""
    state = job_fields(job_id).get("JobState")
    if state:
        return state
    out = _slurm("sacct", "--noheader", "--parsable2", "--allocations", "--format=State", f"--jobs={job_id}")
    states = [line.split()[0] for line in (out or "").splitlines() if line.strip()]
    return states[-1] if states else None


def _seconds(duration: str) -> int | None:
    """Seconds of a SLURM duration, ``[days-]hours:minutes:seconds`` (``None`` for ``UNLIMITED``)."""
    match = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", duration)
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def state_in_log(log: Path) -> str | None:
    """The state slurmstepd's kill line in a job's log names (``*** JOB 12 ON node CANCELLED AT ...
    DUE TO TIME LIMIT ***``), or ``None``."""
    try:
        text = log.read_text(errors="replace")[-20_000:]
    except OSError:
        return None
    for words, state in _LOG_CAUSES:
        if words in text:
            return state
    return None


def ended_without_result(job_id: str, log: Path, state: str | None = None) -> str:
    """Why the SLURM job ``job_id`` ended without a result, in words (``"was cancelled (scancel)"``);
    ``state``: its final state if already known."""
    state = state or final_state(job_id)
    if state not in CAUSES:
        state = state_in_log(log) or state
    if state in CAUSES:
        return CAUSES[state]
    said = f" (SLURM state {state})" if state else ""
    last = _last_line(log)
    return f"ended without a result{said}" + (f": {last}" if last else "")


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


class StoppedBySlurm(Exception):
    """SLURM signalled the job to stop (its time limit is near or reached, it was cancelled)."""


def own_job_id() -> str:
    """This SLURM job's id as squeue writes it (``"12"``, or ``"12_3"`` for an array task)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "?")


def stop_message(job_id: str) -> str:
    """Why SLURM sent ``SIGTERM`` to the running job ``job_id``. SLURM shows such a job as
    ``COMPLETING``; one with ``Reason=TimeLimit``, or that has run its whole time limit, is taken to be
    stopped by it, another one to be cancelled (or preempted)."""
    fields = job_fields(job_id, shielded=True)
    state = fields.get("JobState")
    if state not in CAUSES:
        run, limit = _seconds(fields.get("RunTime", "")), _seconds(fields.get("TimeLimit", ""))
        over = run is not None and limit is not None and run >= limit
        state = "TIMEOUT" if fields.get("Reason") == "TimeLimit" or over else "CANCELLED"
    cause = CAUSES[state] if state != "CANCELLED" else "was cancelled (scancel) or preempted"
    return f"its SLURM job {job_id} {cause}"


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: SLURM's ``SIGTERM`` (scancel, the time limit, preemption) raises :class:`StoppedBySlurm`
    once, with the cause, so that the job records its failure in the ``KillWait`` seconds before SLURM
    kills it; ``SIGUSR2``, submitit's warning that the time limit is near (sent up to 30 s earlier than
    asked), is ignored, so that the job uses all its time. submitit's own handlers (which requeue
    checkpointable jobs, as fmbench's are not, and ignore SIGTERM) are put back after."""
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise StoppedBySlurm(stop_message(own_job_id()))

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
    previous[signal.SIGUSR2] = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_slurm_job(job: Job, setup: WorkerSetup) -> JobOutcome:
    """:func:`fmbench.run.jobs.run_job` in a SLURM job (what :class:`fmbench.run.executors.SubmititExecutor`
    submits there): a stop signal from SLURM becomes the job's recorded failure."""
    with stop_on_signals():
        return run_job(job, setup)


def signal_delay_s(timeout_min: float) -> int:
    """Seconds before the time limit that SLURM warns a job (``SIGUSR2``, sent up to 30 s earlier still):
    submitit's 90 s, but at most a tenth of the limit, so that a short limit does not warn a job as it
    starts (submitit's handler, which acts until fmbench's code runs, would end it as timed out)."""
    return int(max(1, min(90, timeout_min * 60 / 10)))
