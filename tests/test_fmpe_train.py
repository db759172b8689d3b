"""The time prior of flow-matching training."""

from __future__ import annotations

import torch

from fmbench.fmpe.train import sample_time


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
