"""The prior's support in the protocol: samples outside it (or not finite) are rejected for every method
alike (sbi's default) and the rejected fraction is recorded; :class:`SupportPosterior` applies the same
rejection to a posterior used elsewhere (the held-out coverage)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution

from fmbench.method import FitCost, Posterior


def within_support(prior: Distribution, theta: Tensor) -> Tensor:
    """Boolean mask ``(N,)``: rows of ``theta`` ``(N, D)`` that are finite and inside the prior's support."""
    inside = prior.support.check(theta)
    if inside.ndim == theta.ndim:
        inside = inside.all(dim=-1)
    return inside & torch.isfinite(theta).all(dim=-1)


class SamplingError(RuntimeError):
    """Too few of a posterior's samples fall inside the prior's support.

    Attributes:
        unrejected: The first ``n`` samples drawn, before any rejection, for a caller that can use them.
    """

    def __init__(self, message: str, unrejected: Tensor) -> None:
        super().__init__(message)
        self.unrejected = unrejected


@dataclass(frozen=True)
class SupportSamples:
    """Samples inside the prior's support.

    Attributes:
        samples: ``(n, theta_dim)`` accepted samples.
        rejected_fraction: Fraction of all drawn samples that were outside the support or non-finite.
        drawn: Number of samples drawn in all.
    """

    samples: Tensor
    rejected_fraction: float
    drawn: int


def sample_within_prior(
    posterior: Posterior, prior: Distribution, n: int, x_o: Tensor, min_acceptance: float = 0.01
) -> SupportSamples:
    """Draws from ``posterior`` given ``x_o`` until ``n`` samples lie inside ``prior``'s support.

    Raises:
        SamplingError: the acceptance rate falls below ``min_acceptance`` (after at least ``n`` draws).
    """
    accepted: list[Tensor] = []
    have, drawn, nonfinite = 0, 0, 0
    first = torch.empty(0)
    while have < n:
        rate = have / drawn if drawn else 1.0
        if drawn >= n and rate < min_acceptance:
            message = f"only {rate:.2%} of {drawn} samples fell inside the prior's support"
            if nonfinite:
                message += f"; {nonfinite} of them were NaN or infinite"
            raise SamplingError(message, unrejected=first)
        ask = n if drawn == 0 else min(int((n - have) / max(rate, min_acceptance) * 1.2) + 16, 10 * n)
        batch = posterior.sample(ask, x_o).detach().to("cpu", torch.float32)
        if drawn == 0:
            first = batch
        finite = torch.isfinite(batch).all(dim=-1)
        nonfinite += int((~finite).sum())
        keep = batch[finite & within_support(prior, batch)]
        accepted.append(keep)
        have += keep.shape[0]
        drawn += ask
    samples = torch.cat(accepted)[:n]
    return SupportSamples(samples=samples, rejected_fraction=1.0 - have / drawn, drawn=drawn)


class SupportPosterior(Posterior):
    """A posterior whose samples are rejected outside the prior's support, as in the protocol; where that
    fails (:class:`SamplingError`), its unrejected samples. ``rejected`` records, per :meth:`sample` call,
    whether the rejection applied."""

    def __init__(self, posterior: Posterior, prior: Distribution) -> None:
        self._posterior = posterior
        self._prior = prior
        self.has_log_prob = posterior.has_log_prob  # type: ignore[misc]
        self.rejected: list[bool] = []

    @property
    def cost(self) -> FitCost:
        return self._posterior.cost

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        try:
            samples = sample_within_prior(self._posterior, self._prior, n, x_o).samples
        except SamplingError as err:
            if not torch.isfinite(err.unrejected).all():
                raise  # NaN samples have no rank: the fit's coverage fails rather than read as all-zero
            self.rejected.append(False)
            return err.unrejected
        self.rejected.append(True)
        return samples

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        return self._posterior.log_prob(theta, x_o)
