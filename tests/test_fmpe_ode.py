"""Closed-form checks of fmbench.fmpe.ode: transport, densities, solver convergence, pass counting.

The vector fields here have known flows. ``affine``: theta_t = c_t z + t m with c_t = 1 + (s - 1) t, so
N(0, I) goes to N(m, diag(s^2)). ``banana``: theta_t = (c_t z_1 + t m_1, c_t z_2 + t^2 b z_1^2) (curved in
t, so fixed-step solvers have an error), whose law at t = 1 has density N(z_1) N(z_2) / s^2 with
z_1 = (theta_1 - m_1) / s and z_2 = (theta_2 - b z_1^2) / s.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from fmbench.fmpe.ode import (
    FIXED_STEP_STAGES,
    OdeSettings,
    flow_log_prob,
    sample_flow,
    standard_normal_log_prob,
)
from fmbench.metrics import c2st

M = torch.tensor([1.0, -2.0])
S = 0.5
B = 0.8
TIGHT = OdeSettings("dopri5", atol=1e-8, rtol=1e-8)


def affine(t: Tensor, theta: Tensor) -> Tensor:
    c = 1 + (S - 1) * t
    z = (theta - t * M) / c
    return (S - 1) * z + M


def banana(t: Tensor, theta: Tensor) -> Tensor:
    c = 1 + (S - 1) * t
    z1 = (theta[:, 0] - t * M[0]) / c
    z2 = (theta[:, 1] - t**2 * B * z1**2) / c
    return torch.stack(((S - 1) * z1 + M[0], (S - 1) * z2 + 2 * t * B * z1**2), dim=1)


def banana_samples(n: int) -> Tensor:
    z = torch.randn(n, 2)
    return torch.stack((S * z[:, 0] + M[0], S * z[:, 1] + B * z[:, 0] ** 2), dim=1)


def banana_log_prob(theta: Tensor) -> Tensor:
    z1 = (theta[:, 0] - M[0]) / S
    z2 = (theta[:, 1] - B * z1**2) / S
    return standard_normal_log_prob(torch.stack((z1, z2), dim=1)) - 2 * math.log(S)


def affine_log_prob(theta: Tensor) -> Tensor:
    return standard_normal_log_prob((theta - M) / S) - 2 * math.log(S)


def test_affine_flow_transports_to_target_moments() -> None:
    torch.manual_seed(0)
    out = sample_flow(affine, torch.randn(10_000, 2), 1.0, OdeSettings("dopri5"))
    assert torch.allclose(out.theta.mean(0), M, atol=0.03), out.theta.mean(0)
    assert torch.allclose(out.theta.std(0), torch.full((2,), S), atol=0.03), out.theta.std(0)


def test_banana_flow_matches_exact_samples_by_c2st() -> None:
    torch.manual_seed(1)
    flowed = sample_flow(banana, torch.randn(1000, 2), 1.0, OdeSettings("rk4", steps=20)).theta
    assert c2st(banana_samples(1000), flowed) < 0.56


@pytest.mark.parametrize("field, exact", [(affine, affine_log_prob), (banana, banana_log_prob)])
def test_log_prob_matches_closed_form(field, exact) -> None:  # noqa: ANN001
    torch.manual_seed(2)
    theta = banana_samples(200) if field is banana else M + S * torch.randn(200, 2)
    got = flow_log_prob(field, theta, 1.0, TIGHT).log_prob
    assert torch.allclose(got, exact(theta), atol=1e-4), (got - exact(theta)).abs().max()


def test_log_prob_integrates_to_one_on_a_grid() -> None:
    a, b = torch.linspace(-2.5, 4.5, 101), torch.linspace(-3.0, 8.0, 141)
    grid = torch.cartesian_prod(a, b)
    density = flow_log_prob(banana, grid, 1.0, OdeSettings("rk4", steps=16)).log_prob.exp()
    mass = density.sum() * (a[1] - a[0]) * (b[1] - b[0])
    assert abs(mass.item() - 1.0) < 0.01, mass


def test_hutchinson_is_exact_for_a_diagonal_jacobian_and_unbiased_otherwise() -> None:
    torch.manual_seed(3)
    theta = M + S * torch.randn(100, 2)
    hutch = flow_log_prob(affine, theta, 1.0, TIGHT, divergence="hutchinson").log_prob
    assert torch.allclose(hutch, affine_log_prob(theta), atol=1e-4)
    theta = banana_samples(4000)
    error = flow_log_prob(banana, theta, 1.0, OdeSettings("rk4", steps=20), divergence="hutchinson").log_prob
    error = error - banana_log_prob(theta)
    assert error.abs().max() > 1e-3  # it is an estimate ...
    assert abs(error.mean().item()) < 3 * error.std().item() / math.sqrt(len(error)) + 1e-3  # ... unbiased


@pytest.mark.parametrize("solver", sorted(FIXED_STEP_STAGES))
def test_fixed_step_solvers_converge_to_the_adaptive_answer(solver: str) -> None:
    torch.manual_seed(4)
    theta_0 = torch.randn(500, 2, dtype=torch.float64)  # float64: the errors fall below float32's
    reference = sample_flow(banana, theta_0, 1.0, TIGHT).theta
    errors = [
        (sample_flow(banana, theta_0, 1.0, OdeSettings(solver, steps=k)).theta - reference).abs().max().item()
        for k in (2, 8, 32)
    ]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < {"euler": 0.2, "midpoint": 1e-2, "rk4": 1e-5}[solver], errors


@pytest.mark.parametrize("solver, steps", [("euler", 7), ("midpoint", 5), ("rk4", 3)])
def test_fixed_step_passes_are_counted(solver: str, steps: int) -> None:
    settings = OdeSettings(solver, steps=steps)
    out = sample_flow(affine, torch.randn(10, 2), 1.0, settings)
    assert out.evaluations == settings.passes == FIXED_STEP_STAGES[solver] * steps


def test_adaptive_passes_are_counted_and_grow_with_tolerance() -> None:
    theta_0 = torch.randn(100, 2)
    loose = sample_flow(banana, theta_0, 1.0, OdeSettings("dopri5", atol=1e-3, rtol=1e-3)).evaluations
    tight = sample_flow(banana, theta_0, 1.0, TIGHT).evaluations
    assert 0 < loose < tight
    assert OdeSettings("dopri5").passes is None


def test_unknown_solver_and_divergence_are_rejected() -> None:
    with pytest.raises(ValueError, match="solver"):
        OdeSettings("heun")
    with pytest.raises(ValueError, match="divergence"):
        flow_log_prob(affine, torch.zeros(1, 2), 1.0, TIGHT, divergence="trace")
