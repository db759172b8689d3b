"""Refit intervals: how far a cell's C2ST, or the difference between two methods, moves when the methods
are fitted again.

Seeds are the repeat axis of the protocol: seed s means new simulations and a new fit. The observations
1-10 are a fixed test set shared by every seed, so what varies from one fit to the next is the seed. A
cell's value is therefore the mean over seeds of each seed's mean over observations, and its 95% interval
is a Student-t interval over those seed means (``n_seeds - 1`` degrees of freedom): it holds fit-to-fit
variance (and the observation noise each seed mean carries), and a cell with one seed has none. A seed
evaluated on only some of its cell's observations waits outside the mean until it is complete.

Two methods are compared on the (seed, observation) pairs both evaluated: the same seed means the same
simulations for both, so the difference is taken per pair, averaged per seed, and the t-interval over
those seed differences decides. A comparison is *lower* or *higher* only when that interval excludes zero
and the cell has at least :data:`MIN_SEEDS` shared seeds; otherwise it is *indistinguishable*, or *not
counted* (fewer seeds: with one or two fits the interval says too little to call a winner).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

#: Confidence level of every interval.
CONFIDENCE = 0.95
#: Shared seeds a comparison needs before it counts as lower or higher.
MIN_SEEDS = 3
#: How the report names its intervals.
INTERVAL_NAME = f"{CONFIDENCE:.0%} t-interval over seed means"

#: The verdicts of :func:`verdict`.
LOWER, HIGHER, TIED, NOT_COUNTED = "lower", "higher", "indistinguishable", "not counted"


def t_interval(values: np.ndarray | pd.Series) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the :data:`CONFIDENCE` Student-t interval of the mean of ``values``;
    ``low`` and ``high`` are NaN for fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def complete_seeds(rows: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits ``rows`` (one per ``keys``, seed and observation) into the rows of complete seeds and a
    table of the partial ones.

    A seed of a cell (``keys``) is complete when it has a row for every observation that any seed of the
    cell has. A partial seed (a grid still running, a run given fewer observations) would weigh its few
    observations as much as another seed's ten, and on other observations, so it is left out of the
    cell's value and interval until it is complete. Where no seed of a cell is complete, all are kept.

    Returns ``(kept, partial)``: the rows of the kept seeds, and per left-out seed ``keys``, ``seed``,
    ``n_observations`` (its own) and ``cell_observations`` (the cell's).
    """
    per_seed = rows.groupby([*keys, "seed"])["observation"].nunique().rename("n_observations").reset_index()
    per_cell = rows.groupby(keys)["observation"].nunique().rename("cell_observations").reset_index()
    per_seed = per_seed.merge(per_cell, on=keys)
    complete = per_seed["n_observations"] == per_seed["cell_observations"]
    keep = complete | ~complete.groupby([per_seed[k] for k in keys]).transform("any")
    kept = rows.merge(per_seed.loc[keep, [*keys, "seed"]], on=[*keys, "seed"])
    return kept, per_seed.loc[~keep].reset_index(drop=True)


def seed_means(ok: pd.DataFrame, keys: list[str], value: str = "c2st") -> pd.DataFrame:
    """Each seed's mean of ``value`` over its observations, per ``keys``: columns ``keys``, ``seed``,
    ``value`` and ``n_observations``."""
    return (
        ok.groupby([*keys, "seed"])
        .agg(**{value: (value, "mean"), "n_observations": (value, "size")})
        .reset_index()
    )


def cell_intervals(ok: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys`` (e.g. task, budget, method) over the ``ok`` rows: ``c2st_mean`` (mean of seed means),
    ``c2st_low`` and ``c2st_high`` (its interval, NaN with one seed), ``n_seeds`` and
    ``n_observations`` (the most observations any seed has)."""
    per_seed = seed_means(ok, keys)
    rows = []
    for key, part in per_seed.groupby(keys):
        mean, low, high = t_interval(part["c2st"])
        rows.append((*key, mean, low, high, len(part), int(part["n_observations"].max())))
    columns = [*keys, "c2st_mean", "c2st_low", "c2st_high", "n_seeds", "n_observations"]
    return pd.DataFrame(rows, columns=columns)


def verdict(low: float, high: float, n_seeds: int) -> str:
    """:data:`LOWER`, :data:`HIGHER`, :data:`TIED` or :data:`NOT_COUNTED` for a difference interval."""
    if n_seeds < MIN_SEEDS or not (math.isfinite(low) and math.isfinite(high)):
        return NOT_COUNTED
    if high < 0:
        return LOWER
    if low > 0:
        return HIGHER
    return TIED


def paired_differences(pairs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``pairs`` holds one row per shared (``keys``, seed, observation) with ``c2st`` and ``other_c2st``.

    Returns per ``keys``: ``n_seeds``, ``n_pairs``, ``c2st`` and ``other_c2st`` (means of seed means),
    ``difference`` (their difference, the mean of the seed differences), ``low`` and ``high`` (its
    interval), ``verdict`` and ``pairs_below`` (pairs where the first method is lower). Seeds that share
    only some of the cell's observations are left out (:func:`complete_seeds`)."""
    pairs, _ = complete_seeds(pairs, keys)
    pairs = pairs.assign(paired=pairs["c2st"] - pairs["other_c2st"])
    counts = pairs.groupby(keys).agg(
        n_pairs=("paired", "size"), pairs_below=("paired", lambda d: int((d < 0).sum()))
    )
    per_seed = pairs.groupby([*keys, "seed"]).agg(
        c2st=("c2st", "mean"), other_c2st=("other_c2st", "mean"), paired=("paired", "mean")
    )
    rows = []
    for key, part in per_seed.reset_index().groupby(keys):
        difference, low, high = t_interval(part["paired"])
        c2st, other = part["c2st"].mean(), part["other_c2st"].mean()
        rows.append((*key, len(part), c2st, other, difference, low, high, verdict(low, high, len(part))))
    columns = [*keys, "n_seeds", "c2st", "other_c2st", "difference", "low", "high", "verdict"]
    table = pd.DataFrame(rows, columns=columns)
    return table.merge(counts.reset_index(), on=keys) if len(table) else table
