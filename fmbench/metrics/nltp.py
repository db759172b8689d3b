"""Negative log probability of the true parameters (NLTP) under the estimated posterior.

``NLTP = -log q(theta_true | x_o)`` (lower is better; Lueckmann et al., AISTATS 2021, call it the
negative log probability of the true parameters). It needs a posterior with a tractable density
(:attr:`fmbench.method.Posterior.has_log_prob`); for FMPE the density is the ODE's change of variables.
Averaged over many prior-predictive pairs it estimates the expected KL divergence from the true posterior
up to a constant, so it ranks amortized posteriors without reference samples.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fmbench.method import Posterior


def nltp(posterior: Posterior, theta_true: Tensor, x_o: Tensor) -> float:
    """``-log q(theta_true | x_o)`` for one observation.

    Args:
        posterior: A posterior with ``has_log_prob``.
        theta_true: The parameters that generated ``x_o``, ``(theta_dim,)``.
        x_o: The observation, ``(x_dim,)``.

    Returns:
        The negative log density (a float; ``inf`` where the density is 0).

    Raises:
        ValueError: If the posterior has no density or a shape is wrong.
    """
    if not posterior.has_log_prob:
        raise ValueError(f"NLTP needs a density; {type(posterior).__name__} has no log_prob")
    if theta_true.ndim != 1 or x_o.ndim != 1:
        raise ValueError(
            f"nltp needs theta_true (D,) and x_o (x_dim,), got {tuple(theta_true.shape)}, {tuple(x_o.shape)}"
        )
    with torch.no_grad():
        return -float(posterior.log_prob(theta_true.unsqueeze(0), x_o).reshape(-1)[0])


def mean_nltp(posterior: Posterior, theta: Tensor, x: Tensor) -> float:
    """Mean NLTP over pairs ``theta`` ``(N, theta_dim)``, ``x`` ``(N, x_dim)`` (e.g. held-out simulations)."""
    if theta.ndim != 2 or x.ndim != 2 or theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"mean_nltp needs theta (N, D) and x (N, x_dim), got {tuple(theta.shape)}, {tuple(x.shape)}"
        )
    return sum(nltp(posterior, t, xo) for t, xo in zip(theta, x, strict=True)) / theta.shape[0]
