"""The benchmark runner: the evaluation protocol of DESIGN.md over a grid of cells, as jobs.

For every (task, seed) the simulations are drawn once and cached; for every (method, budget) one fit
is made on the first ``budget`` of them (one *cell*), and evaluated on each requested observation:
``num_samples`` posterior samples inside the prior's support, C2ST against sbibm's reference samples,
timings. :func:`plan` splits the grid into jobs (:mod:`fmbench.run.jobs`): one fit job per cell with work
left, then, once its fit is on disk, evaluation jobs (``observations_per_job`` observations each) and a
calibration job. :func:`run_grid` hands them to an executor (:mod:`fmbench.run.executors`) as their
dependencies allow and returns a :class:`RunSummary`. Free workers take fits first (each unlocks its
cell's evaluations), then the most expensive ready job (:func:`estimated_work`), so that the jobs that
end a run are short ones and no worker idles long beside the last one.

A re-run skips every row already ``ok`` and retries the rest; a job another process is running (its claim
is held) is waited for, not done twice. A job that fails, or whose worker dies, becomes ``failed`` rows
for its observations; every other job goes on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from fmbench import plugins, registry
from fmbench.coverage import assemble_coverage, coverage_path, read_coverage
from fmbench.run.executors import Executor, Handle, SerialExecutor, SubmititExecutor, WorkerDied
from fmbench.run.jobs import NUM_SAMPLES, Job, JobOutcome, RunOptions, WorkerSetup, record_failure
from fmbench.run.results import Cell, assemble, read_cell
from fmbench.run.simulations import check_benchmark_seed, check_budget
from fmbench.run.store import claim_path, is_claimed
from fmbench.task import TaskUnavailableError

__all__ = ["NUM_SAMPLES", "Grid", "RunOptions", "RunSummary", "estimated_work", "plan", "run_grid"]

Settings = dict[str, dict[str, Any]]

#: Seconds between looks at jobs in flight and at claims held by other processes.
POLL_S = 0.2


@dataclass(frozen=True)
class Grid:
    """What to run. Validated on construction: unknown names, bad budgets or observations raise."""

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    budgets: tuple[int, ...]
    seeds: tuple[int, ...] = (1,)
    observations: tuple[int, ...] = tuple(range(1, 11))
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, values in (
            ("tasks", self.tasks),
            ("methods", self.methods),
            ("budgets", self.budgets),
            ("seeds", self.seeds),
            ("observations", self.observations),
        ):
            if not values:
                raise ValueError(f"{name}: the grid needs at least one")
        plugins.load_builtins()
        registry.TASKS.check(list(self.tasks))
        registry.METHODS.check(list(self.methods))
        for budget in self.budgets:
            check_budget(budget)
        for seed in self.seeds:
            check_benchmark_seed(seed)
        for name in self.tasks:
            task = registry.get_task(name)
            if not task.available:
                raise TaskUnavailableError(f"task {name!r} is unavailable: {task.unavailable_reason}")
            for i in self.observations:
                task.check_observation(i)
        for name in self.settings:
            registry.METHODS.check([name])
        for name in self.methods:  # settings fail here, before anything runs
            registry.get_method(name, self.settings.get(name))

    @property
    def num_cells(self) -> int:
        """Number of fits in the grid."""
        return len(self.tasks) * len(self.methods) * len(self.budgets) * len(self.seeds)

    def cells(self) -> list[Cell]:
        """The grid's cells, task by task."""
        cells = []
        for task in self.tasks:
            for seed in self.seeds:
                for method in self.methods:
                    config = registry.get_method(method, self.settings.get(method)).config
                    cells.extend(Cell(task, method, b, seed, config.hash(b)) for b in self.budgets)
        return cells


@dataclass(frozen=True)
class CellPlan:
    """The jobs of one cell: its fit job, then the jobs that need the fit."""

    fit: Job
    followers: tuple[Job, ...]


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        table: Path of the results table.
        jobs: Jobs that ran in this run (the jobs that needed a fit that failed never run).
        failures: The jobs that failed, with their messages.
        notes: Messages of jobs that succeeded with something to say.
    """

    table: Path
    jobs: int = 0
    failures: list[JobOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every job succeeded."""
        return not self.failures

    def line(self) -> str:
        """One line: ``"all 40 jobs done"`` or ``"3 of 40 jobs failed: ..."``."""
        if self.ok:
            return f"all {self.jobs} jobs done" if self.jobs else "nothing to do: every job was already done"
        first = "; ".join(f"{o.job.label}: {o.message}" for o in self.failures[:3])
        more = f"; and {len(self.failures) - 3} more" if len(self.failures) > 3 else ""
        return f"{len(self.failures)} of {self.jobs} jobs failed: {first}{more}"


