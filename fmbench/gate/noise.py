"""Refit noise: how far a cell's mean C2ST moves when unchanged code fits it again, measured from the
seeds a reference folder holds, and the tolerance ``fmbench check`` derives from it.

A reference cell (task, method, budget) fitted with several seeds gives one mean C2ST over its
observations per seed. Their spread is the refit noise of the cell: seed s means new simulations and a
new fit, so it bounds from above what a same-seed refit on another numerical path (another thread count,
or a code change that reorders floating-point work) moves the cell. The spreads of every cell with at
least :data:`MIN_REFITS` seeds are pooled into one standard deviation ``sd`` with ``sum(seeds - 1)``
degrees of freedom.

A check re-fits ``c`` of a cell's seeds and compares the mean over them of (run - reference), seed by
seed. Under unchanged code that difference is 0 when the run repeats the reference's numerics exactly
(same versions, CPU, one thread) and otherwise has a standard deviation of at most ``sd * sqrt(2 / c)``.
A cell fails when it is worse by more than::

    t(1 - false_alarm_rate / m, df) * sd * sqrt(2 / c)

``m`` being the number of cells checked (Bonferroni), so that an unchanged check run fails anywhere with
probability at most ``false_alarm_rate``. The measured false alarms and power of the CI reference are in
``results/ci/RUN.txt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

#: Seeds a reference cell needs before its spread counts as a measure of refit noise.
MIN_REFITS = 3
#: Default chance that an unchanged check run fails some cell.
FALSE_ALARM_RATE = 0.01
#: What identifies a cell across its seeds.
CELL_KEYS = ["task", "method", "budget"]


@dataclass(frozen=True)
class RefitNoise:
    """The pooled seed-to-seed standard deviation of cell means in a reference.

    Attributes:
        sd: Pooled standard deviation of one seed's mean C2ST around its cell's mean over seeds.
        df: Its degrees of freedom, ``sum(seeds - 1)`` over the cells pooled.
        cells: One row per cell pooled: ``task, method, budget, seeds, sd`` (the cell's own spread).
    """

    sd: float
    df: int
    cells: pd.DataFrame

    def tolerance(self, seeds_checked: int, cells_checked: int, false_alarm_rate: float) -> float:
        """How much worse a cell checked over ``seeds_checked`` seeds may get, with ``cells_checked``
        cells in the check and a chance ``false_alarm_rate`` that an unchanged run fails any."""
        if seeds_checked < 1 or cells_checked < 1:
            raise ValueError("a check compares at least one seed of at least one cell")
        from scipy import stats

        quantile = float(stats.t.ppf(1 - false_alarm_rate / cells_checked, self.df))
        return quantile * self.sd * math.sqrt(2 / seeds_checked)

    def describe(self, false_alarm_rate: float) -> str:
        """One line: what the tolerance is made of."""
        sizes = sorted(set(self.cells.seeds))
        seeds = "/".join(map(str, sizes))
        return (
            f"tolerance from refit noise: pooled seed-to-seed SD {self.sd:.4f} of a cell's mean C2ST "
            f"({len(self.cells)} reference cell(s) with {seeds} seeds, {self.df} df); a cell checked on "
            f"c seeds fails when its C2ST rises above t(1 - {false_alarm_rate:g}/m, {self.df}) x SD x "
            f"sqrt(2/c), m cells checked"
        )


def seed_cell_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Each (task, method, budget, seed)'s mean C2ST over its ``ok`` rows: ``CELL_KEYS``, ``seed``,
    ``c2st``."""
    ok = rows[(rows.status == "ok") & rows.c2st.notna()]
    return ok.groupby([*CELL_KEYS, "seed"], as_index=False)["c2st"].mean()


def refit_noise(rows: pd.DataFrame, min_refits: int = MIN_REFITS) -> RefitNoise | None:
    """The pooled refit noise of the reference ``rows``, from its cells with at least ``min_refits``
    seeds (each seed's mean over its observations); ``None`` when no cell has that many."""
    means = seed_cell_means(rows)
    pooled: list[dict] = []
    squares, df = 0.0, 0
    for key, cell in means.groupby(CELL_KEYS):
        if len(cell) < min_refits:
            continue
        deviations = cell.c2st - cell.c2st.mean()
        squares += float((deviations**2).sum())
        df += len(cell) - 1
        pooled.append(dict(zip(CELL_KEYS, key, strict=True), seeds=len(cell), sd=float(cell.c2st.std())))
    if not pooled:
        return None
    return RefitNoise(sd=math.sqrt(squares / df), df=df, cells=pd.DataFrame(pooled))
