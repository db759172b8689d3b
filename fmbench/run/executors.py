"""Where jobs run: in this process, in local worker processes, or through submitit (locally or on SLURM).

Every executor runs :func:`fmbench.run.jobs.run_job` and hands back a :class:`Handle` per job; the runner
(:mod:`fmbench.run.runner`) decides what to submit when. No executor schedules anything of its own:

- :class:`SerialExecutor`: one job at a time in this process (``--jobs 1``, the default).
- :class:`ProcessExecutor`: the standard library's process pool, ``--jobs N`` workers (spawned, each with
  its own torch threads). With CUDA, one pool per visible GPU with ``--jobs-per-gpu K`` workers, each
  pool pinned to its GPU through ``CUDA_VISIBLE_DEVICES``; jobs kept on CPU go to a CPU pool.
- :class:`SubmititExecutor`: submitit's executors, ``local`` (one subprocess per job, ``--jobs N`` at a
  time) or ``slurm`` (the jobs submitted together as one SLURM job array, logs under ``OUT/logs``).

A worker that dies abruptly (killed, out of memory, ``os._exit``) raises :class:`WorkerDied` from
:meth:`Handle.outcome`. submitit runs each job in its own process, so the death names its job; a process
pool breaks as a whole, so the runner retries the jobs that were in flight, each alone, to find which.
A pool's workers end themselves when the process that started them is gone (killed by a signal it could
not act on, e.g. ``kill PID``), instead of running on as orphans; what they had finished is kept.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fmbench.run.jobs import Job, JobOutcome, WorkerSetup, run_job
from fmbench.run.slurm import (
    SlurmQueue,
    StoppedBySlurm,
    ended_without_result,
    final_state,
    run_slurm_job,
    signal_delay_s,
)

#: The executors ``--executor`` accepts.
EXECUTORS = ("serial", "process", "local", "slurm")


class WorkerDied(RuntimeError):
    """The process running a job died without returning.

    Attributes:
        attributable: Whether the death is known to be this job's (else it may be a pool neighbour's).
    """

    def __init__(self, message: str, attributable: bool) -> None:
        super().__init__(message)
        self.attributable = attributable


class Handle(ABC):
    """A submitted job."""

    def __init__(self, job: Job) -> None:
        self.job = job

    @abstractmethod
    def done(self) -> bool:
        """Whether the job has ended (returned, failed or died)."""

    @abstractmethod
    def outcome(self) -> JobOutcome:
        """The job's outcome; raises :class:`WorkerDied` if its process died."""


class Executor(ABC):
    """Runs jobs somewhere; :meth:`free` says whether one more of a kind of job can start now."""

    @abstractmethod
    def free(self, job: Job, pending: list[Job]) -> bool:
        """Whether ``job`` can start now besides the jobs in flight and ``pending`` (jobs of the same
        device about to be submitted with it) without exceeding the executor's workers."""

    @abstractmethod
    def submit(self, jobs: list[Job]) -> list[Handle]:
        """Submits ``jobs`` together (one SLURM array where that applies)."""

    def close(self) -> None:  # noqa: B027 - most executors hold nothing to release
        """Releases the workers."""


class _Ready(Handle):
    def __init__(self, job: Job, outcome: JobOutcome) -> None:
        super().__init__(job)
        self._outcome = outcome

    def done(self) -> bool:
        return True

    def outcome(self) -> JobOutcome:
        return self._outcome


