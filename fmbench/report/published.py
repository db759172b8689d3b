"""Published C2ST values fmbench's results are drawn beside (the design documents' ANCHORS.md).

``sbibm_npe``: NPE (NSF) as published with sbibm (Lueckmann et al., AISTATS 2021), mean over the 10
observations; gaussian_mixture as re-run after the sbibm 1.1.0 fix. The FMPE paper (Dax et al., NeurIPS
2023) publishes no numbers, only a figure, so no FMPE values stand here: values read off a figure are not
published.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import pandas as pd

#: Display names of the published results.
PUBLISHED_LABELS = {"sbibm_npe": "sbibm NPE (published)"}


@functools.cache
def load_published() -> pd.DataFrame:
    """Columns ``result, task, budget, c2st, source``."""
    with files("fmbench").joinpath("data/published_c2st.csv").open() as handle:
        return pd.read_csv(handle)


def published_value(result: str, task: str, budget: int) -> float | None:
    """The published value of ``result`` (a key of :data:`PUBLISHED_LABELS`), or ``None``."""
    table = load_published()
    hit = table[(table.result == result) & (table.task == task) & (table.budget == budget)]
    return float(hit.c2st.iloc[0]) if len(hit) else None
