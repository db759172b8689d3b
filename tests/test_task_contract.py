"""The Task contract, checked on every registered task."""

from __future__ import annotations

import pytest
import torch

from fmbench.registry import get_task, task_names
from fmbench.run.support import within_support
from fmbench.task import TaskUnavailableError

SBIBM_NAMES = {
    "two_moons",
    "gaussian_linear",
    "gaussian_linear_uniform",
    "gaussian_mixture",
    "slcp",
    "slcp_distractors",
    "bernoulli_glm",
    "bernoulli_glm_raw",
    "sir",
    "lotka_volterra",
}


def test_the_ten_sbibm_tasks_are_registered_under_their_names() -> None:
    assert SBIBM_NAMES <= set(task_names())


@pytest.mark.parametrize("name", task_names())
def test_task_contract(name: str) -> None:
    task = get_task(name)
    info = task.info()
    assert info.name == name and task.num_observations == 10
    assert len(task.labels) == task.theta_dim
    theta = task.prior.sample((5,))
    assert theta.shape == (5, task.theta_dim)
    assert within_support(task.prior, theta).all()
    for i in (1, task.num_observations):
        assert task.observation(i).shape == (task.x_dim,)
        assert task.true_parameters(i).shape == (task.theta_dim,)
        reference = task.reference_samples(i)
        assert reference.shape[1] == task.theta_dim and reference.shape[0] >= 1000
        assert torch.isfinite(reference).all()
    with pytest.raises(ValueError, match="observation must be in 1..10"):
        task.observation(11)
    if task.available:
        x = task.simulate(theta)
        assert x.shape == (5, task.x_dim) and x.dtype == torch.float32
    else:
        assert info.reason
        with pytest.raises(TaskUnavailableError, match=name):
            task.simulate(theta)


def test_simulate_checks_the_shape_of_theta() -> None:
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 2\)"):
        get_task("two_moons").simulate(torch.zeros(3, 5))


def test_slcp_distractors_simulates_despite_weights_only() -> None:
    task = get_task("slcp_distractors")
    assert task.simulate(task.prior.sample((2,))).shape == (2, 100)
