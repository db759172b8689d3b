"""C2ST classifier in torch: the sbibm/sklearn MLP, all cross-validation folds trained at once.

This backend reproduces what ``sklearn.neural_network.MLPClassifier`` does inside sbibm's C2ST, so that
its accuracies agree with the ``"sklearn"`` backend (see ``scripts/c2st_agreement.py``), while training
the ``n_folds`` fold classifiers as one stacked network: every weight is stored as ``(F, in, out)``
and every layer is one batched matrix product (``torch.baddbmm`` / ``torch.bmm``) over the F folds.

What is mimicked from sklearn's defaults (``MLPClassifier(hidden_layer_sizes=(10 D, 10 D))``):

- two ReLU hidden layers of ``10 * D`` units, one logistic output unit, binary log loss with the
  probability clipped to ``[eps, 1 - eps]`` (``eps`` of float32);
- Glorot-uniform initialisation of weights and biases, bound ``sqrt(6 / (fan_in + fan_out))``, drawn from
  ``numpy.random.RandomState(seed)`` in sklearn's order, so each fold starts from sklearn's weights;
- L2 penalty ``0.5 * alpha * ||W||^2 / batch`` (weights only), ``alpha = 1e-4``;
- Adam with sklearn's update ``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``;
- minibatches of ``min(200, n)`` in a per-epoch permutation drawn from the same ``RandomState`` stream as
  sklearn (``shuffle`` composes permutations), the last batch of an epoch partial;
- stopping when the epoch's mean training loss has not improved by ``tol = 1e-4`` for more than
  ``n_iter_no_change = 10`` consecutive epochs, or after ``max_iter`` epochs. A fold that stops is taken
  out of the stack while the others continue.

Prediction is class 1 when the logit is positive (probability above 0.5), as in sklearn. Results are
not bit-identical to sklearn (float32 summation order differs), but the trajectories start identically
and see the same minibatches: short runs end with the same epoch count and loss to 4-5 digits, while long
overfitting runs (same distribution, few samples) drift apart like two runs of a chaotic system.

Cost: the same floating-point work as sklearn; the gain on CPU comes from five folds per kernel and
fewer, larger operations, so it is largest when the matrix products dominate (``D >= 10``) and small for
2-3 dimensional samples, where per-operation overhead dominates both. On a GPU all of it is one stream.

Reference: Lueckmann et al., "Benchmarking Simulation-Based Inference", AISTATS 2021 (sbibm).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
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


class _Layout:
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


def _sklearn_init(units: list[int], rng: np.random.RandomState) -> np.ndarray:
    """Glorot-uniform weights and biases drawn in sklearn's order, as one flat row ``(total,)``."""
    weights, biases = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:], strict=False):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32).ravel())
        biases.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return np.concatenate(weights + biases)


@dataclass
class _Stack:
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
class _Epoch:
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


def _epoch_batches(
    stack: _Stack, trains: list[np.ndarray], batch: int, data: Tensor, labels: Tensor, s: MLPSettings
) -> _Epoch:
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

    return _Epoch(
        x=data[rows],
        y=y,
        sign=2 * y - 1,
        weight=as_tensor(weight).unsqueeze(-1),
        valid=as_tensor(valid).unsqueeze(-1),
        table=as_tensor(table),
    )


