"""Flow-matching training: the time prior, and several networks trained together."""

from __future__ import annotations

import pytest
import torch

from fmbench.fmpe.network import VectorField
from fmbench.fmpe.path import OTPath
from fmbench.fmpe.train import TrainingGroup, TrainSettings, _Stack, sample_time, train_vector_fields


def test_time_prior_has_the_power_law_mean_and_stays_in_range() -> None:
    alpha, t_end = 4.0, 0.9
    t = sample_time(200_000, alpha, t_end, like=torch.zeros(1), generator=torch.Generator().manual_seed(0))
    assert t.shape == (200_000, 1)
    assert float(t.min()) >= 0.0 and float(t.max()) <= t_end
    # p(t) ~ t^alpha on [0, 1] has mean (1 + alpha) / (2 + alpha).
    assert abs(float(t.mean()) - t_end * (1 + alpha) / (2 + alpha)) < 2e-3


def test_time_prior_draws_repeat_with_the_same_generator() -> None:
    like = torch.zeros(1)
    a = sample_time(100, 4.0, 1.0, like, generator=torch.Generator().manual_seed(3))
    b = sample_time(100, 4.0, 1.0, like, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_one_draw_per_exponent_has_its_own_power_law_mean() -> None:
    g = torch.Generator().manual_seed(1)
    t = sample_time(100_000, torch.tensor([0.0, 1.0, 4.0]), 1.0, like=torch.zeros(1), generator=g)
    assert t.shape == (3, 100_000, 1)
    expected = torch.tensor([1 / 2, 2 / 3, 5 / 6])
    assert torch.allclose(t.mean(dim=(1, 2)), expected, atol=3e-3)


@pytest.mark.parametrize("conditioning", ["concat", "glu", "glu_theta"])
def test_networks_stacked_give_each_its_own_velocity_and_gradient(conditioning: str) -> None:
    torch.manual_seed(0)
    nets = [VectorField(3, 4, (8, 16), conditioning) for _ in range(3)]
    t, theta_t, x = torch.rand(3, 5, 1), torch.randn(3, 5, 3), torch.randn(5, 4)
    target = torch.randn(3, 5, 3)
    stack = _Stack(nets[0])
    stack.bind(nets)
    stacked = stack(t, theta_t, x)
    alone = torch.stack([net(t[k], theta_t[k], x) for k, net in enumerate(nets)])
    assert torch.allclose(stacked, alone, atol=1e-6)
    (stacked - target).pow(2).mean(dim=(1, 2)).sum().backward()
    stack.pass_gradients()
    together = [[p.grad.clone() for p in net.parameters()] for net in nets]
    for k, net in enumerate(nets):
        net.zero_grad()
        (net(t[k], theta_t[k], x) - target[k]).pow(2).mean().backward()
        assert all(
            torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(together[k], net.parameters(), strict=True)
        )


def test_a_stack_step_gives_only_its_own_gradients() -> None:
    """The stacked tensors persist between steps: each step's gradients must not add to the last's."""
    torch.manual_seed(0)
    nets = [VectorField(2, 3, (8,)) for _ in range(2)]
    stack = _Stack(nets[0])
    stack.bind(nets)
    t, theta_t, x = torch.rand(2, 4, 1), torch.randn(2, 4, 2), torch.randn(4, 3)
    for _ in range(2):
        stack(t, theta_t, x).pow(2).sum().backward()
        stack.pass_gradients()
    twice = nets[1].output.weight.grad.clone()
    nets[1].zero_grad()
    nets[1](t[1], theta_t[1], x).pow(2).sum().backward()
    assert torch.allclose(twice, nets[1].output.weight.grad, atol=1e-6)


def test_a_stack_updates_its_networks_in_place_and_gives_them_back_their_own_parameters() -> None:
    torch.manual_seed(0)
    nets = [VectorField(2, 2, (8,)) for _ in range(3)]
    stack = _Stack(nets[0])
    stack.bind(nets)
    with torch.no_grad():
        stack.storage["output.bias"][1] += 1.0  # the stacked tensor and network 1's parameter are one
    assert torch.equal(nets[1].output.bias, stack.storage["output.bias"][1])
    stack.bind(nets[:2])  # network 2 leaves the stack with its own parameters
    assert nets[2].output.bias.untyped_storage().nbytes() == nets[2].output.bias.numel() * 4
    before = nets[0].output.bias.detach().clone()
    stack.release()
    with torch.no_grad():
        nets[0].output.bias += 1.0
    assert torch.equal(nets[0].output.bias, before + 1.0)
    assert all(p.untyped_storage().nbytes() == p.numel() * 4 for net in nets for p in net.parameters())


def _settings(alpha: float, **changes: object) -> TrainSettings:
    base = {
        "batch_size": 32,
        "learning_rate": 1e-3,
        "max_epochs": 6,
        "validation_fraction": 0.1,
        "validation_repeats": 2,
        "lr_decay_factor": 0.2,
        "lr_patience": 1,
        "early_stopping_patience": 2,
        "time_prior_exponent": alpha,
    }
    return TrainSettings(**{**base, **changes})  # type: ignore[arg-type]


def test_networks_trained_together_each_keep_their_schedule_stopping_and_best_weights() -> None:
    torch.manual_seed(1)
    theta = torch.randn(400, 2)
    x = theta + 0.5 * torch.randn(400, 2)
    nets = [VectorField(2, 2, (16, 16)) for _ in range(3)]
    start = [[p.detach().clone() for p in net.parameters()] for net in nets]
    results = train_vector_fields(nets, OTPath(), theta, x, [_settings(a) for a in (0.0, 1.0, 4.0)])
    for net, before, result in zip(nets, start, results, strict=True):
        assert not net.training and 1 <= result.epochs <= 6 and len(result.validation_losses) == result.epochs
        assert result.best_validation_loss == min(result.validation_losses)
        assert result.validation_losses[result.best_epoch - 1] == result.best_validation_loss
        stopped_early = result.epochs < 6
        assert not stopped_early or result.epochs - result.best_epoch >= 2
        assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert len({r.best_validation_loss for r in results}) == 3  # three networks, not one copied


def test_a_network_trained_together_has_the_best_weights_of_its_own_run(monkeypatch) -> None:
    import fmbench.fmpe.train as train

    kept: list[dict[str, torch.Tensor]] = []
    real_end = train._Member.end_epoch

    def recording_end(self: train._Member, epoch: int, loss: float) -> None:
        real_end(self, epoch, loss)
        if self.best_epoch == epoch:
            kept.append({"net": id(self.net), **{k: v.clone() for k, v in self.net.state_dict().items()}})

    monkeypatch.setattr(train._Member, "end_epoch", recording_end)
    torch.manual_seed(2)
    theta = torch.randn(300, 2)
    nets = [VectorField(2, 2, (8,)) for _ in range(2)]
    train_vector_fields(nets, OTPath(), theta, theta, [_settings(0.0), _settings(4.0)])
    for net in nets:
        best = [k for k in kept if k["net"] == id(net)][-1]
        assert all(torch.equal(best[name], value) for name, value in net.state_dict().items())


def test_networks_trained_together_must_differ_only_in_the_time_prior() -> None:
    nets = [VectorField(2, 2, (8,)) for _ in range(2)]
    data = torch.randn(100, 2)
    with pytest.raises(ValueError, match="only in time_prior_exponent"):
        train_vector_fields(nets, OTPath(), data, data, [_settings(0.0), _settings(1.0, batch_size=64)])
    with pytest.raises(ValueError, match="one TrainSettings per network"):
        train_vector_fields(nets, OTPath(), data, data, [_settings(0.0)])


def test_training_in_rounds_is_training_in_one_go() -> None:
    theta = torch.randn(300, 2, generator=torch.Generator().manual_seed(3))
    x = theta + 0.3 * torch.randn(300, 2, generator=torch.Generator().manual_seed(4))
    runs = []
    for rounds in ([None], [2, 3, None]):
        torch.manual_seed(7)
        nets = [VectorField(2, 2, (8, 8)) for _ in range(2)]
        group = TrainingGroup(nets, OTPath(), theta, x, [_settings(1.0), _settings(4.0)])
        for until in rounds:
            group.run(until)
        results = group.results()
        runs.append(([r.validation_losses for r in results], [list(n.parameters()) for n in nets]))
    (losses_a, params_a), (losses_b, params_b) = runs
    assert losses_a == losses_b
    assert all(
        torch.equal(a, b)
        for pa, pb in zip(params_a, params_b, strict=True)
        for a, b in zip(pa, pb, strict=True)
    )


def test_a_stopped_network_keeps_its_best_weights_while_the_others_train_on() -> None:
    torch.manual_seed(8)
    theta = torch.randn(200, 2)
    nets = [VectorField(2, 2, (8,)) for _ in range(2)]
    group = TrainingGroup(nets, OTPath(), theta, theta, [_settings(0.0), _settings(4.0)])
    group.run(2)
    group.stop(0)
    frozen = group.best_net(0).state_dict()
    group.run()
    assert group.trained_epochs(0) == 2 and group.trained_epochs(1) > 2 and 0 not in group.running
    group.results()
    assert all(torch.equal(frozen[k], v) for k, v in nets[0].state_dict().items())
