"""Maximum mean discrepancy (MMD) with a Gaussian kernel and the median heuristic, sbibm convention.

The unbiased estimate of the squared MMD (Gretton et al., JMLR 2012, eq. 3) between reference samples
X ``(n, D)`` and method samples Y ``(m, D)``::

    MMD^2 = mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j),
    k(a, b) = exp(-||a - b||^2 / (2 sigma^2)),

with sigma the median of the pairwise distances within X (sbibm's default ``bandwidth="X"``), or within
X and Y together (``"XY"``). As in ``sbibm.metrics.mmd`` the samples are not z-scored unless asked. The
estimate can be slightly negative when the distributions agree; 0 means equal distributions.
The kernel sums are accumulated in blocks, so 10,000 x 10,000 samples need no 10,000^2 matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: The conventions written next to MMD values.
MMD_CONVENTION = "unbiased MMD^2, Gaussian kernel, bandwidth = median pairwise distance of the reference"


def median_distance(samples: Tensor) -> Tensor:
    """Median of the ``n (n - 1) / 2`` pairwise Euclidean distances of ``samples`` ``(n, D)`` (scalar).

    ``torch.median``'s lower median, as sbibm.
    """
    return torch.median(torch.pdist(samples))


def _kernel_sum(a: Tensor, b: Tensor, sigma: Tensor, block: int) -> Tensor:
    """Sum of ``exp(-||a_i - b_j||^2 / (2 sigma^2))`` over all pairs, ``a`` ``(n, D)``, ``b`` ``(m, D)``."""
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    b_sq = b.square().sum(dim=1)
    for start in range(0, a.shape[0], block):
        chunk = a[start : start + block]
        d2 = (chunk.square().sum(dim=1, keepdim=True) + b_sq - 2.0 * chunk @ b.T).clamp_(min=0.0)
        total += torch.exp(d2 / (-2.0 * sigma**2)).sum(dtype=torch.float64)
    return total


def mmd(
    reference: Tensor,
    samples: Tensor,
    bandwidth: str = "reference",
    z_score: bool = False,
    block: int = 2048,
) -> float:
    """Unbiased squared MMD between ``reference`` ``(n, D)`` and ``samples`` ``(m, D)``.

    Args:
        reference: Reference posterior samples (X in sbibm).
        samples: The method's samples (Y in sbibm).
        bandwidth: ``"reference"`` (median distance within X, sbibm's ``"X"``) or ``"both"`` (within X and Y
            together, sbibm's ``"XY"``).
        z_score: Whether to z-score both with the reference mean and standard deviation first.
        block: Rows per block when summing the kernel matrices (memory ``block * max(n, m)``).

    Returns:
        The MMD^2 estimate; NaN if any sample is NaN (as sbibm).

    Example:
        >>> x, y = torch.randn(500, 2), torch.randn(500, 2) + 3.0
        >>> mmd(x, y) > 0.5
        True
    """
    if reference.ndim != 2 or samples.ndim != 2 or reference.shape[1] != samples.shape[1]:
        raise ValueError(
            f"mmd needs (n, D) and (m, D) samples, got {tuple(reference.shape)} and {tuple(samples.shape)}"
        )
    if reference.shape[0] < 2 or samples.shape[0] < 2:
        raise ValueError("mmd needs at least two samples on each side")
    if bandwidth not in ("reference", "both"):
        raise ValueError(f"bandwidth must be 'reference' or 'both', got {bandwidth!r}")
    if torch.isnan(reference).any() or torch.isnan(samples).any():
        return float("nan")
    x, y = reference.detach().to(torch.float32), samples.detach().to(torch.float32)
    if z_score:
        mean, std = x.mean(dim=0), x.std(dim=0)
        x, y = (x - mean) / std, (y - mean) / std
    sigma = median_distance(x if bandwidth == "reference" else torch.cat((x, y)))
    n, m = x.shape[0], y.shape[0]
    # k(a, a) = 1 on the diagonal: drop it from the within-sample sums.
    xx = (_kernel_sum(x, x, sigma, block) - n) / (n * (n - 1))
    yy = (_kernel_sum(y, y, sigma, block) - m) / (m * (m - 1))
    xy = _kernel_sum(x, y, sigma, block) / (n * m)
    return float(xx + yy - 2.0 * xy)
