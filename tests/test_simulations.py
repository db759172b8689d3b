"""The simulation cache: nested budgets, identical data for every method, invalid rows, budgets."""

from __future__ import annotations

import pytest
import torch

from fmbench.registry import get_task
from fmbench.run.simulations import (
    CHUNK,
    COVERAGE_SEED_OFFSET,
    MAX_BENCHMARK_SEED,
    SELECTION_SEED,
    BudgetError,
    SimulationCache,
    check_benchmark_seed,
    check_budget,
)


def test_budgets_are_nested_prefixes(tmp_path) -> None:
    task = get_task("toy_gaussian")
    small = SimulationCache(tmp_path / "a").get(task, seed=3, budget=700)
    large = SimulationCache(tmp_path / "b").get(task, seed=3, budget=2 * CHUNK + 5)
    assert small.theta.shape == (700, 2) and large.theta.shape == (2 * CHUNK + 5, 2)
    assert torch.equal(small.theta, large.theta[:700]) and torch.equal(small.x, large.x[:700])


def test_cache_serves_the_same_data_to_every_caller(tmp_path) -> None:
    task = get_task("two_moons")
    cache = SimulationCache(tmp_path)
    first = cache.get(task, seed=1, budget=1000)
    torch.manual_seed(123)  # the global RNG state must not matter
    second = cache.get(task, seed=1, budget=1000)
    fresh = SimulationCache(tmp_path / "other").get(task, seed=1, budget=1000)
    assert torch.equal(first.x, second.x) and torch.equal(first.x, fresh.x)
    assert len(list((tmp_path / "two_moons" / "seed1").glob("chunk*.pt"))) == 1


def test_seeds_differ(tmp_path) -> None:
    task = get_task("toy_gaussian")
    cache = SimulationCache(tmp_path)
    assert not torch.equal(cache.get(task, 1, 100).theta, cache.get(task, 2, 100).theta)


def test_invalid_simulations_are_dropped_and_counted(tmp_path) -> None:
    sims = SimulationCache(tmp_path).get(get_task("toy_nan"), seed=1, budget=30)
    assert sims.budget == 30 and sims.num_invalid == 10
    assert sims.x.shape == (20, 2) and torch.isfinite(sims.x).all()


@pytest.mark.parametrize("bad", [0, -5, 1.5, "100", True, None])
def test_bad_budgets_are_rejected(bad) -> None:
    with pytest.raises(BudgetError, match="positive integer"):
        check_budget(bad)


def test_benchmark_seeds_stay_out_of_the_held_out_streams() -> None:
    assert check_benchmark_seed(0) == 0 and check_benchmark_seed(MAX_BENCHMARK_SEED) == MAX_BENCHMARK_SEED
    # every benchmark seed's calibration stream lies above every benchmark seed and below the selection set
    assert COVERAGE_SEED_OFFSET > MAX_BENCHMARK_SEED
    assert COVERAGE_SEED_OFFSET + MAX_BENCHMARK_SEED < SELECTION_SEED
    for seed in (MAX_BENCHMARK_SEED + 1, COVERAGE_SEED_OFFSET + 1, SELECTION_SEED):
        with pytest.raises(ValueError, match="reserved"):
            check_benchmark_seed(seed)
    for bad in (-1, 1.0, True, "1"):
        with pytest.raises(ValueError, match="non-negative integer"):
            check_benchmark_seed(bad)
