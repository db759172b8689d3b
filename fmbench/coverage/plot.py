"""Coverage plots: empirical against nominal coverage, one curve per method over the diagonal; one panel
per (task, budget) for a report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fmbench.coverage.ranks import CoverageCurve

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_coverage(
    curves: Mapping[str, CoverageCurve], ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Draws each method's coverage curve over the diagonal of perfect calibration.

    Args:
        curves: Method name -> its :class:`CoverageCurve`.
        ax: Axes to draw on; a new 4 x 4 inch figure when ``None``.
        title: Axes title.

    Returns:
        The axes. Below the diagonal means overconfident, above means underconfident.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="calibrated")
    for name, curve in curves.items():
        ax.plot(curve.levels, curve.coverage, label=f"{name} ({curve.method}, N={curve.num_pairs})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal coverage", ylabel="empirical coverage", aspect="equal")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_coverage_grid(curves: dict[tuple[str, int], dict[str, CoverageCurve]], path: Path) -> Path:
    """One coverage panel per (task, budget), one curve per method, into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(curves)
    cols = min(len(keys), 4)
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (task, budget) in zip(axes.flat, keys, strict=False):
        plot_coverage(curves[(task, budget)], ax=ax, title=f"{task}, {budget:,}")
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
