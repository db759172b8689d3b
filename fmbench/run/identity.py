"""Which fit made a row: a fingerprint of a fitted posterior's numbers.

A cell's rows, kept draws and coverage must come from one network. A run that resumes a cell whose kept
fit is gone (a new machine, a cleaned folder) fits it again on the same simulations and seed. On one
machine that refit is the same network, bit for bit; on another kind of CPU it can stop at another epoch
and be another network (``studies/NOTES.md``, "Re-checked at 1e4": two_moons 1e4, npe_nsf stopped at
epoch 160 against its first fit's 121). Every row therefore records ``fit_id``, a hash of the numbers the
fitted posterior holds, and a refitted cell evaluates again every observation whose row came from
another fit (:mod:`fmbench.run.jobs`).

The hash covers the bytes of every tensor storage that ``torch.save`` writes for the posterior (its
weights, normalisation statistics and any other tensor it keeps), in the order written, and nothing
else: no timings, no object layout. Two fits with the same numbers share an identity wherever they were
made; a posterior that cannot be saved has none (``None``), and then no row can be judged against it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import zipfile

import pandas as pd
import torch

from fmbench.method import Posterior
from fmbench.run.results import ResultRow

__all__ = ["coverage_from_fit", "fit_identity", "from_fit"]

#: Hex digits kept of the SHA-256: 64 bits, ample to tell the fits of one cell apart.
DIGITS = 16

_STORAGE = re.compile(r"/data/\d+$")  # a tensor storage in torch.save's zip archive


def fit_identity(posterior: Posterior) -> str | None:
    """``"sha256:"`` and the first :data:`DIGITS` hex digits of a SHA-256 over the tensor storages of
    ``posterior`` (the prefix keeps a table reader from taking it for a number), or ``None`` when
    ``posterior`` cannot be saved with ``torch.save``."""
    buffer = io.BytesIO()
    try:
        torch.save(posterior, buffer)
    except (pickle.PicklingError, AttributeError, TypeError):
        return None
    digest = hashlib.sha256()
    with zipfile.ZipFile(buffer) as archive:
        for info in archive.infolist():
            if _STORAGE.search(info.filename):
                digest.update(archive.read(info))
    return f"sha256:{digest.hexdigest()[:DIGITS]}"


def from_fit(row: ResultRow, fit_id: str | None, epochs: int | None) -> bool:
    """Whether ``row`` was made by the fit whose identity is ``fit_id`` and that trained for ``epochs``.

    A row that records its fit's identity is judged by it. A row written before rows recorded one is
    judged by its ``epochs``, the one trace of its fit such a row keeps: a fit that stopped at another
    epoch is another network, and one that stopped at the same epoch is taken for the same. Without an
    identity of the fit (a posterior that cannot be saved), or without epochs on either side, the row is
    kept.
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
