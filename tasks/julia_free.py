"""sbibm's sir and lotka_volterra tasks, whose sbibm simulators need Julia (diffeqtorch).

Priors, observations and reference posteriors are sbibm 1.1.0's own (read from its files). The
simulators are replaced by Julia-free ones; until a task has one, it is listed as unavailable with the
reason, and asking it to simulate raises :class:`~fmbench.task.TaskUnavailableError`.
"""

from __future__ import annotations

import math

import torch
from pyro import distributions as pdist
from torch import Tensor
from torch.distributions import Distribution

from fmbench.registries import TASKS
from fmbench.task import Task, TaskUnavailableError
from fmbench.tasks import sbibm_files

NO_SIMULATOR = (
    "sbibm simulates it through Julia (diffeqtorch), which does not install here, "
    "and fmbench's Julia-free simulator is not written yet"
)


class StoredSbibmTask(Task):
    """A task whose prior we define and whose observations and references come from sbibm's files."""

    _prior_loc: tuple[float, ...]
    _prior_scale: tuple[float, ...]

    @property
    def prior(self) -> Distribution:
        loc = torch.tensor(self._prior_loc)
        scale = torch.tensor(self._prior_scale)
        return pdist.LogNormal(loc, scale).to_event(1)

    @property
    def unavailable_reason(self) -> str | None:
        return NO_SIMULATOR

    def _simulate(self, theta: Tensor) -> Tensor:
        raise TaskUnavailableError(f"task {self.name!r} is unavailable: {NO_SIMULATOR}")

    def observation(self, i: int) -> Tensor:
        self.check_observation(i)
        return sbibm_files.observation(self.name, i)

    def true_parameters(self, i: int) -> Tensor:
        self.check_observation(i)
        return sbibm_files.true_parameters(self.name, i)

    def reference_samples(self, i: int) -> Tensor:
        self.check_observation(i)
        return sbibm_files.reference_samples(self.name, i)


@TASKS.register("sir")
class SIR(StoredSbibmTask):
    """SIR epidemic model (sbibm): contact rate beta and recovery rate gamma; 10 subsampled counts."""

    name = "sir"
    theta_dim = 2
    x_dim = 10
    labels = ["beta", "gamma"]
    _prior_loc = (math.log(0.4), math.log(0.125))
    _prior_scale = (0.5, 0.2)


@TASKS.register("lotka_volterra")
class LotkaVolterra(StoredSbibmTask):
    """Lotka-Volterra predator-prey model (sbibm): four rates; 20 subsampled population counts."""

    name = "lotka_volterra"
    theta_dim = 4
    x_dim = 20
    labels = ["alpha", "beta", "gamma", "delta"]
    _prior_loc = (-0.125, -3.0, -0.125, -3.0)
    _prior_scale = (0.5, 0.5, 0.5, 0.5)
