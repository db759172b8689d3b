"""Posterior samples from a task's likelihood and prior alone, with no learned model.

Used to check that a simulator is the one a task's reference posteriors were drawn with: if its
likelihood is the same, posterior samples computed from it must be indistinguishable from the
references (C2ST near 0.5).

The sampler works in ``z = log theta`` (the priors of the ODE tasks are log-normal, so the prior is a
Gaussian there) and is tempered adaptive importance sampling followed by rejection:

1. Start from the prior as the proposal, at temperature ``beta = 0``.
2. Draw ``n`` proposals, raise ``beta`` as far as the importance weights of
   ``p(z) p(x_o | z)^beta / q(z)`` keep an effective sample size of ``ess_fraction * n`` (bisection),
   fit a Gaussian to the weighted draws and widen it (``inflation``): that is the next proposal. Repeat
   until ``beta = 1``.
3. At ``beta = 1``, propose from a multivariate Student-t (5 degrees of freedom) fitted the same way
   until the expected number of kept draws reaches ``1.2 num_samples``, then keep each draw with
   probability ``w / max(w)`` (rejection sampling with the bound estimated from all the draws, as
   sbibm's own reference sampler estimates it) and return the first ``num_samples`` kept.

The samples are exact up to the estimated bound, which the ESS of the final stage makes reliable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

#: ``log p(x_o | theta)`` ``(N,)`` for ``theta`` ``(N, D)``.
LogLikelihood = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class SamplerResult:
    """Posterior samples and how they were obtained.

    Attributes:
        samples: ``(num_samples, D)`` float32 parameters (not their logs).
        stages: Tempering stages before ``beta`` reached 1.
        final_ess: Effective sample size fraction of the final (``beta = 1``) proposal.
        acceptance: Fraction of final proposals kept by the rejection step.
        likelihood_calls: Likelihood evaluations in all.
    """

    samples: Tensor
    stages: int
    final_ess: float
    acceptance: float
    likelihood_calls: int


def _ess_fraction(log_w: Tensor) -> float:
    w = torch.softmax(log_w, 0)
    return float(1.0 / (w.square().sum() * len(w)))


def _fit(z: Tensor, log_w: Tensor, inflation: float) -> tuple[Tensor, Tensor]:
    """Weighted mean ``(D,)`` and Cholesky factor ``(D, D)`` of the inflated weighted covariance."""
    w = torch.softmax(log_w, 0)
    mean = w @ z
    centred = z - mean
    cov = (centred * w[:, None]).T @ centred * inflation + 1e-10 * torch.eye(z.shape[1], dtype=z.dtype)
    return mean, torch.linalg.cholesky(cov)


def _log_student(z: Tensor, mean: Tensor, chol: Tensor, df: float) -> Tensor:
    """Log density ``(N,)`` of a multivariate Student-t with scale ``chol chol^T``."""
    d = z.shape[1]
    white = torch.linalg.solve_triangular(chol, (z - mean).T, upper=False).T
    const = math.lgamma((df + d) / 2) - math.lgamma(df / 2) - d / 2 * math.log(df * math.pi)
    return const - chol.diagonal().log().sum() - (df + d) / 2 * torch.log1p(white.square().sum(1) / df)


def _draw(n: int, mean: Tensor, chol: Tensor, df: float, gen: torch.Generator) -> Tensor:
    """``n`` draws ``(n, D)`` of a Student-t (``df = inf``: Gaussian) with the given location and scale."""
    normal = torch.randn(n, len(mean), dtype=torch.float64, generator=gen) @ chol.T
    if math.isinf(df):
        return mean + normal
    chi2 = 2 * torch._standard_gamma(torch.full((n, 1), df / 2, dtype=torch.float64), generator=gen)
    return mean + normal * (df / chi2).sqrt()


def sample_posterior(
    log_likelihood: LogLikelihood,
    prior_loc: Tensor,
    prior_scale: Tensor,
    num_samples: int = 10_000,
    n: int = 10_000,
    ess_fraction: float = 0.3,
    inflation: float = 2.0,
    seed: int = 0,
) -> SamplerResult:
    """Samples ``p(theta | x_o)`` for a log-normal prior ``LogNormal(prior_loc, prior_scale)``.

    Args:
        log_likelihood: ``log p(x_o | theta)`` ``(N,)`` of ``theta`` ``(N, D)``.
        prior_loc: ``(D,)`` locations of the prior's logarithms.
        prior_scale: ``(D,)`` scales of the prior's logarithms.
        num_samples: Posterior samples to return.
        n: Proposals per stage.
        ess_fraction: Effective sample size kept at each tempering stage.
        inflation: Factor on the fitted covariance of the next proposal.
        seed: Seed of the sampler's own generator.

    Returns:
        The :class:`SamplerResult`.
    """
    gen = torch.Generator().manual_seed(seed)
    loc, scale = prior_loc.to(torch.float64), prior_scale.to(torch.float64)
    prior = torch.distributions.Independent(torch.distributions.Normal(loc, scale), 1)
    mean, chol, df = loc, torch.diag(scale), math.inf
    calls, stages, beta = 0, 0, 0.0

    def evaluate(z: Tensor, mean: Tensor, chol: Tensor, df: float) -> tuple[Tensor, Tensor]:
        log_q = _log_student(z, mean, chol, df) if not math.isinf(df) else _log_gauss(z, mean, chol)
        return prior.log_prob(z) - log_q, log_likelihood(z.exp().to(torch.float32)).to(torch.float64)

    while beta < 1.0:
        z = _draw(n, mean, chol, df, gen)
        log_ratio, log_lik = evaluate(z, mean, chol, df)
        calls, stages = calls + n, stages + 1
        beta = _next_beta(log_ratio, log_lik, beta, ess_fraction)
        mean, chol = _fit(z, log_ratio + beta * log_lik, inflation if beta < 1.0 else 1.5)
    df = 5.0
    zs: list[Tensor] = []
    log_ws: list[Tensor] = []
    while True:
        z = _draw(n, mean, chol, df, gen)
        log_ratio, log_lik = evaluate(z, mean, chol, df)
        zs.append(z)
        log_ws.append(log_ratio + log_lik)
        calls += n
        log_w = torch.cat(log_ws)
        expected = float((log_w - log_w.max()).exp().sum())
        if expected >= 1.2 * num_samples:
            break
    keep = torch.rand(len(log_w), dtype=torch.float64, generator=gen).log() < log_w - log_w.max()
    if int(keep.sum()) < num_samples:
        raise RuntimeError(f"rejection kept {int(keep.sum())} of the {num_samples} samples asked for")
    samples = torch.cat(zs)[keep][:num_samples].exp().to(torch.float32)
    ess, acceptance = _ess_fraction(log_ws[0]), float(keep.float().mean())
    return SamplerResult(samples, stages, ess, acceptance, calls)


def _log_gauss(z: Tensor, mean: Tensor, chol: Tensor) -> Tensor:
    return torch.distributions.MultivariateNormal(mean, scale_tril=chol).log_prob(z)


def _next_beta(log_ratio: Tensor, log_lik: Tensor, beta: float, ess_fraction: float) -> float:
    """The largest ``beta' in (beta, 1]`` whose weights keep the ESS fraction (bisection)."""
    ok = torch.isfinite(log_lik)
    if _ess_fraction(torch.where(ok, log_ratio + log_lik, -math.inf)) >= ess_fraction:
        return 1.0
    low, high = beta, 1.0
    for _ in range(50):
        mid = (low + high) / 2
        ess = _ess_fraction(torch.where(ok, log_ratio + mid * log_lik, -math.inf))
        low, high = (mid, high) if ess >= ess_fraction else (low, mid)
    return max(low, beta + 1e-6)