def plan(
    grid: Grid,
    options: RunOptions,
    observations_per_job: int = 1,
    cpu_methods: Iterable[str] = (),
) -> list[CellPlan]:
    """The jobs of every cell of ``grid`` with work left in ``options.out``; reads that folder and changes
    nothing in it (a damaged calibration file counts as not done and is replaced by the calibration job).

    A cell with work left whose kept fit is gone is fitted again, and that refit may be another network
    (:mod:`fmbench.run.identity`): its evaluation jobs then also cover every observation already ``ok``
    (each is evaluated again only if its row came from another fit) and its calibration job checks the
    coverage. A dry run prices those checks as evaluations: the most they can cost."""
    out, cpu = Path(options.out), set(cpu_methods)
    plans = []
    for cell in grid.cells():
        ok = {r.observation for r in read_cell(cell, out) if r.status == "ok"}
        todo = tuple(i for i in grid.observations if i not in ok)
        calibrating = options.calibration.num_pairs > 0
        calibrate = calibrating and read_coverage(coverage_path(cell, out), repair=False) is None
        if not (todo or calibrate):
            continue
        refit = not cell.fit_path(out).exists()
        due, per = (tuple(sorted({*todo, *ok})) if refit else todo), observations_per_job
        device = "cpu" if cell.method in cpu else options.device
        chunks = [due[k : k + per] for k in range(0, len(due), per)]
        followers = [Job("evaluate", cell, chunk, device) for chunk in chunks]
        if calibrate or (refit and calibrating):
            followers.append(Job("calibrate", cell, (), device))
        plans.append(CellPlan(Job("fit", cell, todo, device), tuple(followers)))
    return plans


def estimated_work(job: Job, followers: Iterable[Job] = ()) -> float:
    """A job's cost relative to other jobs of its kind, for ordering only: an evaluation grows with its
    observations times the task's parameter dimension (the C2ST's inputs; a 10-dimensional one takes
    about 3.5 times a 2-dimensional one on CPU); a fit counts the work it unlocks, ``followers``; a
    calibration counts as one observation."""
    if job.kind == "fit":
        return sum(estimated_work(f) for f in followers)
    dim = registry.get_task(job.cell.task).theta_dim
    return float(dim * max(1, len(job.observations)))


def run_grid(
    grid: Grid,
    options: RunOptions,
    executor: Executor | None = None,
    observations_per_job: int = 1,
    cpu_methods: Iterable[str] = (),
    progress: bool | None = None,
) -> RunSummary:
    """Runs every job of ``grid`` not yet done in ``options.out`` on ``executor`` (default: serially in
    this process) and rebuilds the results table. ``progress`` draws a bar over the jobs (default:
    ``options.show_progress``)."""
    out = Path(options.out)
    executor = executor or SerialExecutor(WorkerSetup(options, grid.settings))
    plans = plan(grid, options, observations_per_job, cpu_methods)
    summary = RunSummary(out / "results.csv")
    try:
        show = options.show_progress if progress is None else progress
        _Scheduler(executor, options, grid.settings, summary).run(plans, show)
    finally:
        executor.close()
        assemble(out)
        assemble_coverage(out)
    return summary


def submit_without_waiting(
    grid: Grid, options: RunOptions, executor: SubmititExecutor, observations_per_job: int = 1
) -> tuple[list[Handle], list[Handle]]:
    """Submits every job at once: the fits as one SLURM array, the rest as a second array that starts
    when the first has ended. Returns the fits' handles and the others'."""
    plans = plan(grid, options, observations_per_job)
    fits = executor.submit([p.fit for p in plans])
    executor.depend_on(fits)
    followers = executor.submit([job for p in plans for job in p.followers])
    return fits, followers


