"""The Julia-free sir and lotka_volterra tasks: solver, sbibm's definitions, sbibm's references."""

from __future__ import annotations

import doctest
import math
import warnings
from types import ModuleType

import pytest
import torch
from scipy.integrate import RK45

from fmbench.metrics import c2st
from fmbench.registry import get_task
from fmbench.tasks import lotka_volterra, ode, sir
from fmbench.tasks.julia_free import SimulationFailureWarning, StoredSbibmTask
from fmbench.tasks.likelihood_posterior import sample_posterior
from fmbench.tasks.ode_reference import reference_solve

NAMES = ["sir", "lotka_volterra"]


def _decay(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return -p * y


def test_dormand_prince_tableau_matches_scipy() -> None:
    assert ode.C[:6] == pytest.approx(RK45.C.tolist(), abs=1e-15)
    for row, expected in zip(ode.A[1:6], RK45.A[1:], strict=True):
        assert list(row) == pytest.approx(expected[: len(row)].tolist(), abs=1e-15)
    assert list(ode.B) == pytest.approx(RK45.B.tolist(), abs=1e-15)
    assert list(ode.E) == pytest.approx((-RK45.E).tolist(), abs=1e-15)  # scipy: 4th minus 5th order


def test_solver_is_accurate_and_rows_do_not_depend_on_the_batch() -> None:
    rates = torch.tensor([[0.1], [1.0], [3.0]], dtype=torch.float64)
    times = torch.tensor([0.0, 0.5, 2.0, 5.0], dtype=torch.float64)
    tol = ode.Tolerances(rtol=1e-10, atol=1e-16)
    sol = ode.solve(_decay, torch.ones(3, 1), rates, times, 6.0, tol)
    exact = torch.exp(-rates * times)
    assert torch.allclose(sol.y[..., 0], exact, rtol=1e-8, atol=0)
    assert (sol.status == ode.OK).all() and sol.failure_summary() == ""
    alone = ode.solve(_decay, torch.ones(1, 1), rates[1:2], times, 6.0, tol)
    assert torch.equal(alone.y[0], sol.y[1])
    chunked = ode.solve(_decay, torch.ones(3, 1), rates, times, 6.0, tol, chunk=2)
    assert torch.equal(chunked.y, sol.y)


def test_solver_reports_failed_rows_as_nan() -> None:
    def blow_up(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return p * y.square()  # y = 1 / (1 - p t): infinite at t = 1 / p

    p = torch.tensor([[0.1], [1.0]], dtype=torch.float64)
    sol = ode.solve(blow_up, torch.ones(2, 1), p, torch.tensor([0.0, 2.0]), 2.0, ode.Tolerances())
    assert sol.status.tolist() == [ode.OK, ode.STEP_UNDERFLOW]
    assert torch.isnan(sol.y[1]).all() and sol.y[0, 1, 0] == pytest.approx(1 / 0.8, rel=1e-8)
    assert "1 of 2 solves failed (1 step size underflow)" == sol.failure_summary()
    capped = ode.solve(
        _decay, torch.ones(1, 1), p[:1], torch.tensor([0.0, 1.0]), 1.0, ode.Tolerances(max_steps=2)
    )
    assert capped.status.tolist() == [ode.TOO_MANY_STEPS]


@pytest.mark.parametrize("name", NAMES)
def test_tasks_are_available(name: str) -> None:
    task = get_task(name)
    assert task.available and task.unavailable_reason is None
    x = task.simulate(task.prior.sample((4,)))
    assert x.shape == (4, task.x_dim) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert task.simulate(torch.zeros(0, task.theta_dim)).shape == (0, task.x_dim)


@pytest.mark.parametrize("module", [sir, lotka_volterra])
def test_docstring_examples_run(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


def test_sbibm_definitions() -> None:
    sir_task, lv_task = get_task("sir"), get_task("lotka_volterra")
    assert sir_task.times == tuple(float(t) for t in range(0, 154, 17)) and sir_task.t_end == 160.0
    assert sir_task.y0 == (999_999.0, 1.0)
    assert sir_task.prior.base_dist.loc.tolist() == pytest.approx([math.log(0.4), math.log(0.125)], rel=1e-7)
    assert sir_task.prior.base_dist.scale.tolist() == pytest.approx([0.5, 0.2], rel=1e-7)
    assert lv_task.times == pytest.approx([2.1 * k for k in range(10)], abs=1e-14) and lv_task.t_end == 20.0
    assert lv_task.y0 == (30.0, 1.0)
    assert lv_task.prior.base_dist.loc.tolist() == [-0.125, -3.0, -0.125, -3.0]
    assert lv_task.prior.base_dist.scale.tolist() == [0.5] * 4
    # sbibm's subsampling: the saved grid (daily / every 0.1) taken every 17th / 21st point
    assert sir_task.times == tuple(range(161))[::17] and len(lv_task.times) == len(range(201)[::21])


@pytest.mark.parametrize("name", NAMES)
def test_solution_matches_an_independent_reference_solve(name: str) -> None:
    task: StoredSbibmTask = get_task(name)
    theta = torch.cat(
        [task.prior.sample((12,)), torch.stack([task.true_parameters(i) for i in range(1, 11)])]
    )
    ours, ref = task.solve(theta).y, reference_solve(name, theta)
    relative = (ours / ref - 1).abs() * (ref > 1e-12)
    assert relative.max() < 1e-6, f"{name}: max relative error {relative.max():.2e}"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_bit_identical_simulations(name: str) -> None:
    task = get_task(name)
    theta = task.prior.sample((100,))
    torch.manual_seed(7)
    first = task.simulate(theta)
    torch.manual_seed(7)
    assert torch.equal(task.simulate(theta), first)
    assert torch.equal(task.noise_free(theta[:5]), task.noise_free(theta)[:5])


def test_lotka_volterra_regenerates_sbibm_observations_from_its_seeds() -> None:
    task = get_task("lotka_volterra")
    seeds = [1000020, 1000030, 1000034, 1000013, 1000004, 1000011, 1000012, 1000039, 1000041, 1000009]
    for i, seed in enumerate(seeds, start=1):
        torch.manual_seed(seed)
        x = task.simulate(task.prior.sample((1,)))[0]
        assert torch.allclose(x, task.observation(i), rtol=2e-6, atol=0), f"observation {i}"


@pytest.mark.parametrize("name", NAMES)
def test_likelihood_is_far_higher_at_reference_samples_than_at_prior_samples(name: str) -> None:
    task: StoredSbibmTask = get_task(name)
    at_prior = task.noise_free(task.prior.sample((200,)))
    references = torch.cat([task.reference_samples(i)[:200] for i in range(1, 11)])
    at_references = task.noise_free(references).split(200)  # one batched solve for all observations
    for i, at_reference in enumerate(at_references, start=1):
        x_o = task.observation(i)
        median_reference = task.noise(at_reference).log_prob(x_o).median()
        median_prior = task.noise(at_prior).log_prob(x_o).median()
        assert median_reference - median_prior > 100, f"{name} obs {i}: {median_reference} vs {median_prior}"


def test_failed_solves_are_nan_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    task: StoredSbibmTask = get_task("lotka_volterra")
    monkeypatch.setattr(task, "tolerances", ode.Tolerances(max_steps=30))
    theta = task.prior.sample((50,))
    with pytest.warns(
        SimulationFailureWarning, match=r"lotka_volterra: \d+ of 50 solves failed \(\d+ too many"
    ):
        x = task.simulate(theta)
    failed = ~torch.isfinite(x).all(-1)
    assert failed.any() and torch.isnan(x[failed]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulationFailureWarning)
        log_lik = task.log_likelihood(theta, task.observation(1))
    assert torch.equal(torch.isneginf(log_lik), failed)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("i", [1, 2, 3])
def test_likelihood_posterior_matches_sbibm_reference(name: str, i: int) -> None:
    task: StoredSbibmTask = get_task(name)
    x_o = task.observation(i)
    loc, scale = task.prior.base_dist.loc, task.prior.base_dist.scale
    result = sample_posterior(lambda theta: task.log_likelihood(theta, x_o), loc, scale, seed=i)
    score = c2st(task.reference_samples(i), result.samples)
    assert score <= 0.55, f"{name} observation {i}: C2ST {score:.3f}"
