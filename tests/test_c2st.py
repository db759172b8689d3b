"""The sbibm-convention C2ST (sklearn backend)."""

from __future__ import annotations

import pytest
import torch

from fmbench.metrics import c2st


def test_same_distribution_is_about_one_half() -> None:
    a, b = torch.randn(2000, 2), torch.randn(2000, 2)
    assert abs(c2st(a, b) - 0.5) < 0.05


def test_disjoint_distributions_are_near_one() -> None:
    a, b = torch.randn(1000, 2), torch.randn(1000, 2) + 20.0
    assert c2st(a, b) > 0.98


def test_identical_to_sbibm_on_the_same_inputs() -> None:
    from sbibm.metrics import c2st as sbibm_c2st

    a, b = torch.randn(800, 3), 0.3 + torch.randn(800, 3)
    ours = c2st(a, b, backend="sklearn")
    theirs = float(sbibm_c2st(a, b)[0])
    assert ours == theirs


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown C2ST backend"):
        c2st(torch.randn(10, 2), torch.randn(10, 2), backend="nope")
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        c2st(torch.randn(10, 2), torch.randn(10, 3))
