"""Which fit made a row: a fingerprint of a fitted posterior's numbers.

A cell's rows, kept draws and coverage must come from one network. A run that resumes a cell whose kept
fit is gone (a new machine, a cleaned folder) fits it again on the same simulations and seed. On one
machine that refit is the same network, bit for bit; on another kind of CPU it can stop at another epoch
and be another network (``studies/NOTES.md``, "Re-checked at 1e4": two_moons 1e4, npe_nsf stopped at
epoch 160 against its first fit's 121). Every row therefore records ``fit_id``, a hash of the numbers the
fitted posterior holds, and a refitted cell evaluates again every observation whose row came from
another fit (:mod:`fmbench.run.jobs`).

The hash covers every tensor the fitted posterior holds (its weights, normalisation statistics and any
other tensor state: dtype, shape and bytes, in the order pickling meets them) and nothing else: no
timings, no object layout, and no probability distribution it refers to (a task's prior, whose lazily
cached tensors depend on what the process did before, not on the fit). Two fits with the same numbers
share an identity wherever they were made. A posterior that cannot be pickled, or that holds no tensor
(its numbers would go unhashed), has none (``None``).
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import pandas as pd
import torch
from torch.distributions import Distribution

from fmbench.method import Posterior
from fmbench.run.results import ResultRow

__all__ = ["coverage_from_fit", "fit_identity", "from_fit"]

#: Hex digits kept of the SHA-256: 64 bits, ample to tell the fits of one cell apart.
DIGITS = 16


class _Discard:
    """A file that keeps nothing written to it."""

    def write(self, data: bytes) -> int:
        return len(data)


class _Fingerprint(pickle.Pickler):
    """Pickles an object into nothing, hashing each tensor it meets instead of pickling it and skipping
    every distribution."""

    def __init__(self) -> None:
        super().__init__(_Discard(), protocol=pickle.HIGHEST_PROTOCOL)
        self.digest = hashlib.sha256()
        self.tensors = 0

    def persistent_id(self, obj: Any) -> str | None:
        if isinstance(obj, Distribution):
            return "distribution"
        if isinstance(obj, torch.Tensor):
            flat = obj.detach().cpu().reshape(-1).contiguous()
            self.digest.update(f"{flat.dtype}{tuple(obj.shape)}".encode())
            self.digest.update(flat.view(torch.uint8).numpy().tobytes())
            self.tensors += 1
            return f"tensor{self.tensors}"
        return None


def fit_identity(posterior: Posterior) -> str | None:
    """``"sha256:"`` and the first :data:`DIGITS` hex digits of a SHA-256 over the tensors ``posterior``
    holds (the prefix keeps a table reader from taking it for a number), or ``None`` when ``posterior``
    cannot be pickled or holds no tensor."""
    fingerprint = _Fingerprint()
    try:
        fingerprint.dump(posterior)
    except Exception:  # noqa: BLE001 - a posterior that cannot be fingerprinted has no identity
        return None
    if not fingerprint.tensors:
        return None
    return f"sha256:{fingerprint.digest.hexdigest()[:DIGITS]}"


def from_fit(row: ResultRow, fit_id: str | None, epochs: int | None) -> bool:
    """Whether ``row`` was made by the fit whose identity is ``fit_id`` and that trained for ``epochs``.

    A row that records its fit's identity is judged by it. A row written before rows recorded one is
    judged by its ``epochs``, the one trace of its fit such a row keeps: a fit that stopped at another
    epoch is another network, and one that stopped at the same epoch is taken for the same. A row with an
    identity is kept when the fit has none (nothing to compare it with), and so is a row without one
    when either side has no epochs.
    """
    if row.fit_id:
        return fit_id is None or row.fit_id == fit_id
    if row.epochs is None or epochs is None:
        return True
    return int(row.epochs) == int(epochs)


def coverage_from_fit(coverage: pd.DataFrame, fit_id: str | None, rows_from_other_fit: bool) -> bool:
    """Whether one cell's coverage ranks (:mod:`fmbench.coverage`) were computed by the fit ``fit_id``.

    Ranks that record their fit's identity (a ``fit_id`` column) are judged by it. Ranks computed before
    they recorded one are taken to come from the fit that made the cell's earlier rows: another fit's
    when ``rows_from_other_fit`` (some ``ok`` row of the cell fails :func:`from_fit`).
    """
    recorded = coverage["fit_id"].dropna() if "fit_id" in coverage.columns else pd.Series([], dtype=str)
    if len(recorded):
        return fit_id is None or str(recorded.iloc[0]) == fit_id
    return not rows_from_other_fit
