"""Units of work of a grid: fitting a cell, evaluating some of its observations, calibrating it.

Each job depends only on files in the output folder (the simulation cache, the cell's fit file, its rows),
so any worker that shares the folder can run it: the runner's own process, a local worker process, or a
SLURM job. :func:`run_job` is the one entry point a worker calls. A job first takes its claim
(:class:`fmbench.run.store.Claim`); if another live process holds it, the job returns ``busy`` at once and
the runner waits for that process instead of doing the work twice. Every job is idempotent: a fit job
whose fit file is readable, or an evaluation job whose rows are already ``ok``, does nothing.

A job that fails records its failure where a user will look: a fit failure becomes a ``failed`` row for
each observation it was to evaluate, an evaluation failure a ``failed`` row for that observation, with
the stage and the message. A calibration failure writes no row (the rows stay valid) and is reported.

Every row records the identity of the fit that made it (:mod:`fmbench.run.identity`). A fit job that fits
a cell again (its kept fit is gone) turns the ``ok`` rows another fit made into ``failed`` rows that say
so and removes that fit's coverage and kept draws; the evaluation and calibration jobs the runner planned
for the refitted cell make them again and leave what this same fit made, so that a cell's rows, draws and
coverage always come from one network.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from fmbench import plugins, registry
from fmbench.coverage import CoverageOptions, calibrate, coverage_path, read_coverage
from fmbench.method import FitContext, Method, Posterior
from fmbench.metrics import C2ST_CONVENTION, MMD_CONVENTION
from fmbench.run.draws import draws_path, keep_draws
from fmbench.run.evaluation import evaluate
from fmbench.run.identity import coverage_from_fit, fit_identity, from_fit
from fmbench.run.memory import peak_memory
from fmbench.run.provenance import provenance
from fmbench.run.quiet import quiet
from fmbench.run.results import Cell, ResultRow, merge_rows, read_cell
from fmbench.run.simulations import COVERAGE_SEED_OFFSET, SimulationCache
from fmbench.run.store import Claim, DamagedFileError, claim_path, load_torch, save_torch
from fmbench.task import Task

NUM_SAMPLES = 10_000

JobKind = Literal["fit", "evaluate", "calibrate"]
Status = Literal["done", "failed", "busy"]


@dataclass(frozen=True)
class RunOptions:
    """How to run a grid's jobs (the same in every worker).

    Attributes:
        out: Output folder (results table, cell files, fits, simulation cache, claims).
        num_samples: Posterior samples per observation.
        c2st_backend: Name of the C2ST implementation (see ``fmbench.metrics.C2ST_BACKENDS``).
        device: Torch device of the methods (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        sim_cache: Simulation cache folder (default ``out/simulations``).
        show_progress: Draw the methods' own progress bars (only where one job runs at a time).
        calibration: Held-out coverage of every fit (``num_pairs=0`` turns it off).
    """

    out: Path
    num_samples: int = NUM_SAMPLES
    c2st_backend: str = "torch"
    device: str = "cpu"
    sim_cache: Path | None = None
    show_progress: bool = True
    calibration: CoverageOptions = CoverageOptions()

    @property
    def cache(self) -> SimulationCache:
        """The simulation cache of the run."""
        return SimulationCache(self.sim_cache or Path(self.out) / "simulations")


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs besides the job: the run options, the method settings, the plugin
    files to load (their tasks and methods must be registered in every worker) and its torch threads."""

    options: RunOptions
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    threads: int | None = None


@dataclass(frozen=True)
class Job:
    """One unit of work on one cell.

    Attributes:
        kind: ``"fit"``, ``"evaluate"`` or ``"calibrate"``.
        cell: The cell.
        observations: For ``evaluate``, the observations to evaluate; for ``fit``, those that get a
            ``failed`` row if the fit fails.
        device: Torch device of this job (a method kept on CPU runs there whatever the run's device).
    """

    kind: JobKind
    cell: Cell
    observations: tuple[int, ...] = ()
    device: str = "cpu"

    @property
    def name(self) -> str:
        """Unique name in the output folder (its claim's name)."""
        obs = f".obs{'_'.join(map(str, self.observations))}" if self.kind == "evaluate" else ""
        return f"{self.cell.name}.{self.kind}{obs}"

    @property
    def label(self) -> str:
        """Human-readable description for progress and messages."""
        c = self.cell
        what = f"observation(s) {','.join(map(str, self.observations))}" if self.kind == "evaluate" else ""
        return f"{self.kind} {c.task} {c.method} {c.budget} seed {c.seed} {what}".rstrip()


@dataclass(frozen=True)
class JobOutcome:
    """What became of a job.

    Attributes:
        job: The job.
        status: ``"done"``; ``"failed"`` (its failure is recorded); ``"busy"`` (another process holds
            its claim and is doing the work).
        message: The failure's message, or a note (e.g. unranked calibration pairs).
        fused: A fit job whose posterior could not be saved evaluated and calibrated the cell itself.
        redo: For a fit job that fitted its cell again: the observations whose rows another fit had made
            (now ``failed``), to be evaluated again.
        recalibrate: For such a fit job: whether it removed another fit's coverage.
    """

    job: Job
    status: Status
    message: str = ""
    fused: bool = False
    redo: tuple[int, ...] = ()
    recalibrate: bool = False


@dataclass(frozen=True)
class Fit:
    """A fitted posterior with what fitting it cost (the content of a cell's fit file) and its identity
    (:func:`fmbench.run.identity.fit_identity`; ``None`` for a posterior that cannot be saved)."""

    posterior: Posterior
    fit_s: float
    peak_memory_mb: float | None
    num_invalid: int | None = None
    fit_id: str | None = None

    @property
    def epochs(self) -> int | None:
        """Training epochs of the fit (``None`` if not epoch-based)."""
        return self.posterior.cost.epochs


def run_job(job: Job, setup: WorkerSetup) -> JobOutcome:
    """Runs ``job`` under its claim; the one function every executor calls in its workers."""
    _prepare_worker(setup)
    with Claim(claim_path(setup.options.out, job.name)) as claim:
        if not claim.acquire():
            return JobOutcome(job, "busy")
        with quiet() as captured:  # third-party prints and warnings: said once, below
            outcome = _run_claimed(job, setup)
    if captured.notes and outcome.status == "done":
        warned = "; ".join(f"warned: {note}" for note in captured.notes)
        outcome = replace(outcome, message="; ".join(m for m in (outcome.message, warned) if m))
    return outcome


def _run_claimed(job: Job, setup: WorkerSetup) -> JobOutcome:
    method = registry.get_method(job.cell.method, setup.settings.get(job.cell.method))
    task = registry.get_task(job.cell.task)
    try:
        return _RUNNERS[job.kind](job, task, method, setup.options)
    except Exception as err:  # noqa: BLE001 - e.g. a full disk: the job fails, the run goes on
        message = failure_message(job.kind, err)
        record_failure(job, method, setup.options, message)
        return JobOutcome(job, "failed", message)


_prepared: set[tuple[str, ...]] = set()


def _prepare_worker(setup: WorkerSetup) -> None:
    if setup.plugins not in _prepared:
        plugins.load_plugin_files(setup.plugins)
        _prepared.add(setup.plugins)
    if setup.threads:
        torch.set_num_threads(setup.threads)


def _run_fit(job: Job, task: Task, method: Method, options: RunOptions) -> JobOutcome:
    cell, out = job.cell, Path(options.out)
    if load_fit(cell, out) is not None:
        return JobOutcome(job, "done")
    try:
        fit = _fit(cell, task, method, options, job.device)
    except Exception as err:  # noqa: BLE001 - a crashed fit is recorded, not raised
        message = failure_message("fit", err)
        record_failure(job, method, options, message)
        return JobOutcome(job, "failed", message)
    forgotten = _forget_other_fits(job, method, options, fit)  # before the fit is kept: see below
    try:
        save_torch(fit, cell.fit_path(out))
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        said = f"posterior not saved ({type(err).__name__}: {err}); evaluated in the fit's process"
        everything = replace(job, observations=tuple(sorted({*job.observations, *forgotten.observations})))
        fused = _evaluate_in_place(everything, task, method, options, fit)
        message = "; ".join(m for m in (forgotten.note, said, fused.message) if m)
        return JobOutcome(job, fused.status, message, fused=True)
    return JobOutcome(
        job, "done", forgotten.note, redo=forgotten.observations, recalibrate=forgotten.coverage
    )


@dataclass(frozen=True)
class Forgotten:
    """What a refit found another fit had made (see :func:`_forget_other_fits`).

    Attributes:
        observations: Observations whose ``ok`` rows another fit made, now ``failed`` rows.
        coverage: Whether another fit's coverage was removed.
        note: What was found, in words (``""`` if nothing).
    """

    observations: tuple[int, ...] = ()
    coverage: bool = False
    note: str = ""


def _forget_other_fits(job: Job, method: Method, options: RunOptions, fit: Fit) -> Forgotten:
    """After ``job``'s cell was fitted again: removes the coverage and kept draws another fit made and
    turns its ``ok`` rows into ``failed`` rows that say so (in that order: a run killed in between still
    finds those rows, and so what else they came with), so that the cell's evaluation and calibration
    jobs make them again from this fit. It runs before the new fit is kept: a run killed before that
    fits again and finds the same, never a kept fit beside rows of another."""
    cell, out = job.cell, Path(options.out)
    others = [r for r in read_cell(cell, out) if r.status == "ok" and not from_fit(r, fit.fit_id, fit.epochs)]
    coverage = read_coverage(coverage_path(cell, out), repair=False)
    stale_coverage = coverage is not None and not coverage_from_fit(coverage, fit.fit_id, bool(others))
    if not (others or stale_coverage):
        return Forgotten()
    if stale_coverage:
        coverage_path(cell, out).unlink(missing_ok=True)
    for row in others:
        draws_path(cell, out, row.observation).unlink(missing_ok=True)
    message = f"made by another fit of this cell ({_which(others, fit)}): evaluated again"
    base = base_row(cell, method, options, job.device)
    merge_rows(cell, out, [failed_row(base, r.observation, message) for r in others])
    what = [f"observation(s) {', '.join(str(r.observation) for r in others)} {message}"] if others else []
    what += ["its coverage is computed again"] if stale_coverage else []
    note = f"fitted again, and earlier results came from another fit: {'; '.join(what)}"
    return Forgotten(tuple(r.observation for r in others), stale_coverage, note)


def _which(rows: list[ResultRow], fit: Fit) -> str:
    """How ``rows`` were told from ``fit``: by their fits' identities, or else by their epochs."""
    ids = sorted({r.fit_id for r in rows if r.fit_id})
    if ids:
        return f"fit {', '.join(ids)}; the refit {fit.fit_id}"
    epochs = sorted({"unknown" if r.epochs is None else str(int(r.epochs)) for r in rows})
    return f"epochs {', '.join(epochs)}; the refit's {fit.epochs}"


def _evaluate_in_place(job: Job, task: Task, method: Method, options: RunOptions, fit: Fit) -> JobOutcome:
    evaluation = Job("evaluate", job.cell, job.observations, job.device)
    outcome = _evaluate_fit(evaluation, task, method, options, fit)
    calibration = _calibrate_fit(Job("calibrate", job.cell, (), job.device), task, options, fit)
    failed = [o for o in (outcome, calibration) if o.status == "failed"]
    return JobOutcome(job, "failed" if failed else "done", "; ".join(o.message for o in failed))


def _fit(cell: Cell, task: Task, method: Method, options: RunOptions, device: str) -> Fit:
    sims = options.cache.get(task, cell.seed, cell.budget)
    torch.manual_seed(cell.seed)
    context = FitContext(
        budget=sims.budget, seed=cell.seed, device=device, show_progress=options.show_progress
    )
    start = time.perf_counter()
    with peak_memory(device) as memory:
        posterior = method.fit(sims.theta, sims.x, task.prior, context)
    seconds = time.perf_counter() - start
    return Fit(posterior, seconds, memory.megabytes, sims.num_invalid, fit_identity(posterior))


def load_fit(cell: Cell, out: Path) -> Fit | None:
    """The cell's saved fit, or ``None`` if there is none; a damaged fit file is reported with its path
    and removed, so that the cell is fitted again instead of failing on every re-run. A fit saved before
    fits kept their identity gets it here."""
    path = cell.fit_path(out)
    if not path.exists():
        return None
    try:
        fit = load_torch(path, weights_only=False)  # our own file, written by save_torch
        if not isinstance(fit, Fit) and type(fit).__name__ != "Fit":
            raise DamagedFileError(path, f"holds a {type(fit).__name__}, not a fit")
    except DamagedFileError as err:
        print(f"fmbench: {err}; removing it and fitting again", file=sys.stderr, flush=True)
        path.unlink(missing_ok=True)
        return None
    if getattr(fit, "fit_id", None) is None:
        fit = replace(fit, fit_id=fit_identity(fit.posterior))
    return fit


def _run_evaluate(job: Job, task: Task, method: Method, options: RunOptions) -> JobOutcome:
    fit = load_fit(job.cell, Path(options.out))
    if fit is None:  # its fit job failed (and said why in the rows) or never ran
        message = f"evaluation: no fit of this cell at {job.cell.fit_path(Path(options.out))}"
        record_failure(job, method, options, message, keep_failed=True)
        return JobOutcome(job, "failed", message)
    return _evaluate_fit(job, task, method, options, fit)


def _evaluate_fit(job: Job, task: Task, method: Method, options: RunOptions, fit: Fit) -> JobOutcome:
    cell, out = job.cell, Path(options.out)
    rows = [r for r in read_cell(cell, out) if r.status == "ok"]
    done = {r.observation for r in rows if from_fit(r, fit.fit_id, fit.epochs)}
    base = base_row(cell, method, options, job.device)
    base.fit_s, base.peak_memory_mb = fit.fit_s, fit.peak_memory_mb
    base.epochs, base.num_parameters = fit.epochs, fit.posterior.cost.num_parameters
    base.fit_id = fit.fit_id or ""
    base.num_invalid_simulations = fit.num_invalid
    errors = []
    for i in job.observations:
        if i in done:
            continue
        row = _evaluate_one(cell, base, i, task, fit.posterior, options, job.device)
        merge_rows(cell, out, [row])
        if row.status != "ok":
            errors.append(f"observation {i}: {row.error}")
    return JobOutcome(job, "failed" if errors else "done", "; ".join(errors))


def _evaluate_one(
    cell: Cell, base: ResultRow, i: int, task: Task, posterior: Posterior, options: RunOptions, device: str
) -> ResultRow:
    def keep(samples: torch.Tensor) -> None:
        keep_draws(cell, Path(options.out), i, samples)

    try:
        torch.manual_seed(base.seed * 1000 + i)
        result = evaluate(task, posterior, i, options.num_samples, options.c2st_backend, device, keep)
    except Exception as err:  # noqa: BLE001 - a crashed observation is recorded, not raised
        return failed_row(base, i, failure_message("evaluation", err))
    return ResultRow(**{**base.__dict__, "observation": i, **result.__dict__})


def _run_calibrate(job: Job, task: Task, method: Method, options: RunOptions) -> JobOutcome:
    fit = load_fit(job.cell, Path(options.out))
    if fit is None:
        return JobOutcome(job, "failed", f"calibration: no fit at {job.cell.fit_path(Path(options.out))}")
    return _calibrate_fit(job, task, options, fit)


def _calibrate_fit(job: Job, task: Task, options: RunOptions, fit: Fit) -> JobOutcome:
    path = coverage_path(job.cell, Path(options.out))
    kept = read_coverage(path, repair=False)
    if kept is not None and not coverage_from_fit(kept, fit.fit_id, rows_from_other_fit=False):
        path.unlink(missing_ok=True)  # recorded by another fit: computed again from this one
    torch.manual_seed(COVERAGE_SEED_OFFSET + job.cell.seed)
    try:
        unranked = calibrate(
            job.cell, task, fit.posterior, options.cache, options.out, options.calibration, fit.fit_id
        )
    except Exception as err:  # noqa: BLE001 - the rows stay; a re-run retries the calibration
        return JobOutcome(job, "failed", failure_message("calibration", err))
    note = (
        f"coverage: {unranked} held-out pair(s) had almost no posterior samples inside the prior and were "
        "ranked on unrejected samples (support_rejection = False)"
        if unranked
        else ""
    )
    return JobOutcome(job, "done", note)


_RUNNERS = {"fit": _run_fit, "evaluate": _run_evaluate, "calibrate": _run_calibrate}


def base_row(cell: Cell, method: Method, options: RunOptions, device: str) -> ResultRow:
    """The fields every row of ``cell`` shares (observation 0, no metrics yet)."""
    return ResultRow(
        task=cell.task,
        method=cell.method,
        budget=cell.budget,
        seed=cell.seed,
        observation=0,
        c2st_backend=options.c2st_backend,
        num_samples=options.num_samples,
        method_config_hash=cell.config_hash,
        method_config=json.dumps(method.config.to_dict(), sort_keys=True),
        metric_conventions=(
            f"c2st: {C2ST_CONVENTION}; mmd: {MMD_CONVENTION}; "
            f"{options.num_samples} samples; outside-prior rejected"
        ),
        **provenance(device),
    )


def failed_row(base: ResultRow, i: int, message: str) -> ResultRow:
    """A ``failed`` row of observation ``i`` with ``message``."""
    return ResultRow(**{**base.__dict__, "observation": i, "status": "failed", "error": message[:500]})


def failure_message(stage: str, err: BaseException) -> str:
    """``"stage: Type: message (at file:line)"`` on one line."""
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{stage}: {type(err).__name__}: {err}{at}".replace("\n", " ")


def record_failure(
    job: Job, method: Method, options: RunOptions, message: str, keep_failed: bool = False
) -> None:
    """Writes a ``failed`` row with ``message`` for each observation of ``job`` not already ``ok`` (with
    ``keep_failed``, nor already ``failed``: an earlier message is kept)."""
    if job.kind == "calibrate" or not job.observations:
        return
    existing = read_cell(job.cell, Path(options.out))
    done = {r.observation for r in existing if r.status == "ok" or keep_failed}
    base = base_row(job.cell, method, options, job.device)
    failed = [failed_row(base, i, message) for i in job.observations if i not in done]
    if failed:
        merge_rows(job.cell, Path(options.out), failed)
