"""Coverage plot: empirical against nominal coverage for several methods, with the diagonal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from fmbench.metrics.coverage import CoverageCurve

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