class _Scheduler:
    """Submits jobs as their fits appear, waits for claims held elsewhere, records deaths."""

    def __init__(
        self,
        executor: Executor,
        options: RunOptions,
        settings: dict[str, dict[str, Any]],
        summary: RunSummary,
    ) -> None:
        self.executor, self.options, self.settings, self.summary = executor, options, settings, summary
        self.ready: list[Job] = []
        self.alone: list[Job] = []  # in flight when a pool broke: retried one at a time
        self.tried_alone: set[Job] = set()
        self.waiting: list[Job] = []  # claimed by another process
        self.running: list[Handle] = []
        self.followers: dict[Job, tuple[Job, ...]] = {}
        self.work: dict[Job, float] = {}

    def run(self, plans: list[CellPlan], show: bool) -> None:
        for p in plans:
            self.ready.append(p.fit)
            self.followers[p.fit] = p.followers
            self.work[p.fit] = estimated_work(p.fit, p.followers)
            self.work.update((job, estimated_work(job)) for job in p.followers)
        total = sum(1 + len(p.followers) for p in plans)
        with tqdm(total=total, desc="jobs", unit="job", disable=not show) as self.bar:
            while self.ready or self.alone or self.waiting or self.running:
                # collect before submitting: an ended fit's followers compete for the freed slot
                ended = self._collect()
                self._wake()
                self._submit()
                if not ended:
                    time.sleep(POLL_S)

    def _submit(self) -> None:
        if self.alone:
            if not self.running:
                self.running += self.executor.submit([self.alone.pop(0)])
            return
        batch: list[Job] = []
        self.ready.sort(key=self._priority)  # stable: ties keep the grid's order
        for job in list(self.ready):
            if self.executor.free(job, pending=[b for b in batch if b.device == job.device]):
                batch.append(job)
                self.ready.remove(job)
        if batch:
            self.running += self.executor.submit(batch)

    def _priority(self, job: Job) -> tuple[bool, float]:
        """Fits first, then the most work first."""
        return (job.kind != "fit", -self.work.get(job, 0.0))

    def _collect(self) -> bool:
        """Handles every job that has ended (a fit's followers become ready); returns whether any had."""
        finished = [h for h in self.running if h.done()]
        for handle in finished:
            self.running.remove(handle)
            try:
                outcome = handle.outcome()
            except WorkerDied as death:
                if not death.attributable and handle.job not in self.tried_alone:
                    self.tried_alone.add(handle.job)
                    self.alone.append(handle.job)
                    continue
                outcome = JobOutcome(handle.job, "failed", f"{handle.job.kind}: {death}")
                self._record_death(outcome)
            self._handle(outcome)
        return bool(finished)

    def _handle(self, outcome: JobOutcome) -> None:
        job = outcome.job
        if outcome.status == "busy":
            self.waiting.append(job)
            return
        self.summary.jobs += 1
        self.bar.update(1)
        self.bar.set_postfix_str(job.label)
        followers = self.followers.pop(job, ())
        if outcome.status == "failed":
            self.summary.failures.append(outcome)
            _say(f"{job.label}: {outcome.message}")
            self.bar.update(len(followers))
        elif outcome.fused:
            self.bar.update(len(followers))
        else:
            self.ready += [*followers, *self._redo(outcome, followers)]
        if outcome.status == "done" and outcome.message:
            self.summary.notes.append(f"{job.label}: {outcome.message}")

    def _redo(self, outcome: JobOutcome, followers: tuple[Job, ...]) -> list[Job]:
        """Jobs for what a refit found another fit had made and ``followers`` do not cover (its fit file
        was there when the run was planned, but damaged)."""
        job, covered = outcome.job, {i for f in followers if f.kind == "evaluate" for i in f.observations}
        extra = [Job("evaluate", job.cell, (i,), job.device) for i in outcome.redo if i not in covered]
        if outcome.recalibrate and not any(f.kind == "calibrate" for f in followers):
            extra.append(Job("calibrate", job.cell, (), job.device))
        for new in extra:
            self.work[new] = estimated_work(new)
        if extra:
            self.bar.total += len(extra)
            self.bar.refresh()
        return extra

    def _wake(self) -> None:
        for job in list(self.waiting):
            if not is_claimed(claim_path(self.options.out, job.name)):
                self.waiting.remove(job)
                self.ready.append(job)

    def _record_death(self, outcome: JobOutcome) -> None:
        method = registry.get_method(outcome.job.cell.method, self.settings.get(outcome.job.cell.method))
        record_failure(outcome.job, method, self.options, outcome.message)


def _say(message: str) -> None:
    tqdm.write(f"fmbench: {message}", file=sys.stderr)
