"""The sbibm tasks whose simulators run here, wrapped behind the :class:`~fmbench.task.Task` contract.

Names, priors, simulators, observations and reference posteriors are sbibm 1.1.0's own. One repair:
sbibm's slcp_distractors simulator ``torch.load``s a pickled mixture model, which torch >= 2.6 refuses
under its ``weights_only=True`` default; we load that trusted, package-shipped file with
``weights_only=False`` for the duration of the call only.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from fmbench.registry import TASKS
from fmbench.task import Task

#: The sbibm tasks simulated through sbibm itself (sir and lotka_volterra live in julia_free.py).
SBIBM_TASKS = (
    "two_moons",
    "gaussian_linear",
    "gaussian_linear_uniform",
    "gaussian_mixture",
    "slcp",
    "slcp_distractors",
    "bernoulli_glm",
    "bernoulli_glm_raw",
)


@contextlib.contextmanager
def _trusted_torch_load() -> Iterator[None]:
    """Within the block, ``torch.load`` defaults to ``weights_only=False`` (sbibm's own shipped files)."""
    original = torch.load

    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


class SbibmTask(Task):
    """A task simulated by sbibm 1.1.0.

    Args:
        name: The sbibm task name.
    """

    def __init__(self, name: str) -> None:
        import sbibm  # deferred: importing sbibm is slow

        self.name = name
        self._task = sbibm.get_task(name)
        self.theta_dim = int(self._task.dim_parameters)
        self.x_dim = int(self._task.dim_data)
        self.num_observations = int(self._task.num_observations)
        self.labels = list(self._task.get_labels_parameters())
        self._simulator = self._task.get_simulator()

    @functools.cached_property
    def prior(self) -> Distribution:
        return self._task.get_prior_dist()

    def _simulate(self, theta: Tensor) -> Tensor:
        with _trusted_torch_load():
            return self._simulator(theta)

    def observation(self, i: int) -> Tensor:
        self.check_observation(i)
        return self._task.get_observation(num_observation=i).reshape(-1)

    def true_parameters(self, i: int) -> Tensor:
        self.check_observation(i)
        return self._task.get_true_parameters(num_observation=i).reshape(-1)

    def reference_samples(self, i: int) -> Tensor:
        self.check_observation(i)
        return self._task.get_reference_posterior_samples(num_observation=i)


for _name in SBIBM_TASKS:
    TASKS.add(_name, functools.partial(SbibmTask, _name))
