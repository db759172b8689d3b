"""sbi's own ``sbi_fmpe`` and ``npse``: registration, settings, and a tiny fit that counts passes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.distributions import Independent, Normal

from fmbench.baselines.sbi_fmpe import SbiTrainConfig
from fmbench.baselines.sbi_npse import NpseConfig
from fmbench.fmpe.ode import OdeSettings
from fmbench.method import ConfigError, FitContext
from fmbench.registry import get_method


def test_sbi_baselines_are_registered_with_sbi_defaults() -> None:
    fmpe, npse = get_method("sbi_fmpe"), get_method("npse")
    assert isinstance(fmpe.config, SbiTrainConfig) and isinstance(npse.config, NpseConfig)
    assert (fmpe.config.training_batch_size, fmpe.config.learning_rate, fmpe.config.stop_after_epochs) == (
        200,
        5e-4,
        20,
    )
    assert (npse.config.sde_type, npse.config.sampling_steps) == ("ve", 500)


@pytest.mark.parametrize(
    "name, overrides, field",
    [
        ("sbi_fmpe", {"training_batch_size": 0}, "training_batch_size"),
        ("sbi_fmpe", {"validation_fraction": 0.0}, "validation_fraction"),
        ("npse", {"sde_type": "ode"}, "sde_type"),
        ("npse", {"sampling_steps": 0}, "sampling_steps"),
    ],
)
def test_bad_settings_raise_naming_the_field(name: str, overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        get_method(name, overrides)


@pytest.mark.filterwarnings("ignore:Maximum number of epochs")
@pytest.mark.parametrize("name", ["sbi_fmpe", "npse"])
def test_tiny_fit_samples_and_counts_network_passes(name: str) -> None:
    torch.manual_seed(0)
    prior = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)
    theta = prior.sample((200,))
    x = theta + 0.1 * torch.randn_like(theta)
    overrides = {"max_num_epochs": 2} | ({"sampling_steps": 20} if name == "npse" else {})
    posterior = get_method(name, overrides).fit(theta, x, prior, FitContext(budget=200, seed=0))
    # sbi 0.27's summary counts one epoch more than max_num_epochs when it stops there
    assert posterior.cost.epochs in (2, 3) and posterior.cost.num_parameters > 0
    samples = posterior.sample(30, x[0])
    assert samples.shape == (30, 2)
    log_prob = posterior.log_prob(samples[:5], x[0])  # an N(0, I) prior: every sample is in its support
    assert log_prob.shape == (5,) and torch.isfinite(log_prob).all()
    if name == "npse":
        assert posterior.cost.passes_per_sample == 20
        assert 19 <= posterior.passes_per_sample <= 21
    else:
        assert posterior.cost.passes_per_sample is None  # adaptive ODE: known once sampled
        assert posterior.passes_per_sample >= 6


@pytest.mark.filterwarnings("ignore:Maximum number of epochs")
@pytest.mark.parametrize("name", ["npe_nsf", "sbi_fmpe", "npse"])
def test_sbi_training_prints_nothing_under_the_progress_bar(name: str, capfd: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    prior = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)
    theta = prior.sample((100,))
    x = theta + 0.1 * torch.randn_like(theta)
    method = get_method(name, {"max_num_epochs": 2})
    method.fit(theta, x, prior, FitContext(budget=100, seed=0, show_progress=True))
    assert "Training neural network" not in capfd.readouterr().out


def _tiny_vector_field_fit(name: str) -> tuple[Any, torch.Tensor]:
    """A two-epoch fit of ``name`` on a 2-D Gaussian problem, and its simulations ``x``."""
    torch.manual_seed(0)
    prior = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)
    theta = prior.sample((200,))
    x = theta + 0.1 * torch.randn_like(theta)
    return get_method(name, {"max_num_epochs": 2}).fit(theta, x, prior, FitContext(200, 0)), x


def test_fmbench_solves_sbis_vector_field_as_sbi_does() -> None:
    posterior, x = _tiny_vector_field_fit("sbi_fmpe")
    torch.manual_seed(5)
    ours = posterior.sample_by_ode(50, x[0], OdeSettings("dopri5", atol=1e-6, rtol=1e-6))
    torch.manual_seed(5)
    theirs = posterior.sample(50, x[0])  # sbi's own solve (zuko) from the same base draws
    assert torch.allclose(ours.theta, theirs, atol=1e-3) and ours.evaluations > 6
    euler = posterior.sample_by_ode(50, x[0], OdeSettings("euler", steps=4))
    assert euler.theta.shape == (50, 2) and euler.evaluations == 4


def test_npse_is_solved_along_its_probability_flow_with_a_fixed_step_count() -> None:
    posterior, x = _tiny_vector_field_fit("npse")
    out = posterior.sample_by_ode(40, x[0], OdeSettings("midpoint", steps=8))
    assert out.theta.shape == (40, 2) and torch.isfinite(out.theta).all() and out.evaluations == 16