class SerialExecutor(Executor):
    """Runs each job in this process when it is submitted."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup

    def free(self, job: Job, pending: list[Job]) -> bool:
        return not pending

    def submit(self, jobs: list[Job]) -> list[Handle]:
        return [_Ready(job, run_job(job, self.setup)) for job in jobs]


class _FutureHandle(Handle):
    def __init__(self, job: Job, future: Future, pool: _Pool) -> None:
        super().__init__(job)
        self.future = future
        self.pool = pool

    def done(self) -> bool:
        return self.future.done()

    def outcome(self) -> JobOutcome:
        try:
            return self.future.result()
        except BrokenProcessPool:
            raise WorkerDied(
                "its worker process died abruptly (killed, out of memory, or os._exit)", attributable=False
            ) from None


def visible_gpus() -> tuple[str, ...]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (all, if it is unset)."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = [v.strip() for v in visible.split(",") if v.strip()] if visible is not None else []
    return tuple(names) if visible is not None else tuple(str(i) for i in range(torch.cuda.device_count()))


def _init_worker(visible_devices: str | None, parent: int) -> None:
    if visible_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Ends this worker process once ``parent``, the process that started it, is gone (the worker then
    has another parent): a job in flight stops where it is, and the safe store keeps every file whole."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


class _Pool:
    """One process pool with its size, its GPU (if any) and its jobs in flight."""

    def __init__(self, size: int, visible_devices: str | None) -> None:
        self.size = size
        self.visible_devices = visible_devices
        self.running: list[_FutureHandle] = []
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.size,
            mp_context=multiprocessing.get_context("spawn"),  # fork is unsafe once torch has threads
            initializer=_init_worker,
            initargs=(self.visible_devices, os.getpid()),
        )

    def slots(self) -> int:
        self.running = [h for h in self.running if not h.done()]
        return self.size - len(self.running)

    def submit(self, job: Job, setup: WorkerSetup) -> _FutureHandle:
        try:
            future = self._pool.submit(run_job, job, setup)
        except BrokenProcessPool:  # a worker died: its jobs in flight have failed, start a new pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
            future = self._pool.submit(run_job, job, setup)
        handle = _FutureHandle(job, future, self)
        self.running.append(handle)
        return handle

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ProcessExecutor(Executor):
    """Local worker processes: ``workers`` for CPU jobs, and ``jobs_per_gpu`` per GPU for CUDA jobs.

    Args:
        setup: What every worker needs.
        workers: Worker processes for jobs on CPU.
        gpus: The GPUs to use, as ``CUDA_VISIBLE_DEVICES`` names them (empty: none).
        jobs_per_gpu: Worker processes sharing each GPU.
    """

    def __init__(
        self, setup: WorkerSetup, workers: int, gpus: tuple[str, ...] = (), jobs_per_gpu: int = 1
    ) -> None:
        self.setup = setup
        self.cpu = _Pool(workers, None)
        self.gpu = [_Pool(jobs_per_gpu, g) for g in gpus]

    def _pools(self, job: Job) -> list[_Pool]:
        return self.gpu if job.device.startswith("cuda") and self.gpu else [self.cpu]

    def free(self, job: Job, pending: list[Job]) -> bool:
        return sum(pool.slots() for pool in self._pools(job)) > len(pending)

    def submit(self, jobs: list[Job]) -> list[Handle]:
        handles: list[Handle] = []
        for job in jobs:
            pool = max(self._pools(job), key=_Pool.slots)
            handles.append(pool.submit(job, self.setup))
        return handles

    def close(self) -> None:
        for pool in [self.cpu, *self.gpu]:
            pool.close()


class _SubmititHandle(Handle):
    def __init__(self, job: Job, submitted: Any) -> None:
        super().__init__(job)
        self.submitted = submitted

    def done(self) -> bool:
        return self.submitted.done()

    def outcome(self) -> JobOutcome:
        try:
            return self.submitted.result()
        except Exception as err:  # noqa: BLE001 - submitit's errors for a job that did not return
            # a FailedJobError holds a text, the job's traceback between dashed lines, where the logs are
            parts = str(err).split("-" * 22)
            text = parts[1] if len(parts) >= 3 else str(err)
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            last = lines[-1] if lines else type(err).__name__
            where = f"; log: {self.submitted.paths.stderr}"
            stopped = f"{StoppedBySlurm.__module__}.{StoppedBySlurm.__name__}: "
            if last.startswith(stopped):  # SLURM stopped it before fmbench's job had begun
                raise WorkerDied(last.removeprefix(stopped) + where, attributable=True) from None
            message = f"its job {self.submitted.job_id} ended without a result: {last}{where}"
            raise WorkerDied(message, attributable=True) from None


class _SlurmHandle(_SubmititHandle):
    """A SLURM job: ended once its result file exists or SLURM no longer holds it (asked with ``squeue``,
    not submitit's ``sacct``, which fails on a cluster without accounting and would leave a cancelled or
    killed job waited for forever).

    Args:
        job: The job.
        submitted: submitit's job.
        queue: The ``squeue`` reader shared by the executor's handles.
        result_wait_s: How long a job that SLURM says completed may take to show its result file (a
            shared file system's delay).
    """

    def __init__(self, job: Job, submitted: Any, queue: SlurmQueue, result_wait_s: float = 15.0) -> None:
        super().__init__(job, submitted)
        self.queue = queue
        self.result_wait_s = result_wait_s
        self.submitted_at = time.monotonic()

    def _has_result(self) -> bool:
        return Path(self.submitted.paths.result_pickle).exists()

    def done(self) -> bool:
        return self._has_result() or not self.queue.holds(str(self.submitted.job_id), self.submitted_at)

    def outcome(self) -> JobOutcome:
        job_id, deadline, state = str(self.submitted.job_id), time.monotonic() + self.result_wait_s, None
        while not self._has_result():
            state = state or final_state(job_id)
            if state != "COMPLETED" or time.monotonic() > deadline:
                cause = ended_without_result(job_id, Path(self.submitted.paths.stderr), state)
                message = f"its SLURM job {job_id} {cause}; log: {self.submitted.paths.stderr}"
                raise WorkerDied(message, attributable=True)
            time.sleep(1.0)
        return super().outcome()


class SubmititExecutor(Executor):
    """Jobs submitted through submitit, ``cluster`` ``"local"`` or ``"slurm"``.

    Args:
        setup: What every job needs.
        cluster: ``"local"`` (subprocesses on this machine) or ``"slurm"``.
        folder: Where submitit keeps its pickles and the jobs' logs.
        parallel: Jobs running at once (locally: the workers; on SLURM: the array's parallelism,
            ``None`` for no limit).
        parameters: submitit's executor parameters (``timeout_min``, ``slurm_partition``,
            ``cpus_per_task``, ``gpus_per_node``, ``mem_gb``, ``slurm_additional_parameters``, ...).
    """

    def __init__(
        self,
        setup: WorkerSetup,
        cluster: str,
        folder: Path,
        parallel: int | None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        import submitit

        self.setup = setup
        self.parallel = parallel
        self.running: list[_SubmititHandle] = []
        self.queue = SlurmQueue() if cluster == "slurm" else None
        self._run = run_slurm_job if cluster == "slurm" else run_job
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        self.parameters = {"timeout_min": 24 * 60, "name": "fmbench", **(parameters or {})}
        if cluster == "slurm":
            if parallel:
                self.parameters.setdefault("slurm_array_parallelism", parallel)
            delay = signal_delay_s(float(self.parameters["timeout_min"]))
            self.parameters.setdefault("slurm_signal_delay_s", delay)
        self.executor.update_parameters(**self.parameters)

    def free(self, job: Job, pending: list[Job]) -> bool:
        self.running = [h for h in self.running if not h.done()]
        return self.parallel is None or len(self.running) + len(pending) < self.parallel

    def submit(self, jobs: list[Job]) -> list[Handle]:
        if not jobs:
            return []
        with self.executor.batch():
            submitted = [self.executor.submit(self._run, job, self.setup) for job in jobs]
        handles = [self._handle(job, s) for job, s in zip(jobs, submitted, strict=True)]
        self.running.extend(handles)
        return handles

    def _handle(self, job: Job, submitted: Any) -> _SubmititHandle:
        return _SlurmHandle(job, submitted, self.queue) if self.queue else _SubmititHandle(job, submitted)

    @staticmethod
    def job_ids(handles: list[Handle]) -> list[str]:
        """The SLURM job ids of ``handles`` (an array's id once)."""
        submitted = [h.submitted for h in handles if isinstance(h, _SubmititHandle)]
        return sorted({str(s.job_id).split("_")[0] for s in submitted}, key=lambda i: (len(i), i))

    def depend_on(self, handles: list[Handle]) -> None:
        """Makes the next submission start on SLURM only after ``handles`` have ended (``afterany``)."""
        ids = self.job_ids(handles)
        if ids:
            extra = dict(self.parameters.get("slurm_additional_parameters", {}))
            extra["dependency"] = "afterany:" + ":".join(ids)
            self.executor.update_parameters(slurm_additional_parameters=extra)
