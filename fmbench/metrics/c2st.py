"""Classifier two-sample test (C2ST) with the sbibm convention.

Convention (Lueckmann et al., AISTATS 2021; sbibm.metrics.c2st): X = reference samples, Y = method
samples, both z-scored with X's mean and standard deviation; an MLP classifier with two hidden layers of
``10 * dim`` ReLU units (sklearn's ``MLPClassifier``, adam, ``max_iter=10000``, ``random_state=seed``);
5-fold shuffled ``KFold`` with ``random_state=seed``; the result is the mean held-out accuracy.
0.5 means indistinguishable, 1.0 disjoint.

Backends are registered in :data:`C2ST_BACKENDS`; ``"sklearn"`` is the reference implementation;
``"torch"`` (:mod:`fmbench.metrics.c2st_torch`) trains the same classifier with all folds batched, on CPU
or GPU, and is checked against ``"sklearn"`` by ``scripts/c2st_agreement.py``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from fmbench.metrics.c2st_torch import c2st_torch_backend

#: The conventions written into every result row.
C2ST_CONVENTION = (
    "sbibm: z-score by reference, MLP 2x(10*dim) ReLU, 5-fold shuffled KFold, seed 1, mean accuracy"
)


class C2stBackend(Protocol):
    """A C2ST implementation: z-scored data ``(2N, D)``, labels ``(2N,)``, seed, folds, device -> accuracy."""

    def __call__(
        self,
        data: np.ndarray,
        target: np.ndarray,
        seed: int,
        n_folds: int,
        device: str | torch.device = "cpu",
    ) -> float: ...


def _c2st_sklearn(
    data: np.ndarray, target: np.ndarray, seed: int, n_folds: int, device: str | torch.device = "cpu"
) -> float:
    """sbibm's classifier, verbatim settings; always runs on CPU (``device`` is ignored).

    BLAS is limited to one thread: the matrices are small, and several BLAS threads on shared cores were
    about 15x slower (the result is the same; a test compares with ``sbibm.metrics.c2st``).
    """
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    ndim = data.shape[1]
    clf = MLPClassifier(
        activation="relu",
        hidden_layer_sizes=(10 * ndim, 10 * ndim),
        max_iter=10000,
        solver="adam",
        random_state=seed,
    )
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1, user_api="blas"):
        scores = cross_val_score(clf, data, target, cv=folds, scoring="accuracy")
    return float(np.asarray(np.mean(scores)).astype(np.float32))


#: Name -> implementation taking (z-scored data (2N, D), labels (2N,), seed, n_folds, device).
C2ST_BACKENDS: dict[str, C2stBackend] = {"sklearn": _c2st_sklearn, "torch": c2st_torch_backend}

#: Backends whose numbers may be published: ``"sklearn"`` is sbibm's classifier itself; ``"torch"`` passed
#: ``scripts/c2st_agreement.py`` (``results/c2st_agreement.csv``). A backend added to
#: :data:`C2ST_BACKENDS` joins this set only after it passes that check; until then the report leaves its
#: rows out of the leaderboard.
AGREEMENT_CHECKED: frozenset[str] = frozenset({"sklearn", "torch"})


def c2st(
    reference: Tensor,
    samples: Tensor,
    backend: str = "sklearn",
    seed: int = 1,
    n_folds: int = 5,
    device: str | torch.device = "cpu",
) -> float:
    """C2ST accuracy of ``samples`` ``(M, D)`` against ``reference`` ``(N, D)``, sbibm convention.

    Args:
        reference: Reference posterior samples (X in sbibm).
        samples: The method's samples (Y in sbibm).
        backend: A name in :data:`C2ST_BACKENDS`.
        seed: Seed of the classifier and of the fold split (sbibm uses 1).
        n_folds: Number of cross-validation folds.
        device: Where the classifier trains (``"torch"`` backend; ``"sklearn"`` always uses the CPU).
            The z-scoring is done on the CPU in float32 for every backend.

    Returns:
        The mean held-out accuracy, in [0, 1].
    """
    if backend not in C2ST_BACKENDS:
        raise ValueError(f"unknown C2ST backend {backend!r}; valid: {', '.join(sorted(C2ST_BACKENDS))}")
    if reference.ndim != 2 or samples.ndim != 2 or reference.shape[1] != samples.shape[1]:
        raise ValueError(
            f"c2st needs (N, D) and (M, D) samples, got {tuple(reference.shape)} and {tuple(samples.shape)}"
        )
    X = reference.detach().to("cpu", torch.float32)
    Y = samples.detach().to("cpu", torch.float32)
    mean, std = X.mean(dim=0), X.std(dim=0)
    X, Y = (X - mean) / std, (Y - mean) / std
    data = np.concatenate((X.numpy(), Y.numpy()))
    target = np.concatenate((np.zeros(X.shape[0]), np.ones(Y.shape[0])))
    return C2ST_BACKENDS[backend](data, target, seed, n_folds, device)
