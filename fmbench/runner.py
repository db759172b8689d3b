"""The benchmark runner: the evaluation protocol of DESIGN.md over a grid of cells.

For every (task, seed) the simulations are drawn once and cached; for every (method, budget) one fit
is made on the first ``budget`` of them (one *cell*), and evaluated on each requested observation:
``num_samples`` posterior samples inside the prior's support, C2ST against sbibm's reference samples,
timings. Rows are written per observation; a re-run skips every row already ``ok`` and retries failed
ones. A crash of one fit or one observation becomes a ``failed`` row with its message.
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fmbench import registries
from fmbench.calibration import CalibrationOptions, assemble_coverage, calibrate, coverage_path
from fmbench.evaluate import evaluate
from fmbench.memory import peak_memory
from fmbench.method import FitContext, Method, Posterior
from fmbench.metrics import C2ST_CONVENTION, MMD_CONVENTION
from fmbench.provenance import provenance
from fmbench.results import Cell, ResultRow, assemble, read_cell, write_cell
from fmbench.simulations import SimulationCache, Simulations, check_benchmark_seed, check_budget
from fmbench.task import Task, TaskUnavailableError

NUM_SAMPLES = 10_000


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
        registries.load_builtins()
        registries.TASKS.check(list(self.tasks))
        registries.METHODS.check(list(self.methods))
        for budget in self.budgets:
            check_budget(budget)
        for seed in self.seeds:
            check_benchmark_seed(seed)
        for name in self.tasks:
            task = registries.get_task(name)
            if not task.available:
                raise TaskUnavailableError(f"task {name!r} is unavailable: {task.unavailable_reason}")
            for i in self.observations:
                task.check_observation(i)
        for name in self.settings:
            registries.METHODS.check([name])
        for name in self.methods:  # settings fail here, before anything runs
            registries.get_method(name, self.settings.get(name))

    @property
    def num_cells(self) -> int:
        """Number of fits in the grid."""
        return len(self.tasks) * len(self.methods) * len(self.budgets) * len(self.seeds)


@dataclass(frozen=True)
class RunOptions:
    """How to run a grid.

    Attributes:
        out: Output folder (results table, cell files, fits, simulation cache).
        num_samples: Posterior samples per observation.
        c2st_backend: Name of the C2ST implementation (see ``fmbench.metrics.C2ST_BACKENDS``).
        device: Torch device of the methods.
        sim_cache: Simulation cache folder (default ``out/simulations``).
        show_progress: Draw progress bars.
        keep_fits: Keep fitted posteriors on disk, so an interrupted cell resumes without refitting.
        calibration: Held-out coverage of every fit (``num_pairs=0`` turns it off).
    """

    out: Path
    num_samples: int = NUM_SAMPLES
    c2st_backend: str = "torch"
    device: str = "cpu"
    sim_cache: Path | None = None
    show_progress: bool = True
    keep_fits: bool = True
    calibration: CalibrationOptions = CalibrationOptions()


def run_grid(grid: Grid, options: RunOptions) -> Path:
    """Runs every cell of ``grid`` not yet done in ``options.out``; returns the results table's path."""
    out = Path(options.out)
    cache = SimulationCache(options.sim_cache or out / "simulations")
    cells = [
        (task, method, budget, seed)
        for task in grid.tasks
        for seed in grid.seeds
        for method in grid.methods
        for budget in grid.budgets
    ]
    bar = tqdm(cells, desc="grid", unit="fit", disable=not options.show_progress)
    for task_name, method_name, budget, seed in bar:
        bar.set_postfix_str(f"{task_name} {method_name} {budget} seed {seed}")
        task = registries.get_task(task_name)
        method = registries.get_method(method_name, grid.settings.get(method_name))
        cell = Cell(task_name, method_name, budget, seed, method.config.hash(budget))
        _run_cell(cell, task, method, grid.observations, cache, options)
        assemble(out)
        assemble_coverage(out)
    return out / "results.csv"


