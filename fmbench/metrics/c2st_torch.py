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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fmbench.metrics.stacked_mlp import (
    FoldStack,
    Layout,
    MLPSettings,
    epoch_batches,
    forward,
    sklearn_init,
    train_step,
)


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
    layout = Layout(units)
    rng = np.random.RandomState(seed)
    row = torch.as_tensor(sklearn_init(units, rng))
    n_folds, device = len(trains), data.device
    params = row.to(device=device, dtype=data.dtype).expand(n_folds, -1).clone()
    # Each fold is a fresh estimator with random_state=seed: same init, then its own shuffle stream.
    stack = FoldStack(
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
    stack: FoldStack,
    layout: Layout,
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
    epoch = epoch_batches(stack, trains, batch, data, labels, s)
    total = torch.zeros(len(stack.folds), device=data.device, dtype=torch.float64)
    with torch.no_grad():
        for k in range(epoch.table.shape[1]):
            total += train_step(stack, layout, epoch, k, batch)
    sizes = np.array([len(trains[f]) for f in stack.folds])
    losses = total.cpu().numpy() / sizes
    worse = losses > stack.best - s.tol
    stack.stall = np.where(worse, stack.stall + 1, 0)
    stack.best = np.minimum(stack.best, losses)
    return losses


def _accuracy(layout: Layout, flat: Tensor, x: Tensor, y: Tensor) -> float:
    """Held-out accuracy of one fold's classifier (class 1 where the logit is positive)."""
    with torch.no_grad():
        logits = forward(layout.views(flat.unsqueeze(0)), x.unsqueeze(0))[2].view(-1)
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
    layout = Layout([x.shape[1], width, width, 1])
    scores = [
        _accuracy(layout, p, x[test], y[test]) for p, (_, test) in zip(fits.params, splits, strict=True)
    ]
    return scores, fits
