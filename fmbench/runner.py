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
from fmbench.method import FitContext, Method, Posterior
from fmbench.metrics import C2ST_CONVENTION, c2st
from fmbench.provenance import provenance
from fmbench.results import Cell, ResultRow, assemble, read_cell, write_cell
from fmbench.sampling import sample_within_prior
from fmbench.simulations import SimulationCache, Simulations, check_budget
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
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"a seed must be a non-negative integer, got {seed!r}")
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
    """

    out: Path
    num_samples: int = NUM_SAMPLES
    c2st_backend: str = "sklearn"
    device: str = "cpu"
    sim_cache: Path | None = None
    show_progress: bool = True
    keep_fits: bool = True


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
        cell = Cell(task_name, method_name, budget, seed, method.config.hash())
        _run_cell(cell, task, method, grid.observations, cache, options)
        assemble(out)
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
    if not todo:
        return
    base = _base_row(cell, method, options)
    sims = cache.get(task, cell.seed, cell.budget)
    base.num_invalid_simulations = sims.num_invalid
    try:
        posterior, fit_s = _fit_or_load(cell, task, method, sims, options)
    except Exception as err:  # noqa: BLE001 - a crashed fit is recorded, not raised
        for i in todo:
            rows[i] = _failed(base, i, "fit", err)
        write_cell(cell, out, list(rows.values()))
        tqdm.write(f"{cell.task} {cell.method} {cell.budget} seed {cell.seed}: fit failed: {err}")
        return
    base.fit_s = fit_s
    base.epochs = posterior.cost.epochs
    base.num_parameters = posterior.cost.num_parameters
    for i in todo:
        rows[i] = _evaluate(base, i, task, posterior, options)
        write_cell(cell, out, list(rows.values()))


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
        metric_conventions=f"{C2ST_CONVENTION}; {options.num_samples} samples; outside-prior rejected",
        **provenance(options.device),
    )


def _fit_or_load(
    cell: Cell, task: Task, method: Method, sims: Simulations, options: RunOptions
) -> tuple[Posterior, float]:
    path = cell.fit_path(Path(options.out))
    if options.keep_fits and path.exists():
        saved = torch.load(path, weights_only=False)  # our own file, written below
        return saved["posterior"], saved["fit_s"]
    torch.manual_seed(cell.seed)
    context = FitContext(
        budget=sims.budget, seed=cell.seed, device=options.device, show_progress=options.show_progress
    )
    start = time.perf_counter()
    posterior = method.fit(sims.theta, sims.x, task.prior, context)
    fit_s = time.perf_counter() - start
    if options.keep_fits:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"posterior": posterior, "fit_s": fit_s}, path)
        except Exception as err:  # noqa: BLE001 - an unpicklable posterior only costs a refit on resume
            warnings.warn(
                f"{cell.method}: fitted posterior not saved ({err}); a resume will refit", stacklevel=2
            )
            path.unlink(missing_ok=True)
    return posterior, fit_s


def _evaluate(base: ResultRow, i: int, task: Task, posterior: Posterior, options: RunOptions) -> ResultRow:
    row = ResultRow(**{**base.__dict__, "observation": i})
    try:
        torch.manual_seed(base.seed * 1000 + i)
        x_o = task.observation(i).to(options.device)
        start = time.perf_counter()
        drawn = sample_within_prior(posterior, task.prior, options.num_samples, x_o)
        row.sample_s = time.perf_counter() - start
        row.rejected_fraction = drawn.rejected_fraction
        row.passes_per_sample = posterior.passes_per_sample
        reference = task.reference_samples(i)
        n = min(len(reference), len(drawn.samples))  # balanced classes; 10,000 each under the protocol
        row.c2st = c2st(reference[:n], drawn.samples[:n], backend=options.c2st_backend)
    except Exception as err:  # noqa: BLE001 - a crashed observation is recorded, not raised
        return _failed(base, i, "evaluation", err)
    return row


def _failed(base: ResultRow, i: int, stage: str, err: BaseException) -> ResultRow:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    message = f"{stage}: {type(err).__name__}: {err}{at}".replace("\n", " ")
    return ResultRow(**{**base.__dict__, "observation": i, "status": "failed", "error": message[:500]})
