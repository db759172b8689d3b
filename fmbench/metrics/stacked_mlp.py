"""The stacked MLP behind the torch C2ST backend: sklearn's ``MLPClassifier`` maths for F folds at once.

Every fold's parameters sit in one flat row (:class:`Layout`), initialised as sklearn initialises them
(:func:`sklearn_init`); :func:`step` is one minibatch step of every fold still training (forward pass,
binary log loss with sklearn's L2 penalty, hand-written backward pass and sklearn's Adam update). What
is mimicked and why is in :mod:`fmbench.metrics.c2st_torch`, which runs the epochs and the folds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class MLPSettings:
    """The classifier and optimiser settings (sklearn ``MLPClassifier`` defaults, sbibm's ``max_iter``).

    Attributes:
        width_factor: Hidden width is ``width_factor * D``.
        lr: Adam learning rate.
        beta1: Adam first-moment decay.
        beta2: Adam second-moment decay.
        eps: Adam denominator offset.
        alpha: L2 penalty strength.
        batch_size: Minibatch size (capped at the training-set size).
        tol: Minimum improvement of the training loss that resets the patience counter.
        n_iter_no_change: Patience in epochs (stops when exceeded).
        max_iter: Maximum number of epochs.
    """

    width_factor: int = 10
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    alpha: float = 1e-4
    batch_size: int = 200
    tol: float = 1e-4
    n_iter_no_change: int = 10
    max_iter: int = 10000

    def __post_init__(self) -> None:
        for name in ("width_factor", "batch_size", "n_iter_no_change", "max_iter"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}: must lie in [0, 1), got {getattr(self, name)}")
        for name in ("lr", "eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.alpha < 0 or self.tol < 0:
            raise ValueError(f"alpha and tol must be non-negative, got {self.alpha} and {self.tol}")


class Layout:
    """Where each layer's weights and biases sit in one flat parameter row per fold.

    The row holds ``[W1, W2, W3, b1, b2, b3]`` with ``W`` of shape ``(in, out)`` and ``b`` of
    shape ``(1, out)``; the weights come first so the L2 norm is one slice.
    """

    def __init__(self, units: list[int]) -> None:
        pairs = list(zip(units[:-1], units[1:], strict=False))
        self.shapes = [(i, o) for i, o in pairs] + [(1, o) for _, o in pairs]
        self.sizes = [a * b for a, b in self.shapes]
        self.num_weights = sum(self.sizes[: len(pairs)])
        self.total = sum(self.sizes)

    def views(self, flat: Tensor) -> list[Tensor]:
        """Views ``(F, *shape)`` into ``flat`` ``(F, total)``, in layout order."""
        out, start = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            out.append(flat[:, start : start + size].view(flat.shape[0], *shape))
            start += size
        return out


def sklearn_init(units: list[int], rng: np.random.RandomState) -> np.ndarray:
    """Glorot-uniform weights and biases drawn in sklearn's order, as one flat row ``(total,)``."""
    weights, biases = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:], strict=False):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32).ravel())
        biases.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return np.concatenate(weights + biases)


@dataclass
class FoldStack:
    """The folds still training: parameters, Adam moments and bookkeeping, one row per fold."""

    folds: list[int]
    params: Tensor  # (F, total)
    m: Tensor  # (F, total)
    v: Tensor  # (F, total)
    t: np.ndarray  # (F,) Adam step counts
    adam_eps: float
    rngs: list[np.random.RandomState]
    orders: list[np.ndarray]  # current sample_idx per fold (positions in its training set)
    best: np.ndarray  # (F,) best epoch loss
    stall: np.ndarray  # (F,) epochs without improvement

    def keep(self, rows: list[int]) -> None:
        """Keeps only the folds at ``rows`` (positions in the stack)."""
        index = torch.as_tensor(rows, device=self.params.device)
        self.folds = [self.folds[r] for r in rows]
        self.params, self.m, self.v = (a[index] for a in (self.params, self.m, self.v))
        self.t = self.t[rows]
        self.rngs = [self.rngs[r] for r in rows]
        self.orders = [self.orders[r] for r in rows]
        self.best, self.stall = self.best[rows], self.stall[rows]


@dataclass(frozen=True)
class Epoch:
    """One epoch's minibatches of every fold in the stack (``B`` steps of ``b`` rows, padded), and per-step
    coefficients precomputed on the host so that a step launches few kernels.

    Attributes:
        x: Inputs ``(F, B * b, D)``, fold f's permuted training rows first, then padding.
        y: Labels ``(F, B * b, 1)``.
        sign: ``2 y - 1`` ``(F, B * b, 1)``.
        weight: ``1 / batch size`` per row, 0 on padding ``(F, B * b, 1)``.
        valid: 1 on real rows, 0 on padding ``(F, B * b, 1)``.
        table: Per fold and step ``(F, B, 5)``: L2 loss coefficient ``alpha / 2`` (0 without a batch),
            gradient decay ``alpha / size``, Adam's ``1 - beta1`` and ``1 - beta2`` (0 without a batch),
            and the bias-corrected step ``lr sqrt(1 - beta2^t) / (1 - beta1^t)`` (0 without a batch).
    """

    x: Tensor
    y: Tensor
    sign: Tensor
    weight: Tensor
    valid: Tensor
    table: Tensor


