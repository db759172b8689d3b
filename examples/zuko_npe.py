"""A worked plugin: Neural Posterior Estimation with zuko's neural spline flow, written as a user would.

Load it with ``fmbench --plugin examples/zuko_npe.py run --methods zuko_npe ...``. What a method needs:

- a frozen ``MethodConfig`` dataclass of settings, each declared with ``setting(default, help)`` and checked
  in ``__post_init__`` (a bad ``--set`` value fails before anything runs);
- a ``Method`` with ``Config``, ``description`` and ``fit(theta, x, prior, context) -> Posterior``;
- a ``Posterior`` with ``sample(n, x_o)``; overriding ``log_prob`` gives it a density (NLTP and HPD
  coverage then use it), overriding ``cost`` reports epochs, parameters and network passes per sample.

The flow models q(theta | x) on z-scored theta and x; training maximises log q on the simulations with
Adam, stopping when the held-out split's loss has not improved for ``patience`` epochs (the weights of
the best epoch are kept).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import zuko
from torch import Tensor
from torch.distributions import Distribution

from fmbench import (
    METHODS,
    FitContext,
    FitCost,
    Method,
    MethodConfig,
    Posterior,
    count_parameters,
    require,
    setting,
)


@dataclass(frozen=True)
class ZukoNPEConfig(MethodConfig):
    """Settings of :class:`ZukoNPE`."""

    transforms: int = setting(3, "spline transforms of the flow")
    hidden_features: int = setting(64, "width of the two hidden layers of each transform's network")
    bins: int = setting(8, "spline bins")
    learning_rate: float = setting(1e-3, "Adam learning rate")
    batch_size: int = setting(128, "minibatch size")
    max_epochs: int = setting(500, "upper bound on training epochs")
    patience: int = setting(20, "epochs without a better validation loss before training stops")
    validation_fraction: float = setting(0.1, "fraction of the simulations held out for early stopping")

    def __post_init__(self) -> None:
        for name in ("transforms", "hidden_features", "bins", "batch_size", "max_epochs", "patience"):
            require(
                isinstance(getattr(self, name), int) and getattr(self, name) > 0,
                name,
                "must be a positive integer",
            )
        require(self.learning_rate > 0, "learning_rate", "must be positive")
        require(0 < self.validation_fraction < 1, "validation_fraction", "must lie in (0, 1)")

    @classmethod
    def smoke(cls) -> ZukoNPEConfig:
        """The cheapest settings (contract tests)."""
        return cls(transforms=1, hidden_features=16, max_epochs=2)


class Standardizer:
    """z-scores with the training set's mean and standard deviation."""

    def __init__(self, data: Tensor) -> None:
        self.mean = data.mean(0)
        self.std = data.std(0).clamp_min(1e-8)

    def __call__(self, data: Tensor) -> Tensor:
        return (data - self.mean) / self.std


class ZukoPosterior(Posterior):
    """q(theta | x_o) from the trained flow, in the original units of theta."""

    def __init__(
        self, flow: zuko.flows.Flow, theta_scale: Standardizer, x_scale: Standardizer, cost: FitCost
    ):
        self.flow = flow
        self.theta_scale = theta_scale
        self.x_scale = x_scale
        self._cost = cost

    @property
    def cost(self) -> FitCost:
        return self._cost

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        with torch.no_grad():
            z = self.flow(self.x_scale(x_o)).sample((n,))
        return z * self.theta_scale.std + self.theta_scale.mean

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        with torch.no_grad():
            log_q = self.flow(self.x_scale(x_o)).log_prob(self.theta_scale(theta))
        return log_q - self.theta_scale.std.log().sum()


@METHODS.register("zuko_npe")
class ZukoNPE(Method):
    """NPE with zuko's neural spline flow."""

    Config = ZukoNPEConfig
    description = "NPE with zuko's neural spline flow (examples/zuko_npe.py)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        c = self.config
        theta, x = theta.to(context.device), x.to(context.device)
        theta_scale, x_scale = Standardizer(theta), Standardizer(x)
        t, s = theta_scale(theta), x_scale(x)
        order = torch.randperm(len(t), device=t.device)
        n_val = max(1, int(c.validation_fraction * len(t)))
        val, train = order[:n_val], order[n_val:]
        flow = zuko.flows.NSF(
            t.shape[1],
            s.shape[1],
            bins=c.bins,
            transforms=c.transforms,
            hidden_features=[c.hidden_features] * 2,
        ).to(context.device)
        optimizer = torch.optim.Adam(flow.parameters(), lr=c.learning_rate)
        best, best_state, waited, epochs = float("inf"), copy.deepcopy(flow.state_dict()), 0, 0
        while epochs < c.max_epochs and waited < c.patience:
            epochs += 1
            for batch in train[torch.randperm(len(train), device=t.device)].split(c.batch_size):
                loss = -flow(s[batch]).log_prob(t[batch]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                val_loss = -flow(s[val]).log_prob(t[val]).mean().item()
            if val_loss < best:
                best, best_state, waited = val_loss, copy.deepcopy(flow.state_dict()), 0
            else:
                waited += 1
        flow.load_state_dict(best_state)
        # sampling inverts each autoregressive transform with one pass per dimension of theta
        passes = float(c.transforms * t.shape[1])
        cost = FitCost(epochs=epochs, num_parameters=count_parameters(flow), passes_per_sample=passes)
        return ZukoPosterior(flow.eval(), theta_scale, x_scale, cost)
