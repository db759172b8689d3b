"""A small, fixed subsample of each fit's posterior draws, kept so that a report can draw them.

C2ST says how far a posterior is from the reference, not how: a missing mode, a posterior too wide, mass
at the edge of the prior's box. For observations :data:`KEPT_OBSERVATIONS` of every cell, the evaluation
keeps the first :data:`KEPT_DRAWS` of its posterior samples (already restricted to the prior's support,
in the order drawn, so a random subsample) as float16 in ``OUT/draws/TASK/METHOD/<cell>_obs<i>.npy``:
``KEPT_DRAWS x theta_dim x 2`` bytes plus a 128-byte header, 4.1 KB for a 2-parameter task and 20 KB
for a 10-parameter one, per observation. Files are written atomically; a damaged one reads as ``None``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from fmbench.run.results import Cell
from fmbench.run.store import write_atomic

#: The observations whose draws are kept, and how many draws of each.
KEPT_OBSERVATIONS = (1, 2, 3)
KEPT_DRAWS = 1000
DRAWS_DIR = "draws"


def draws_path(cell: Cell, out: Path, observation: int) -> Path:
    """Where ``cell``'s kept draws of ``observation`` are (``.npy``, float16, ``(KEPT_DRAWS, D)``)."""
    name = cell.path(out).with_suffix("").name
    return Path(out) / DRAWS_DIR / cell.task / cell.method / f"{name}_obs{observation}.npy"


def keep_draws(cell: Cell, out: Path, observation: int, samples: Tensor) -> Path | None:
    """Writes the first :data:`KEPT_DRAWS` of ``samples`` ``(N, D)`` if ``observation`` is kept."""
    if observation not in KEPT_OBSERVATIONS:
        return None
    kept = samples[:KEPT_DRAWS].detach().cpu().numpy().astype(np.float16)
    path = draws_path(cell, out, observation)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, kept)

    write_atomic(path, write)
    return path


def read_draws(path: Path) -> np.ndarray | None:
    """The draws at ``path`` as float32 ``(N, D)``, or ``None`` if missing or damaged."""
    try:
        draws = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return draws.astype(np.float32) if draws.ndim == 2 else None
