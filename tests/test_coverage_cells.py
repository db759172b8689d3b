"""Calibration on held-out pairs: a pair whose posterior lies outside the prior is ranked, not fatal."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Independent, Uniform

from fmbench.coverage import expected_coverage
from fmbench.method import FitCost, Posterior
from fmbench.run.support import SupportPosterior


class _ShiftedByX(Posterior):
    """Samples N(x, 0.1^2): inside the unit-box prior for x = 0.5, entirely outside it for x = 5."""

    @property
    def cost(self) -> FitCost:
        return FitCost()

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        return x_o + 0.1 * torch.randn(n, 1)


def test_a_pair_outside_the_prior_is_ranked_on_unrejected_samples_and_flagged() -> None:
    prior = Independent(Uniform(torch.zeros(1), torch.ones(1)), 1)
    support = SupportPosterior(_ShiftedByX(), prior)
    theta = torch.tensor([[0.3], [0.5], [0.7]])
    x = torch.tensor([[0.3], [5.0], [0.7]])
    curve = expected_coverage(support, theta, x, num_samples=200, seed=1)
    assert support.rejected == [True, False, True]
    assert curve.num_pairs == 3
    # TARP's reference points lie among the true values, so every sample of the misplaced posterior is
    # farther from its reference than the truth: the most extreme rank
    assert curve.ranks[1] == 0.0
