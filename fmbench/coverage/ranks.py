"""Calibration of an amortized posterior: expected coverage on held-out prior-predictive pairs.

For pairs ``(theta_i, x_i)`` with ``theta_i ~ p(theta)``, ``x_i ~ p(x | theta_i)``, draw ``S`` samples of
``q(theta | x_i)`` and compute a per-pair rank statistic ``r_i`` in [0, 1] that is uniform when q is the
true posterior. The empirical coverage at nominal level ``c`` is ``mean_i [r_i < c]``; a calibrated
posterior lies on the diagonal, an overconfident one below it, an underconfident one above it.

Two statistics:

- ``"hpd"`` (Hermans et al., TMLR 2022, "A Trust Crisis in Simulation-Based Inference?"): the fraction of
  posterior samples with a higher density than ``theta_i``, i.e. the smallest highest-density region
  containing ``theta_i``. Needs ``log_prob``.
- ``"tarp"`` (Lemos et al., ICML 2023, "Sampling-Based Accuracy Testing of Posterior Estimators"): with
  a random reference point ``theta_ref`` per pair, the fraction of samples closer to ``theta_ref`` than
  ``theta_i`` (after z-scoring with the statistics of ``theta``). Needs samples only; reference points are
  uniform in the bounding box of the z-scored ``theta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fmbench.method import Posterior

COVERAGE_METHODS = ("tarp", "hpd")


@dataclass(frozen=True)
class CoverageCurve:
    """Empirical coverage against nominal credibility level.

    Attributes:
        levels: Nominal levels ``(L,)`` in [0, 1], increasing.
        coverage: Empirical coverage at each level ``(L,)``.
        ranks: Per-pair rank statistic ``(N,)``.
        method: ``"tarp"`` or ``"hpd"``.
        num_samples: Posterior samples per pair.
    """

    levels: np.ndarray
    coverage: np.ndarray
    ranks: np.ndarray
    method: str
    num_samples: int

    @property
    def num_pairs(self) -> int:
        """Number of (theta, x) pairs."""
        return int(self.ranks.shape[0])

    @property
    def max_deviation(self) -> float:
        """Largest ``|coverage - level|`` over the levels (0 for a perfectly calibrated posterior)."""
        return float(np.max(np.abs(self.coverage - self.levels)))

    @property
    def signed_area(self) -> float:
        """Area between the curve and the diagonal, trapezoid rule: > 0 underconfident, < 0 overconfident."""
        gap = self.coverage - self.levels
        return float(np.sum((gap[1:] + gap[:-1]) * np.diff(self.levels)) / 2)


def coverage_curve(
    ranks: Tensor | np.ndarray, levels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(levels, coverage)`` with ``coverage[l] = mean(ranks < levels[l])``.

    The levels default to the 21 values 0, 0.05, ..., 1.
    """
    r = np.asarray(ranks.cpu() if isinstance(ranks, Tensor) else ranks, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, 21) if levels is None else np.asarray(levels, dtype=np.float64)
    return grid, (r[None, :] < grid[:, None]).mean(axis=1)


def hpd_ranks(sample_log_probs: Tensor, true_log_probs: Tensor) -> Tensor:
    """Fraction of samples with a higher density than the true parameters.

    Args:
        sample_log_probs: ``log q(theta_s | x_i)`` of the posterior samples ``(N, S)``.
        true_log_probs: ``log q(theta_i | x_i)`` ``(N,)``.

    Returns:
        Ranks ``(N,)`` in [0, 1].
    """
    return (sample_log_probs > true_log_probs.unsqueeze(-1)).double().mean(dim=-1)


def tarp_ranks(samples: Tensor, theta: Tensor, rng: np.random.Generator | None = None) -> Tensor:
    """TARP's statistic: fraction of samples closer to a random reference point than the true parameters.

    Args:
        samples: Posterior samples ``(N, S, D)``, ``samples[i]`` given ``x_i``.
        theta: True parameters ``(N, D)``.
        rng: Source of the reference points (numpy's, on purpose: a torch generator seeded like the
            global torch generator that drew ``theta`` would draw uniforms correlated with ``theta``).

    Returns:
        Ranks ``(N,)`` in [0, 1].
    """
    mean, std = theta.mean(dim=0), theta.std(dim=0).clamp(min=1e-12)
    z_theta, z_samples = (theta - mean) / std, (samples - mean) / std
    low, high = z_theta.min(dim=0).values, z_theta.max(dim=0).values
    rng = rng if rng is not None else np.random.default_rng()
    u = torch.as_tensor(rng.random(tuple(theta.shape)), dtype=theta.dtype, device=theta.device)
    reference = low + u * (high - low)
    to_samples = (z_samples - reference.unsqueeze(1)).norm(dim=-1)  # (N, S)
    to_truth = (z_theta - reference).norm(dim=-1, keepdim=True)  # (N, 1)
    return (to_samples < to_truth).double().mean(dim=-1)


def expected_coverage(
    posterior: Posterior,
    theta: Tensor,
    x: Tensor,
    num_samples: int = 1000,
    method: str = "tarp",
    levels: np.ndarray | None = None,
    seed: int = 0,
) -> CoverageCurve:
    """Coverage curve of ``posterior`` on held-out pairs ``theta`` ``(N, D)``, ``x`` ``(N, x_dim)``.

    Args:
        posterior: The amortized posterior.
        theta: Parameters drawn from the prior.
        x: Simulations of ``theta``.
        num_samples: Posterior samples per pair.
        method: ``"tarp"`` (samples only) or ``"hpd"`` (needs ``log_prob``).
        levels: Nominal levels (default 0, 0.05, ..., 1).
        seed: Seed of TARP's reference points.

    Returns:
        The :class:`CoverageCurve`.
    """
    if method not in COVERAGE_METHODS:
        raise ValueError(f"unknown coverage method {method!r}; valid: {', '.join(COVERAGE_METHODS)}")
    if method == "hpd" and not posterior.has_log_prob:
        raise ValueError(f"'hpd' coverage needs a density; {type(posterior).__name__} has none, use 'tarp'")
    if theta.ndim != 2 or x.ndim != 2 or theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"coverage needs theta (N, D) and x (N, x_dim), got {tuple(theta.shape)}, {tuple(x.shape)}"
        )
    if num_samples < 1:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    with torch.no_grad():
        samples = torch.stack([posterior.sample(num_samples, xi) for xi in x])  # (N, S, D)
        if method == "tarp":
            ranks = tarp_ranks(samples, theta, np.random.default_rng(seed))
        else:
            sample_lp = torch.stack([posterior.log_prob(s, xi) for s, xi in zip(samples, x, strict=True)])
            true_lp = torch.cat(
                [posterior.log_prob(t.unsqueeze(0), xi).reshape(1) for t, xi in zip(theta, x, strict=True)]
            )
            ranks = hpd_ranks(sample_lp, true_lp)
    grid, cov = coverage_curve(ranks, levels)
    return CoverageCurve(grid, cov, ranks.cpu().numpy(), method, num_samples)
