"""Published C2ST values fmbench is measured against (see ANCHORS.md in the design documents).

``sbibm_npe``: NPE (NSF) as published with sbibm (Lueckmann et al., AISTATS 2021), mean over the 10
observations; gaussian_mixture as re-run after the sbibm 1.1.0 fix. The FMPE paper (Dax et al., NeurIPS
2023) publishes no numbers, only a figure, so it has no anchor: values read off a figure are not published.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import pandas as pd

#: Display names of the anchors.
ANCHOR_LABELS = {"sbibm_npe": "sbibm NPE (published)"}


@functools.cache
def load_anchors() -> pd.DataFrame:
    """Columns ``anchor, task, budget, c2st, source``."""
    with files("fmbench").joinpath("data/anchors.csv").open() as handle:
        return pd.read_csv(handle)


def anchor_value(anchor: str, task: str, budget: int) -> float | None:
    """The published value, or ``None`` where there is none."""
    table = load_anchors()
    hit = table[(table.anchor == anchor) & (table.task == task) & (table.budget == budget)]
    return float(hit.c2st.iloc[0]) if len(hit) else None
