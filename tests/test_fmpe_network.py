"""The vector-field network: shapes, broadcasting one observation, every conditioning, path velocities."""

from __future__ import annotations

import pytest
import torch

from fmbench.fmpe.network import CONDITIONINGS, VectorField
from fmbench.fmpe.path import OTPath, VPPath


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_one_observation_broadcasts_like_a_repeated_batch(conditioning: str) -> None:
    torch.manual_seed(0)
    net = VectorField(3, 5, (8, 16, 16, 8), conditioning)
    theta, x_o, t = torch.randn(7, 3), torch.randn(1, 5), torch.full((1, 1), 0.3)
    broadcast = net(t, theta, x_o)
    repeated = net(t.expand(7, 1), theta, x_o.expand(7, 5))
    assert broadcast.shape == (7, 3)
    assert torch.allclose(broadcast, repeated, atol=1e-6)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_output_depends_on_time_parameters_and_observation(conditioning: str) -> None:
    torch.manual_seed(1)
    net = VectorField(2, 4, (8, 8), conditioning)
    for p in net.parameters():  # leave the near-identity initialisation of the blocks
        torch.nn.init.normal_(p, std=0.5)
    theta, x = torch.randn(5, 2), torch.randn(5, 4)
    t0, t1 = torch.zeros(5, 1), torch.ones(5, 1)
    assert not torch.allclose(net(t0, theta, x), net(t1, theta, x))
    assert not torch.allclose(net(t0, theta, x), net(t0, theta, x + 1))
    assert not torch.allclose(net(t0, theta, x), net(t0, theta + 1, x))


def test_unknown_conditioning_is_rejected() -> None:
    with pytest.raises(ValueError, match="conditioning"):
        VectorField(2, 2, (8,), "film")


@pytest.mark.parametrize("path", [OTPath(1e-4), VPPath()], ids=["ot", "vp"])
def test_path_velocity_is_the_time_derivative_of_the_path(path) -> None:  # noqa: ANN001
    torch.manual_seed(2)
    theta_0, theta_1 = torch.randn(50, 3, dtype=torch.float64), torch.randn(50, 3, dtype=torch.float64)
    t = torch.rand(50, 1, dtype=torch.float64) * 0.9 + 0.05
    h = 1e-6
    ahead, behind = path.sample(theta_0, theta_1, t + h), path.sample(theta_0, theta_1, t - h)
    finite_difference = (ahead.theta_t - behind.theta_t) / (2 * h)
    assert torch.allclose(path.sample(theta_0, theta_1, t).velocity, finite_difference, atol=1e-5)


def test_path_ends() -> None:
    theta_0, theta_1 = torch.randn(4, 2), torch.randn(4, 2)
    ot = OTPath(1e-4)
    assert torch.equal(ot.sample(theta_0, theta_1, torch.zeros(4, 1)).theta_t, theta_0)
    assert torch.allclose(ot.sample(theta_0, theta_1, torch.ones(4, 1)).theta_t, theta_1 + 1e-4 * theta_0)
    vp = VPPath()
    start = vp.sample(theta_0, theta_1, torch.zeros(4, 1)).theta_t
    assert torch.allclose(start, theta_0, atol=0.01) and vp.source_shift < 0.01
    end = vp.sample(theta_0, theta_1, torch.full((4, 1), vp.t_end)).theta_t
    assert torch.allclose(end, theta_1, atol=0.05)


@pytest.mark.parametrize("conditioning", ["concat", "glu"])
def test_a_network_pickled_before_conditioning_was_stored_still_loads(conditioning: str, tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(3)
    net = VectorField(2, 3, (8, 8), conditioning)
    theta, x, t = torch.randn(4, 2), torch.randn(4, 3), torch.rand(4, 1)
    expected = net(t, theta, x)
    del net.conditioning  # the layout of fits saved before "glu_theta" existed
    torch.save(net, tmp_path / "net.pt")
    loaded = torch.load(tmp_path / "net.pt", weights_only=False)
    assert loaded.conditioning == conditioning
    assert torch.equal(loaded(t, theta, x), expected)


def test_dropout_acts_in_training_only_and_old_blocks_load_without_it(tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(4)
    net = VectorField(2, 3, (8, 8), "glu", dropout=0.5)
    theta, x, t = torch.randn(16, 2), torch.randn(16, 3), torch.rand(16, 1)
    net.train()
    assert not torch.equal(net(t, theta, x), net(t, theta, x))
    net.eval()
    assert torch.equal(net(t, theta, x), net(t, theta, x))
    with pytest.raises(ValueError, match="dropout"):
        VectorField(2, 3, (8,), "glu", dropout=1.0)
    plain = VectorField(2, 3, (8, 8), "glu")
    expected = plain(t, theta, x)
    for block in plain.blocks:
        del block.dropout  # the layout of fits saved before dropout existed
    torch.save(plain, tmp_path / "net.pt")
    loaded = torch.load(tmp_path / "net.pt", weights_only=False)
    assert torch.equal(loaded(t, theta, x), expected)