def epoch_batches(
    stack: FoldStack, trains: list[np.ndarray], batch: int, data: Tensor, labels: Tensor, s: MLPSettings
) -> Epoch:
    """Draws each fold's epoch permutation (sklearn's ``shuffle``) and lays it out in minibatches.

    Fold f's ``k``-th batch is positions ``[k * batch, (k + 1) * batch)`` of its permutation, as in
    sklearn's ``gen_batches`` (the last one partial). Advances the stack's Adam step counts.
    """
    lengths = np.array([len(trains[f]) for f in stack.folds])
    num_batches = math.ceil(lengths.max() / batch)
    index = np.zeros((len(stack.folds), num_batches * batch), dtype=np.int64)
    for row, fold in enumerate(stack.folds):
        perm = np.arange(lengths[row])
        stack.rngs[row].shuffle(perm)
        stack.orders[row] = stack.orders[row][perm]
        index[row, : lengths[row]] = trains[fold][stack.orders[row]]
    size = np.clip(lengths[:, None] - np.arange(num_batches)[None, :] * batch, 0, batch).astype(np.float64)
    active = (size > 0).astype(np.float64)  # (F, B)
    t = stack.t[:, None] + np.cumsum(active, axis=1)
    stack.t = t[:, -1].copy()
    t = np.maximum(t, 1.0)
    table = np.stack(
        [
            0.5 * s.alpha * active,
            s.alpha / np.maximum(size, 1.0),
            (1 - s.beta1) * active,
            (1 - s.beta2) * active,
            s.lr * np.sqrt(1 - s.beta2**t) / (1 - s.beta1**t) * active,
        ],
        axis=-1,
    )
    valid = np.arange(num_batches * batch)[None, :] < lengths[:, None]
    weight = valid / np.repeat(np.maximum(size, 1.0), batch, axis=1)
    rows = torch.as_tensor(index, device=data.device)
    y = labels[rows].unsqueeze(-1)

    def as_tensor(a: np.ndarray) -> Tensor:
        return torch.as_tensor(a, device=data.device, dtype=data.dtype)

    return Epoch(
        x=data[rows],
        y=y,
        sign=2 * y - 1,
        weight=as_tensor(weight).unsqueeze(-1),
        valid=as_tensor(valid).unsqueeze(-1),
        table=as_tensor(table),
    )


def forward(weights: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Hidden activations ``(F, n, H)`` twice and the logits ``(F, n, 1)`` of ``x`` ``(F, n, D)``."""
    w1, w2, w3, b1, b2, b3 = weights
    h1 = torch.baddbmm(b1, x, w1).relu_()
    h2 = torch.baddbmm(b2, h1, w2).relu_()
    return h1, h2, torch.baddbmm(b3, h2, w3)


def relu_backward(grad: Tensor, output: Tensor) -> Tensor:
    """``grad`` where the ReLU ``output`` is positive, else 0 (autograd's own ReLU backward kernel)."""
    return torch.ops.aten.threshold_backward(grad, output, 0.0)


def train_step(stack: FoldStack, layout: Layout, epoch: Epoch, k: int, batch: int) -> Tensor:
    """Step ``k`` of the epoch: one Adam step of every fold on its ``k``-th minibatch.

    Returns:
        ``(F,)`` batch loss times batch size (sklearn's epoch loss times the training-set size, summed over
        the epoch's steps): the summed clipped log loss plus ``alpha / 2 ||W||^2``.
    """
    rows = slice(k * batch, (k + 1) * batch)
    x, y, weight = epoch.x[:, rows], epoch.y[:, rows], epoch.weight[:, rows]
    l2, decay, m_rate, v_rate, step = epoch.table[:, k].unbind(-1)
    weights = layout.views(stack.params)
    w2, w3 = weights[1:3]
    h1, h2, logits = forward(weights, x)
    # Loss for the stopping rule: -log p(true class) with p clipped to [eps, 1 - eps] as sklearn.
    eps = torch.finfo(x.dtype).eps
    nll = F.softplus(-epoch.sign[:, rows] * logits).clamp_(-math.log1p(-eps), -math.log(eps))
    nll_sum = nll.mul_(epoch.valid[:, rows]).sum(dim=(1, 2))
    coefs = stack.params[:, : layout.num_weights]
    loss = torch.addcmul(nll_sum, torch.linalg.vecdot(coefs, coefs), l2)
    # Backward pass, sklearn's gradients: (a^T delta + alpha W) / n, sum(delta) / n.
    d3 = (torch.sigmoid(logits) - y).mul_(weight)
    g3 = torch.bmm(h2.transpose(1, 2), d3)
    d2 = relu_backward(torch.bmm(d3, w3.transpose(1, 2)), h2)
    g2 = torch.bmm(h1.transpose(1, 2), d2)
    d1 = relu_backward(torch.bmm(d2, w2.transpose(1, 2)), h1)
    g1 = torch.bmm(x.transpose(1, 2), d1)
    grad = torch.cat([g.flatten(1) for g in (g1, g2, g3)] + [d.sum(dim=1) for d in (d1, d2, d3)], dim=1)
    grad[:, : layout.num_weights].addcmul_(coefs, decay.unsqueeze(-1))
    adam_update(
        stack, grad, m_rate.unsqueeze(-1), v_rate.unsqueeze(-1), step.unsqueeze(-1), eps=stack.adam_eps
    )
    return loss


def adam_update(
    stack: FoldStack, grad: Tensor, m_rate: Tensor, v_rate: Tensor, step: Tensor, eps: float
) -> None:
    """sklearn's Adam update ``params -= step * m / (sqrt(v) + eps)``.

    Rates and step are ``(F, 1)``; zeros freeze a fold.
    """
    stack.m.lerp_(grad, m_rate)
    stack.v.lerp_(grad.square_(), v_rate)
    stack.params.addcmul_(stack.m / stack.v.sqrt().add_(eps), step, value=-1.0)
