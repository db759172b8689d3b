"""The Task contract: a simulator, its prior, and the benchmark's observations and reference posteriors.

Every task, whether it wraps sbibm or is implemented here, goes through this one door. Observations are
numbered 1..``num_observations`` as in sbibm (Lueckmann et al., AISTATS 2021).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent


class TaskUnavailableError(RuntimeError):
    """Raised when a task that cannot run here (a missing simulator) is asked to simulate."""


@dataclass(frozen=True)
class TaskInfo:
    """What ``fmbench tasks`` prints about a task."""

    name: str
    theta_dim: int
    x_dim: int
    prior: str
    num_observations: int
    available: bool
    reason: str


class Task(ABC):
    """A benchmark task.

    Subclasses set ``name``, ``theta_dim``, ``x_dim``, ``labels`` and ``num_observations`` and implement
    the abstract methods. Shapes: ``theta`` is ``(N, theta_dim)``, ``x`` is ``(N, x_dim)``, an observation
    is ``(x_dim,)``.
    """

    name: str
    theta_dim: int
    x_dim: int
    labels: list[str]
    num_observations: int = 10

    @property
    @abstractmethod
    def prior(self) -> Distribution:
        """The prior over theta, a torch distribution with a ``support``."""

    @abstractmethod
    def _simulate(self, theta: Tensor) -> Tensor:
        """Simulates ``x`` of shape ``(N, x_dim)`` for ``theta`` of shape ``(N, theta_dim)``."""

    @abstractmethod
    def observation(self, i: int) -> Tensor:
        """The observation ``x_o`` number ``i`` (1-based), shape ``(x_dim,)``."""

    @abstractmethod
    def true_parameters(self, i: int) -> Tensor:
        """The parameters that generated observation ``i``, shape ``(theta_dim,)``."""

    @abstractmethod
    def reference_samples(self, i: int) -> Tensor:
        """Reference posterior samples for observation ``i``, shape ``(10000, theta_dim)``."""

    @property
    def available(self) -> bool:
        """Whether the task can simulate on this machine."""
        return self.unavailable_reason is None

    @property
    def unavailable_reason(self) -> str | None:
        """Why the task cannot simulate here, or ``None`` when it can."""
        return None

    def simulate(self, theta: Tensor) -> Tensor:
        """Simulates a batch: ``theta`` ``(N, theta_dim)`` -> ``x`` ``(N, x_dim)``, float32.

        Raises:
            TaskUnavailableError: the task's simulator cannot run here.
            ValueError: ``theta`` does not have shape ``(N, theta_dim)``.
        """
        if not self.available:
            raise TaskUnavailableError(f"task {self.name!r} is unavailable: {self.unavailable_reason}")
        if theta.ndim != 2 or theta.shape[1] != self.theta_dim:
            raise ValueError(
                f"{self.name}: theta must have shape (N, {self.theta_dim}), got {tuple(theta.shape)}"
            )
        x = self._simulate(theta)
        return x.to(torch.float32).reshape(theta.shape[0], self.x_dim)

    def check_observation(self, i: int) -> None:
        """Raises ``ValueError`` unless ``1 <= i <= num_observations``."""
        if not 1 <= i <= self.num_observations:
            raise ValueError(f"{self.name}: observation must be in 1..{self.num_observations}, got {i}")

    def info(self) -> TaskInfo:
        """A summary for listings."""
        return TaskInfo(
            name=self.name,
            theta_dim=self.theta_dim,
            x_dim=self.x_dim,
            prior=describe_prior(self.prior),
            num_observations=self.num_observations,
            available=self.available,
            reason=self.unavailable_reason or "",
        )


def describe_prior(prior: Distribution) -> str:
    """A short human-readable name of a prior, e.g. ``Uniform`` or ``MultivariateNormal``."""
    base = prior
    while isinstance(base, Independent):
        base = base.base_dist
    return type(base).__name__
