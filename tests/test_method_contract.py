"""The Method contract, checked on every registered method with its smoke settings."""

from __future__ import annotations

import pytest
import torch
from toys import TOY_METHODS

from fmbench.method import ConfigError, FitContext, Posterior
from fmbench.registry import METHODS, get_task, method_names
from fmbench.run.support import within_support

METHODS_UNDER_TEST = [name for name in method_names() if name not in TOY_METHODS]


@pytest.mark.parametrize("name", METHODS_UNDER_TEST)
def test_method_contract(name: str) -> None:
    task = get_task("two_moons")
    theta = task.prior.sample((300,))
    x = task.simulate(theta)
    cls = METHODS.get(name)
    method = cls(cls.Config.smoke())
    assert method.config.hash() == cls.Config.smoke().hash()
    theta_before = theta.clone()
    posterior = method.fit(theta, x, task.prior, FitContext(budget=300, seed=1))
    assert torch.equal(theta, theta_before), f"{name} changed the caller's theta"
    assert isinstance(posterior, Posterior)
    x_o = task.observation(1)
    samples = posterior.sample(50, x_o)
    assert samples.shape == (50, 2), f"{name}: sample shape {tuple(samples.shape)}"
    assert torch.isfinite(samples).all()
    cost = posterior.cost
    assert cost.num_parameters is None or cost.num_parameters >= 0
    if posterior.has_log_prob:
        inside = samples[within_support(task.prior, samples)][:7]
        log_prob = posterior.log_prob(inside, x_o)
        assert log_prob.shape == (len(inside),) and torch.isfinite(log_prob).all()


@pytest.mark.parametrize("name", METHODS_UNDER_TEST)
def test_every_setting_is_documented_and_unknown_ones_fail(name: str) -> None:
    cls = METHODS.get(name)
    assert cls.description
    for setting, _default, help_text in cls.Config.settings():
        assert help_text, f"{name}.{setting} has no help text"
    with pytest.raises(ConfigError, match="unknown setting"):
        cls.Config.from_overrides({"no_such_setting": 1})


def test_bad_npe_setting_names_the_field() -> None:
    with pytest.raises(ConfigError, match="^learning_rate: must be positive"):
        METHODS.get("npe_nsf").Config(learning_rate=-1.0)
