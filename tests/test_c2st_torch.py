"""The torch C2ST backend: agreement with the sklearn reference on a quick panel, and its plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from fmbench.metrics import C2ST_BACKENDS, MLPSettings, c2st
from fmbench.metrics.c2st_torch import fold_accuracies

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _two_moons(n: int) -> tuple[Tensor, Tensor]:
    from fmbench.tasks.sbibm_files import reference_samples

    ref = reference_samples("two_moons", 1)
    other = ref[5000 : 5000 + n]
    return ref[:n], other.mean(0) + 1.1 * (other - other.mean(0))


def _gaussians(n: int, shift: float) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g) + shift


QUICK_PANEL = {
    "gauss2d_same": lambda: _gaussians(1000, 0.0),
    "gauss2d_shift": lambda: _gaussians(1000, 0.7),
    "two_moons_perturbed": lambda: _two_moons(1000),
}


def test_agrees_with_sklearn_on_a_quick_panel() -> None:
    """The acceptance rule of scripts/c2st_agreement.py (mean |diff| <= 0.01, max <= 0.03), small n."""
    from threadpoolctl import threadpool_limits

    diffs = {}
    for name, draw in QUICK_PANEL.items():
        reference, samples = draw()
        with threadpool_limits(limits=1):
            reference_value = c2st(reference, samples, backend="sklearn")
        diffs[name] = abs(c2st(reference, samples, backend="torch") - reference_value)
    assert max(diffs.values()) <= 0.03, diffs
    assert sum(diffs.values()) / len(diffs) <= 0.01, diffs


@pytest.mark.parametrize("device", DEVICES)
def test_disjoint_and_identical_samples(device: str) -> None:
    a = torch.randn(400, 2)
    assert c2st(a, a + 20.0, backend="torch", device=device) > 0.98
    assert abs(c2st(a, torch.randn(400, 2), backend="torch", device=device) - 0.5) < 0.08


def test_registered_and_deterministic() -> None:
    assert "torch" in C2ST_BACKENDS and "sklearn" in C2ST_BACKENDS
    a, b = torch.randn(300, 2), torch.randn(300, 2) + 0.5
    assert c2st(a, b, backend="torch") == c2st(a, b, backend="torch")


def test_settings_cap_epochs_and_unequal_folds_work() -> None:
    """max_iter bounds every fold; 2N not divisible by 5 gives folds of different sizes and batch counts."""
    n = 2 * 203 + 1
    x = torch.randn(n, 2)
    y = (torch.arange(n) % 2).to(torch.float32)
    from sklearn.model_selection import KFold

    splits = list(KFold(5, shuffle=True, random_state=1).split(x.numpy()))
    scores, fits = fold_accuracies(x, y, splits, 1, MLPSettings(max_iter=3, batch_size=40))
    assert fits.epochs == [3] * 5 and len(scores) == 5 and all(0.0 <= s <= 1.0 for s in scores)
    assert len({len(train) for train, _ in splits}) == 2


def test_thread_setting_is_restored() -> None:
    before = torch.get_num_threads()
    C2ST_BACKENDS["torch"](np.random.randn(100, 2).astype(np.float32), np.r_[np.zeros(50), np.ones(50)], 1, 5)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("field", "value"), [("max_iter", 0), ("beta1", 1.0), ("lr", 0.0), ("alpha", -1.0), ("batch_size", 0)]
)
def test_bad_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        MLPSettings(**{field: value})
