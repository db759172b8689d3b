"""Evaluation of one fitted posterior on one sbibm observation, under the protocol.

Draws the protocol's posterior samples (outside-prior samples rejected and counted), then computes C2ST
(sbibm convention) and MMD against the reference samples, and, for methods with a density, the NLTP of
the true parameters and the time ``log_prob`` takes on 1,000 of the posterior samples. Each step's
wall-clock seconds are kept (``sample_s``, ``c2st_s``, ``mmd_s``, ``nltp_s``), so that a grid's evaluation
cost is in its own table and ``fmbench run --dry-run`` can estimate the next grid's from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from fmbench.method import Posterior
from fmbench.metrics import c2st, mmd, nltp
from fmbench.run.support import sample_within_prior
from fmbench.task import Task

#: Posterior samples whose log_prob is timed.
LOG_PROB_BATCH = 1000


@dataclass(frozen=True)
class Evaluation:
    """The metrics of one observation (``None`` where the method has no density)."""

    c2st: float
    mmd: float
    rejected_fraction: float
    sample_s: float
    passes_per_sample: float | None
    nltp: float | None
    log_prob_s: float | None
    c2st_s: float
    mmd_s: float
    nltp_s: float | None


def evaluate(
    task: Task,
    posterior: Posterior,
    i: int,
    num_samples: int,
    c2st_backend: str,
    device: str,
    keep: Callable[[Tensor], object] | None = None,
) -> Evaluation:
    """Evaluates ``posterior`` on observation ``i`` of ``task``; ``keep`` is handed the posterior samples
    (within the prior, ``(num_samples, D)``), e.g. to keep some (:mod:`fmbench.run.draws`)."""
    x_o = task.observation(i).to(device)
    start = time.perf_counter()
    drawn = sample_within_prior(posterior, task.prior, num_samples, x_o)
    sample_s = time.perf_counter() - start
    if keep is not None:
        keep(drawn.samples)
    passes = posterior.passes_per_sample
    reference = task.reference_samples(i)
    n = min(len(reference), len(drawn.samples))  # balanced classes; 10,000 each under the protocol
    density = _density_metrics(task, posterior, i, x_o, drawn.samples)
    start = time.perf_counter()
    c2st_value = c2st(reference[:n], drawn.samples[:n], backend=c2st_backend, device=device)
    c2st_s = time.perf_counter() - start
    start = time.perf_counter()
    mmd_value = mmd(reference[:n], drawn.samples[:n])
    mmd_s = time.perf_counter() - start
    return Evaluation(
        c2st=c2st_value,
        mmd=mmd_value,
        rejected_fraction=drawn.rejected_fraction,
        sample_s=sample_s,
        passes_per_sample=passes,
        nltp=density.nltp,
        log_prob_s=density.log_prob_s,
        c2st_s=c2st_s,
        mmd_s=mmd_s,
        nltp_s=density.nltp_s,
    )


@dataclass(frozen=True)
class _Density:
    nltp: float | None = None
    nltp_s: float | None = None
    log_prob_s: float | None = None


def _density_metrics(task: Task, posterior: Posterior, i: int, x_o: Tensor, samples: Tensor) -> _Density:
    if not posterior.has_log_prob:
        return _Density()
    theta_true = task.true_parameters(i).to(x_o.device)
    start = time.perf_counter()
    value = nltp(posterior, theta_true, x_o)
    nltp_s = time.perf_counter() - start
    batch = samples[:LOG_PROB_BATCH].to(x_o.device)
    start = time.perf_counter()
    with torch.no_grad():
        posterior.log_prob(batch, x_o)
    return _Density(nltp=value, nltp_s=nltp_s, log_prob_s=time.perf_counter() - start)