def _forward(weights: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Hidden activations ``(F, n, H)`` twice and the logits ``(F, n, 1)`` of ``x`` ``(F, n, D)``."""
    w1, w2, w3, b1, b2, b3 = weights
    h1 = torch.baddbmm(b1, x, w1).relu_()
    h2 = torch.baddbmm(b2, h1, w2).relu_()
    return h1, h2, torch.baddbmm(b3, h2, w3)


def _relu_backward(grad: Tensor, output: Tensor) -> Tensor:
    """``grad`` where the ReLU ``output`` is positive, else 0 (autograd's own ReLU backward kernel)."""
    return torch.ops.aten.threshold_backward(grad, output, 0.0)


def _step(stack: _Stack, layout: _Layout, epoch: _Epoch, k: int, batch: int) -> Tensor:
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
    h1, h2, logits = _forward(weights, x)
    # Loss for the stopping rule: -log p(true class) with p clipped to [eps, 1 - eps] as sklearn.
    eps = torch.finfo(x.dtype).eps
    nll = F.softplus(-epoch.sign[:, rows] * logits).clamp_(-math.log1p(-eps), -math.log(eps))
    nll_sum = nll.mul_(epoch.valid[:, rows]).sum(dim=(1, 2))
    coefs = stack.params[:, : layout.num_weights]
    loss = torch.addcmul(nll_sum, torch.linalg.vecdot(coefs, coefs), l2)
    # Backward pass, sklearn's gradients: (a^T delta + alpha W) / n, sum(delta) / n.
    d3 = (torch.sigmoid(logits) - y).mul_(weight)
    g3 = torch.bmm(h2.transpose(1, 2), d3)
    d2 = _relu_backward(torch.bmm(d3, w3.transpose(1, 2)), h2)
    g2 = torch.bmm(h1.transpose(1, 2), d2)
    d1 = _relu_backward(torch.bmm(d2, w2.transpose(1, 2)), h1)
    g1 = torch.bmm(x.transpose(1, 2), d1)
    grad = torch.cat([g.flatten(1) for g in (g1, g2, g3)] + [d.sum(dim=1) for d in (d1, d2, d3)], dim=1)
    grad[:, : layout.num_weights].addcmul_(coefs, decay.unsqueeze(-1))
    _adam(stack, grad, m_rate.unsqueeze(-1), v_rate.unsqueeze(-1), step.unsqueeze(-1), eps=stack.adam_eps)
    return loss


def _adam(stack: _Stack, grad: Tensor, m_rate: Tensor, v_rate: Tensor, step: Tensor, eps: float) -> None:
    """sklearn's Adam update ``params -= step * m / (sqrt(v) + eps)``.

    Rates and step are ``(F, 1)``; zeros freeze a fold.
    """
    stack.m.lerp_(grad, m_rate)
    stack.v.lerp_(grad.square_(), v_rate)
    stack.params.addcmul_(stack.m / stack.v.sqrt().add_(eps), step, value=-1.0)


@dataclass(frozen=True)
class FoldFits:
    """The trained fold classifiers.

    Attributes:
        params: Each fold's flat parameters ``(total,)`` (layout ``[W1, W2, W3, b1, b2, b3]``).
        epochs: Epochs each fold ran (sklearn's ``n_iter_``).
        losses: Each fold's last epoch training loss (sklearn's ``loss_``).
    """

    params: list[Tensor]
    epochs: list[int]
    losses: list[float]


def _train_folds(
    data: Tensor, labels: Tensor, trains: list[np.ndarray], seed: int, s: MLPSettings
) -> FoldFits:
    """Trains one classifier per training set, all stacked.

    Args:
        data: Inputs ``(N, D)`` on the target device.
        labels: Labels ``(N,)`` in {0, 1}, same dtype as ``data``.
        trains: Row indices of each fold's training set (sorted, as sklearn's ``KFold`` gives them).
        seed: The classifier's ``random_state``.
        s: Settings.
    """
    width = s.width_factor * data.shape[1]
    units = [data.shape[1], width, width, 1]
    layout = _Layout(units)
    rng = np.random.RandomState(seed)
    row = torch.as_tensor(_sklearn_init(units, rng))
    n_folds, device = len(trains), data.device
    params = row.to(device=device, dtype=data.dtype).expand(n_folds, -1).clone()
    # Each fold is a fresh estimator with random_state=seed: same init, then its own shuffle stream.
    stack = _Stack(
        folds=list(range(n_folds)),
        params=params,
        m=torch.zeros_like(params),
        v=torch.zeros_like(params),
        t=np.zeros(n_folds),
        adam_eps=s.eps,
        rngs=[_copy_rng(rng) for _ in trains],
        orders=[np.arange(len(tr)) for tr in trains],
        best=np.full(n_folds, np.inf),
        stall=np.zeros(n_folds, dtype=int),
    )
    final: dict[int, tuple[Tensor, int, float]] = {}
    # sklearn: min(batch_size, n) per fold; with the longest n every fold gets sklearn's batches.
    batch = min(s.batch_size, max(len(tr) for tr in trains))
    for epoch in range(1, s.max_iter + 1):
        losses = _run_epoch(stack, layout, data, labels, trains, batch, s)
        done = [
            r for r in range(len(stack.folds)) if stack.stall[r] > s.n_iter_no_change or epoch == s.max_iter
        ]
        for r in done:
            final[stack.folds[r]] = (stack.params[r].clone(), epoch, float(losses[r]))
        if len(done) == len(stack.folds):
            break
        if done:
            stack.keep([r for r in range(len(stack.folds)) if r not in done])
    fits = [final[f] for f in range(n_folds)]
    return FoldFits([p for p, _, _ in fits], [e for _, e, _ in fits], [loss for _, _, loss in fits])


def _copy_rng(rng: np.random.RandomState) -> np.random.RandomState:
    copy = np.random.RandomState()
    copy.set_state(rng.get_state())
    return copy


def _run_epoch(
    stack: _Stack,
    layout: _Layout,
    data: Tensor,
    labels: Tensor,
    trains: list[np.ndarray],
    batch: int,
    s: MLPSettings,
) -> np.ndarray:
    """One epoch of every fold in the stack, then sklearn's no-improvement bookkeeping.

    Returns:
        Each fold's mean training loss over the epoch ``(F,)``.
    """
    epoch = _epoch_batches(stack, trains, batch, data, labels, s)
    total = torch.zeros(len(stack.folds), device=data.device, dtype=torch.float64)
    with torch.no_grad():
        for k in range(epoch.table.shape[1]):
            total += _step(stack, layout, epoch, k, batch)
    sizes = np.array([len(trains[f]) for f in stack.folds])
    losses = total.cpu().numpy() / sizes
    worse = losses > stack.best - s.tol
    stack.stall = np.where(worse, stack.stall + 1, 0)
    stack.best = np.minimum(stack.best, losses)
    return losses


def _accuracy(layout: _Layout, flat: Tensor, x: Tensor, y: Tensor) -> float:
    """Held-out accuracy of one fold's classifier (class 1 where the logit is positive)."""
    with torch.no_grad():
        logits = _forward(layout.views(flat.unsqueeze(0)), x.unsqueeze(0))[2].view(-1)
    return float(((logits > 0).to(y.dtype) == y).to(torch.float64).mean())


def c2st_torch_backend(
    data: np.ndarray,
    target: np.ndarray,
    seed: int,
    n_folds: int,
    device: str | torch.device = "cpu",
    settings: MLPSettings | None = None,
    num_threads: int | None = 1,
) -> float:
    """Mean held-out accuracy of the sbibm C2ST classifier over shuffled KFold folds, in torch.

    Args:
        data: z-scored samples ``(N, D)`` (float32 in :func:`fmbench.metrics.c2st`).
        target: Labels ``(N,)``, 0 for reference and 1 for method samples.
        seed: Seed of the fold split and of the classifier (initialisation and shuffling).
        n_folds: Number of folds of sklearn's ``KFold(shuffle=True, random_state=seed)``.
        device: Where to train (``"cpu"``, ``"cuda"``, ...).
        settings: Classifier settings; sklearn's defaults when ``None``.
        num_threads: CPU threads torch may use during the call (restored afterwards); ``None`` keeps
            torch's setting. The default 1 is deliberate: the matrices are small, and several threads per
            process slow training down by orders of magnitude when other jobs share the cores.

    Returns:
        The mean accuracy over folds, rounded through float32 like the sklearn backend.
    """
    from sklearn.model_selection import KFold

    s = settings if settings is not None else MLPSettings()
    splits = list(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(data))
    x = torch.as_tensor(np.asarray(data, dtype=np.float32), device=device)
    y = torch.as_tensor(np.asarray(target, dtype=np.float32), device=device)
    with _torch_threads(num_threads):
        scores, _ = fold_accuracies(x, y, splits, seed, s)
    return float(np.float32(np.mean(scores)))


@contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Sets torch's intra-op thread count for the block, then restores it."""
    before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fold_accuracies(
    x: Tensor, y: Tensor, splits: list[tuple[np.ndarray, np.ndarray]], seed: int, settings: MLPSettings
) -> tuple[list[float], FoldFits]:
    """Trains the stacked fold classifiers and scores each on its held-out rows.

    Args:
        x: Inputs ``(N, D)`` on the target device, float32.
        y: Labels ``(N,)`` in {0, 1}, same dtype and device.
        splits: ``(train, test)`` row indices per fold.
        seed: The classifier's ``random_state``.
        settings: Classifier settings.

    Returns:
        The held-out accuracy of each fold and the fitted folds.
    """
    fits = _train_folds(x, y, [train for train, _ in splits], seed, settings)
    width = settings.width_factor * x.shape[1]
    layout = _Layout([x.shape[1], width, width, 1])
    scores = [
        _accuracy(layout, p, x[test], y[test]) for p, (_, test) in zip(fits.params, splits, strict=True)
    ]
    return scores, fits
