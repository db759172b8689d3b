"""A minimal plugin package: ``prior_guess`` answers every observation with the prior.

Installed (``pip install examples/entry_point_plugin``), it is found through the ``fmbench.plugins``
entry point declared in ``pyproject.toml``: ``fmbench methods`` lists it and ``fmbench run --methods
prior_guess ...`` runs it, with no ``--plugin`` flag. It ignores the data, so its C2ST is the floor any
method should beat.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.distributions import Distribution

from fmbench import METHODS, FitContext, Method, MethodConfig, Posterior


@dataclass(frozen=True)
class PriorGuessConfig(MethodConfig):
    """No settings."""


class PriorPosterior(Posterior):
    """The prior, whatever the observation; its density is the prior's."""

    def __init__(self, prior: Distribution) -> None:
        self.prior = prior

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        return self.prior.sample((n,))

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        return self.prior.log_prob(theta)


@METHODS.register("prior_guess")
class PriorGuess(Method):
    """Returns the prior: no training."""

    Config = PriorGuessConfig
    description = "the prior as the posterior, ignoring x (examples/entry_point_plugin)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        return PriorPosterior(prior)
