"""MMD, NLTP and coverage against closed forms (conjugate Gaussian model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from fmbench.coverage import CoverageCurve, coverage_curve, expected_coverage, hpd_ranks, plot_coverage
from fmbench.method import FitCost, Posterior
from fmbench.metrics import mean_nltp, mmd, nltp

NOISE = (
    0.5  # x = theta + NOISE * eps, theta ~ N(0, I): posterior N(x / (1 + NOISE^2), NOISE^2 / (1 + NOISE^2) I)
)


class ConjugateGaussian(Posterior):
    """The exact posterior of the conjugate model, optionally with its standard deviation scaled."""

    has_log_prob = True

    def __init__(self, dim: int, scale: float = 1.0) -> None:
        self.dim, self.scale = dim, scale

    @property
    def cost(self) -> FitCost:
        return FitCost()

    def _dist(self, x_o: Tensor) -> Independent:
        std = NOISE / math.sqrt(1 + NOISE**2) * self.scale
        return Independent(Normal(x_o / (1 + NOISE**2), std * torch.ones(self.dim)), 1)

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        return self._dist(x_o).sample((n,))

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        return self._dist(x_o).log_prob(theta)


class SamplesOnly(ConjugateGaussian):
    has_log_prob = False

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        raise NotImplementedError


def prior_predictive(n: int, dim: int) -> tuple[Tensor, Tensor]:
    theta = torch.randn(n, dim)
    return theta, theta + NOISE * torch.randn(n, dim)


# --- MMD ---------------------------------------------------------------------------------------------


def test_mmd_of_one_distribution_is_near_zero() -> None:
    a, b = torch.randn(2000, 3), torch.randn(2000, 3)
    assert abs(mmd(a, b)) < 5e-3


def test_mmd_grows_with_the_shift() -> None:
    a = torch.randn(1000, 2)
    small, large = mmd(a, torch.randn(1000, 2) + 0.5), mmd(a, torch.randn(1000, 2) + 3.0)
    assert 0.02 < small < large
    assert large > 0.5


def test_mmd_matches_sbibm_and_does_not_depend_on_the_block_size() -> None:
    from sbibm.metrics.mmd import mmd as sbibm_mmd

    a, b = torch.randn(700, 4), 0.3 + 1.2 * torch.randn(500, 4)
    ours = mmd(a, b, block=128)
    assert ours == pytest.approx(mmd(a, b, block=4096), abs=1e-6)
    assert ours == pytest.approx(float(sbibm_mmd(a, b)), abs=1e-5)
    assert mmd(a, b, bandwidth="both", z_score=True) == pytest.approx(
        float(sbibm_mmd(a, b, bandwidth="XY", z_score=True)), abs=1e-5
    )


def test_mmd_rejects_bad_input_and_propagates_nan() -> None:
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(torch.randn(5, 2), torch.randn(5, 2), bandwidth="x")
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        mmd(torch.randn(5, 2), torch.randn(5, 3))
    bad = torch.randn(5, 2)
    bad[0, 0] = float("nan")
    assert math.isnan(mmd(torch.randn(5, 2), bad))


# --- NLTP --------------------------------------------------------------------------------------------


def test_nltp_equals_the_gaussian_closed_form() -> None:
    dim = 3
    posterior, x_o, theta = (
        ConjugateGaussian(dim),
        torch.tensor([0.4, -1.0, 2.0]),
        torch.tensor([0.0, -0.5, 1.0]),
    )
    mean, var = x_o / (1 + NOISE**2), NOISE**2 / (1 + NOISE**2)
    expected = 0.5 * (dim * math.log(2 * math.pi * var) + float(((theta - mean) ** 2).sum()) / var)
    assert nltp(posterior, theta, x_o) == pytest.approx(expected, rel=1e-5)
    assert mean_nltp(posterior, theta.repeat(4, 1), x_o.repeat(4, 1)) == pytest.approx(expected, rel=1e-5)


def test_nltp_needs_a_density() -> None:
    with pytest.raises(ValueError, match="no log_prob"):
        nltp(SamplesOnly(2), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(D,\)"):
        nltp(ConjugateGaussian(2), torch.zeros(1, 2), torch.zeros(2))


# --- coverage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tarp", "hpd"])
def test_exact_posterior_is_calibrated(method: str) -> None:
    theta, x = prior_predictive(600, 2)
    curve = expected_coverage(ConjugateGaussian(2), theta, x, num_samples=200, method=method)
    # Kolmogorov-Smirnov: P(max deviation of 600 uniform ranks > 0.067) is about 1 %.
    assert curve.max_deviation < 0.067, (method, curve.coverage)
    assert curve.num_pairs == 600 and curve.num_samples == 200 and curve.method == method


@pytest.mark.parametrize("method", ["tarp", "hpd"])
def test_overconfident_posterior_lies_below_the_diagonal(method: str) -> None:
    theta, x = prior_predictive(500, 2)
    curve = expected_coverage(ConjugateGaussian(2, scale=0.5), theta, x, num_samples=200, method=method)
    assert curve.max_deviation > 0.15, (method, curve.coverage)
    if method == "hpd":  # TARP's curve of a well-centred overconfident posterior is S-shaped, not below.
        assert curve.signed_area < -0.05


def test_hpd_needs_a_density_and_tarp_does_not() -> None:
    theta, x = prior_predictive(20, 2)
    with pytest.raises(ValueError, match="density"):
        expected_coverage(SamplesOnly(2), theta, x, method="hpd")
    with pytest.raises(ValueError, match="unknown coverage method"):
        expected_coverage(SamplesOnly(2), theta, x, method="sbc")
    assert expected_coverage(SamplesOnly(2), theta, x, num_samples=10).coverage.shape == (21,)


def test_coverage_curve_counts_ranks_below_each_level() -> None:
    levels, cov = coverage_curve(np.array([0.0, 0.25, 0.5, 0.75]), np.array([0.0, 0.3, 1.0]))
    np.testing.assert_allclose(cov, [0.0, 0.5, 1.0])
    ranks = hpd_ranks(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([2.5]))
    assert float(ranks[0]) == 0.5


def test_plot_coverage_draws_one_line_per_method_and_the_diagonal() -> None:
    import matplotlib

    matplotlib.use("Agg")
    grid = np.linspace(0, 1, 5)
    curves = {
        name: CoverageCurve(grid, grid**p, np.zeros(3), "tarp", 10)
        for name, p in (("fmpe", 1.0), ("npe", 2.0))
    }
    ax = plot_coverage(curves, title="toy")
    assert len(ax.lines) == 3 and ax.get_title() == "toy"


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    # importlib: the package attribute ``fmbench.metrics.mmd`` is the function, not the module.
    assert doctest.testmod(importlib.import_module("fmbench.metrics.mmd")).failed == 0
