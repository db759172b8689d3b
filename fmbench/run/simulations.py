"""The simulation cache: one draw of (theta, x) per (task, seed), shared by every method and budget.

Simulations are drawn in chunks of :data:`CHUNK` rows; chunk ``k`` of seed ``s`` is drawn with torch
seeded from ``(s, k)`` alone, so the data at any index never depends on how many rows were asked for:
the 1e3 set is always the first 1e3 rows of the 1e4 set (nested budgets). Chunks are cached on disk,
simulated under a lock (concurrent jobs never simulate one chunk twice) and written atomically (killed
runs never leave a half-written one). A chunk that cannot be read back or has the wrong shape is reported
with its path and simulated again: its seed makes the new one identical to what it should have been.

The harness, not the method, enforces the budget: a method receives exactly the first ``budget`` rows,
minus the rows whose simulation failed (non-finite x), whose number is recorded.

Seeds are split into disjoint streams, so that no method ever trains on the simulations it is judged or
chosen on: benchmark seeds ``0 .. MAX_BENCHMARK_SEED`` draw the training simulations; the held-out
calibration pairs of benchmark seed ``s`` are seed ``COVERAGE_SEED_OFFSET + s``; the held-out
simulations on which fmpe's settings are chosen (``studies/select_fmpe.py`` and the studies beside it)
are seed :data:`SELECTION_SEED`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fmbench.run.store import DamagedFileError, load_torch, locked, save_torch
from fmbench.task import Task

#: Rows per cached chunk.
CHUNK = 1000
#: The largest seed a benchmark cell may train on; the seeds above belong to the held-out streams.
MAX_BENCHMARK_SEED = 999_999
#: Calibration pairs of benchmark seed ``s`` are simulations of seed ``COVERAGE_SEED_OFFSET + s``.
COVERAGE_SEED_OFFSET = 1_000_000
#: The seed of the held-out simulations that settings are chosen on (never a reference posterior).
SELECTION_SEED = 2_000_001


class BudgetError(ValueError):
    """A budget that is not a positive integer."""


class SimulationError(RuntimeError):
    """Simulations that no method can be fitted on (every row of a budget invalid)."""


@dataclass(frozen=True)
class Simulations:
    """The simulations a method is given for one budget.

    Attributes:
        theta: Parameters ``(N, theta_dim)``, the valid rows among the first ``budget``.
        x: Simulated data ``(N, x_dim)``.
        budget: Simulations spent (rows before invalid ones were dropped).
        num_invalid: Rows of the budget dropped because their simulation returned non-finite values.
    """

    theta: Tensor
    x: Tensor
    budget: int
    num_invalid: int


def chunk_seed(seed: int, chunk: int) -> int:
    """The torch seed of chunk ``chunk`` of benchmark seed ``seed``."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def _simulate_chunk(task: Task, seed: int, chunk: int) -> dict[str, Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(chunk_seed(seed, chunk))
        theta = task.prior.sample((CHUNK,)).to(torch.float32)
        x = task.simulate(theta)
    return {"theta": theta, "x": x}


def _check_chunk(data: object, task: Task, path: Path) -> dict[str, Tensor]:
    """``data`` if it is a whole chunk of ``task``, else raises :class:`DamagedFileError`."""
    shapes = {"theta": (CHUNK, task.theta_dim), "x": (CHUNK, task.x_dim)}
    if not isinstance(data, dict) or set(data) != set(shapes):
        raise DamagedFileError(path, "not a simulation chunk")
    for key, shape in shapes.items():
        if not isinstance(data[key], Tensor) or tuple(data[key].shape) != shape:
            got = tuple(data[key].shape) if isinstance(data[key], Tensor) else type(data[key]).__name__
            raise DamagedFileError(path, f"{key} has shape {got}, expected {shape}")
    return data


class SimulationCache:
    """Simulations of every (task, seed), cached as chunks under ``root / task / seed<seed>``.

    Args:
        root: The cache folder.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _chunk_path(self, task: Task, seed: int, chunk: int) -> Path:
        return self.root / task.name / f"seed{seed}" / f"chunk{chunk:05d}.pt"

    def _chunk(self, task: Task, seed: int, chunk: int) -> dict[str, Tensor]:
        path = self._chunk_path(task, seed, chunk)
        if path.exists():
            try:
                return _check_chunk(load_torch(path, weights_only=True), task, path)
            except DamagedFileError as err:
                print(f"fmbench: {err}; simulating it again", file=sys.stderr)
        with locked(path.with_name(f".{path.name}.lock")):
            if path.exists():  # another job may have written it while this one waited
                try:
                    return _check_chunk(load_torch(path, weights_only=True), task, path)
                except DamagedFileError:
                    pass
            data = _simulate_chunk(task, seed, chunk)
            save_torch(data, path)
        return data

    def prepare(self, task: Task, seed: int, budget: int) -> None:
        """Makes sure the first ``budget`` rows are on disk (and readable)."""
        for k in range(math.ceil(check_budget(budget) / CHUNK)):
            self._chunk(task, seed, k)

    def get(self, task: Task, seed: int, budget: int) -> Simulations:
        """The first ``budget`` simulations of ``(task, seed)``, with invalid rows dropped and counted."""
        check_budget(budget)
        chunks = [self._chunk(task, seed, k) for k in range(math.ceil(budget / CHUNK))]
        theta = torch.cat([c["theta"] for c in chunks])[:budget]
        x = torch.cat([c["x"] for c in chunks])[:budget]
        valid = torch.isfinite(x).all(dim=1) & torch.isfinite(theta).all(dim=1)
        if not valid.any():
            raise SimulationError(
                f"all {budget} simulations of task {task.name!r} (seed {seed}) returned non-finite values; "
                "no method can be fitted on them"
            )
        return Simulations(theta=theta[valid], x=x[valid], budget=budget, num_invalid=int((~valid).sum()))


def check_benchmark_seed(seed: object) -> int:
    """Returns ``seed`` if a benchmark cell may train on it (an integer in ``0 .. MAX_BENCHMARK_SEED``),
    else raises ``ValueError``: a larger seed would train on a held-out stream's simulations."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"a seed must be a non-negative integer, got {seed!r}")
    if seed > MAX_BENCHMARK_SEED:
        raise ValueError(
            f"seed {seed} is reserved: benchmark seeds go up to {MAX_BENCHMARK_SEED:,}; the seeds above draw "
            f"the held-out calibration pairs ({COVERAGE_SEED_OFFSET:,} + seed) and the held-out "
            f"selection set ({SELECTION_SEED:,}), which no method may train on"
        )
    return int(seed)


def check_budget(budget: object) -> int:
    """Returns ``budget`` if it is a positive integer, else raises :class:`BudgetError`."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget <= 0:
        raise BudgetError(f"a budget must be a positive integer, got {budget!r}")
    return int(budget)
