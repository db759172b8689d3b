"""Toy task and methods with closed forms, registered for the runner, report and CLI tests.

``toy_gaussian``: theta ~ N(0, I_2), x = theta + N(0, 0.5^2 I_2); the posterior is Gaussian with
mean x / (1 + 0.25) and variance 0.25 / 1.25 per dimension. ``toy_exact`` samples that posterior exactly,
``toy_crash`` fails to fit, ``toy_nan`` is a task whose simulator fails on a third of the rows,
``toy_unavailable`` one that cannot simulate here. For the scale-out tests: ``toy_slow`` is
``toy_exact`` with a fit that takes a moment, ``toy_nan_samples`` a posterior that returns NaN,
``toy_exit`` a fit that ends its process abruptly (as an out-of-memory kill would), ``toy_all_nan`` a task
whose every simulation fails.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, MultivariateNormal

from fmbench.method import FitContext, FitCost, Method, MethodConfig, Posterior, setting
from fmbench.plugins import load_builtins
from fmbench.registry import METHODS, TASKS
from fmbench.task import Task

NOISE = 0.5
SHRINK = 1.0 / (1.0 + NOISE**2)


def exact_posterior(x_o: Tensor) -> MultivariateNormal:
    """The toy task's posterior given ``x_o`` ``(2,)``."""
    return MultivariateNormal(SHRINK * x_o, NOISE**2 * SHRINK * torch.eye(2))


class ToyGaussian(Task):
    name = "toy_gaussian"
    theta_dim = 2
    x_dim = 2
    labels = ["a", "b"]
    num_observations = 10

    @property
    def prior(self) -> Distribution:
        return MultivariateNormal(torch.zeros(2), torch.eye(2))

    def _simulate(self, theta: Tensor) -> Tensor:
        return theta + NOISE * torch.randn_like(theta)

    def true_parameters(self, i: int) -> Tensor:
        self.check_observation(i)
        return torch.tensor([0.3 * i - 1.5, 1.0 - 0.2 * i])

    def observation(self, i: int) -> Tensor:
        return self.true_parameters(i) + 0.1

    def reference_samples(self, i: int) -> Tensor:
        generator = torch.Generator().manual_seed(1000 + i)
        post = exact_posterior(self.observation(i))
        return post.mean + torch.randn(2000, 2, generator=generator) @ post.scale_tril.T


class ToyNan(ToyGaussian):
    name = "toy_nan"

    def _simulate(self, theta: Tensor) -> Tensor:
        x = super()._simulate(theta)
        x[::3] = float("nan")
        return x


class ToyAllNan(ToyGaussian):
    name = "toy_all_nan"

    def _simulate(self, theta: Tensor) -> Tensor:
        return torch.full_like(theta, float("nan"))


class ToyUnavailable(ToyGaussian):
    name = "toy_unavailable"

    @property
    def unavailable_reason(self) -> str | None:
        return "its simulator needs a licence this machine lacks"


@dataclass(frozen=True)
class ToyConfig(MethodConfig):
    scale: float = setting(1.0, "multiplies the posterior's spread")


class ExactPosterior(Posterior):
    has_log_prob = True

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.weights = torch.tensor([scale])  # a number it holds, as a fitted network does (its fit_id)

    @property
    def cost(self) -> FitCost:
        return FitCost(epochs=0, num_parameters=0, passes_per_sample=0.0)

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        post = exact_posterior(x_o)
        return post.mean + self.scale * torch.randn(n, 2) @ post.scale_tril.T

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        return exact_posterior(x_o).log_prob(theta)


class ToyExact(Method):
    Config = ToyConfig
    description = "exact posterior of toy_gaussian (tests only)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        self.seen = (theta.clone(), x.clone())
        return ExactPosterior(self.config.scale)


class ToyCrash(Method):
    Config = ToyConfig
    description = "always fails to fit (tests only)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        raise RuntimeError("diverged on purpose")


class ToySlow(ToyExact):
    Config = ToyConfig
    description = "toy_exact with a fit that takes 0.4 s (tests only)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        time.sleep(0.4)
        return super().fit(theta, x, prior, context)


class NanPosterior(ExactPosterior):
    def sample(self, n: int, x_o: Tensor) -> Tensor:
        return torch.full((n, 2), float("nan"))


class ToyNanSamples(Method):
    Config = ToyConfig
    description = "a posterior whose samples are all NaN (tests only)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        return NanPosterior(self.config.scale)


class ToyExit(Method):
    Config = ToyConfig
    description = "ends its process abruptly while fitting (tests only)"

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        os._exit(3)


TOY_METHODS = ("toy_exact", "toy_crash", "toy_slow", "toy_nan_samples", "toy_exit")


def register() -> None:
    """Registers the toys once."""
    load_builtins()
    if "toy_gaussian" not in TASKS:
        TASKS.add("toy_gaussian", ToyGaussian)
        TASKS.add("toy_nan", ToyNan)
        TASKS.add("toy_unavailable", ToyUnavailable)
        TASKS.add("toy_all_nan", ToyAllNan)
        METHODS.add("toy_exact", ToyExact)
        METHODS.add("toy_crash", ToyCrash)
        METHODS.add("toy_slow", ToySlow)
        METHODS.add("toy_nan_samples", ToyNanSamples)
        METHODS.add("toy_exit", ToyExit)