def _run_cell(
    cell: Cell,
    task: Task,
    method: Method,
    observations: tuple[int, ...],
    cache: SimulationCache,
    options: RunOptions,
) -> None:
    out = Path(options.out)
    rows = {r.observation: r for r in read_cell(cell, out)}
    todo = [i for i in observations if i not in rows or rows[i].status != "ok"]
    calibrated = options.calibration.num_pairs <= 0 or coverage_path(cell, out).exists()
    if not todo and calibrated:
        return
    base = _base_row(cell, method, options)
    sims = cache.get(task, cell.seed, cell.budget)
    base.num_invalid_simulations = sims.num_invalid
    try:
        fit = _fit_or_load(cell, task, method, sims, options)
    except Exception as err:  # noqa: BLE001 - a crashed fit is recorded, not raised
        for i in todo:
            rows[i] = _failed(base, i, "fit", err)
        write_cell(cell, out, list(rows.values()))
        tqdm.write(f"{_label(cell)}: fit failed: {err}")
        return
    base.fit_s = fit.fit_s
    base.peak_memory_mb = fit.peak_memory_mb
    base.epochs = fit.posterior.cost.epochs
    base.num_parameters = fit.posterior.cost.num_parameters
    for i in todo:
        rows[i] = _evaluate(base, i, task, fit.posterior, options)
        write_cell(cell, out, list(rows.values()))
    try:
        unrejected = calibrate(cell, task, fit.posterior, cache, out, options.calibration)
    except Exception as err:  # noqa: BLE001 - the rows stay; a re-run retries the calibration
        tqdm.write(f"{_label(cell)}: calibration failed: {type(err).__name__}: {err}")
        return
    if unrejected:
        tqdm.write(
            f"{_label(cell)}: coverage: {unrejected} held-out pair(s) had almost no posterior samples inside "
            "the prior and were ranked on unrejected samples (support_rejection = False)"
        )


def _label(cell: Cell) -> str:
    return f"{cell.task} {cell.method} {cell.budget} seed {cell.seed}"


def _base_row(cell: Cell, method: Method, options: RunOptions) -> ResultRow:
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
        **provenance(options.device),
    )


@dataclass(frozen=True)
class Fit:
    """A fitted posterior with what fitting it cost."""

    posterior: Posterior
    fit_s: float
    peak_memory_mb: float | None


def _fit_or_load(cell: Cell, task: Task, method: Method, sims: Simulations, options: RunOptions) -> Fit:
    path = cell.fit_path(Path(options.out))
    if options.keep_fits and path.exists():
        return torch.load(path, weights_only=False)  # our own file, written below
    torch.manual_seed(cell.seed)
    context = FitContext(
        budget=sims.budget, seed=cell.seed, device=options.device, show_progress=options.show_progress
    )
    start = time.perf_counter()
    with peak_memory(options.device) as memory:
        posterior = method.fit(sims.theta, sims.x, task.prior, context)
    fit = Fit(posterior, time.perf_counter() - start, memory.megabytes)
    if options.keep_fits:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(fit, path)
        except Exception as err:  # noqa: BLE001 - an unpicklable posterior only costs a refit on resume
            warnings.warn(
                f"{cell.method}: fitted posterior not saved ({err}); a resume will refit", stacklevel=2
            )
            path.unlink(missing_ok=True)
    return fit


def _evaluate(base: ResultRow, i: int, task: Task, posterior: Posterior, options: RunOptions) -> ResultRow:
    try:
        torch.manual_seed(base.seed * 1000 + i)
        result = evaluate(task, posterior, i, options.num_samples, options.c2st_backend, options.device)
    except Exception as err:  # noqa: BLE001 - a crashed observation is recorded, not raised
        return _failed(base, i, "evaluation", err)
    return ResultRow(**{**base.__dict__, "observation": i, **result.__dict__})


def _failed(base: ResultRow, i: int, stage: str, err: BaseException) -> ResultRow:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    message = f"{stage}: {type(err).__name__}: {err}{at}".replace("\n", " ")
    return ResultRow(**{**base.__dict__, "observation": i, "status": "failed", "error": message[:500]})
