"""The site's pictures of posteriors: pairwise marginals of each method's kept draws (points) over the
reference posterior's 68% and 95% highest-density regions (contours), with the true parameter marked; and
a method's coverage curves, one panel per task.

A posterior picture is one PNG per (task, budget, observation): a column per method, a row per pair of
parameters. Tasks with up to :data:`CORNER_DIM` parameters show every pair; larger ones show the pairs of
their first :data:`CORNER_DIM` parameters (6 pairs), and the picture says so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402

from fmbench.coverage import CoverageCurve, plot_coverage  # noqa: E402

#: Parameters whose pairs are drawn: all of a task with at most this many, else the first this many.
CORNER_DIM = 4
#: The reference posterior's highest-density regions drawn as contours (of a smoothed 2-D histogram).
REGION_MASSES = (0.68, 0.95)
_BINS = 40
#: Resolution of every site picture (PNG), dots per inch.
DPI = 80
_PANEL = 2.0  # inches
_MIN_WIDTH = 3.4


def parameter_pairs(dim: int) -> list[tuple[int, int]]:
    """The pairs of parameter indices drawn for a ``dim``-parameter task (all pairs of the first
    :data:`CORNER_DIM`).

    >>> parameter_pairs(2)
    [(0, 1)]
    >>> len(parameter_pairs(10))
    6
    """
    return list(itertools.combinations(range(min(dim, CORNER_DIM)), 2))


def posterior_figure(
    reference: np.ndarray,
    draws: Mapping[str, np.ndarray],
    truth: np.ndarray,
    labels: Sequence[str],
    title: str,
    path: Path,
) -> Path:
    """Draws each method's draws over the reference posterior's, pair by pair, into ``path`` (PNG).

    Args:
        reference: Reference posterior samples ``(N, D)`` (all of them: they only shape the contours).
        draws: Method label -> its kept draws ``(M, D)``.
        truth: The true parameter ``(D,)``, marked with a cross.
        labels: The ``D`` parameter names.
        title: The figure's title.
        path: Where the PNG goes.
    """
    pairs = parameter_pairs(reference.shape[1])
    methods = list(draws)
    grid, height = _PANEL * len(methods) + 0.2, _PANEL * len(pairs) + 0.5
    width = max(grid, _MIN_WIDTH)  # room for the title; the panels stay square, centred
    side = (width - grid) / 2
    fig, axes = plt.subplots(len(pairs), len(methods), figsize=(width, height), squeeze=False)
    # fixed margins in inches (tight_layout measures every label: most of the drawing time)
    fig.subplots_adjust(
        left=(0.45 + side) / width,
        right=1 - (0.1 + side) / width,
        bottom=0.35 / height,
        top=1 - 0.6 / height,
        wspace=0.4,
        hspace=0.4,
    )
    for row, (i, j) in enumerate(pairs):
        lows, highs = _limits(reference[:, [i, j]], truth[[i, j]])
        for col, method in enumerate(methods):
            ax = axes[row, col]
            ax.scatter(draws[method][:, i], draws[method][:, j], s=1, color="C0", alpha=0.6, linewidths=0)
            _regions(ax, reference[:, [i, j]], lows, highs)
            ax.plot(truth[i], truth[j], "x", color="C3", markersize=6, markeredgewidth=1.5)
            ax.set(xlim=(lows[0], highs[0]), ylim=(lows[1], highs[1]))
            ax.tick_params(labelsize=6)
            ax.set_xlabel(labels[i], fontsize=7, labelpad=1)
            ax.set_ylabel(labels[j], fontsize=7, labelpad=1)
            if row == 0:
                ax.set_title(method, fontsize=8)
    fig.suptitle(title, fontsize=8)
    return save_figure(fig, path)


def _regions(ax: plt.Axes, reference: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> None:
    """Draws the reference's highest-density regions of :data:`REGION_MASSES` as black contours (a
    smoothed 2-D histogram of ``reference`` ``(N, 2)`` over the axis limits)."""
    hist, xedges, yedges = np.histogram2d(
        reference[:, 0], reference[:, 1], bins=_BINS, range=[[lows[0], highs[0]], [lows[1], highs[1]]]
    )
    hist = gaussian_filter(hist, 1.0)
    ordered = np.sort(hist.ravel())[::-1]
    if ordered[0] <= 0:
        return
    mass = np.cumsum(ordered) / ordered.sum()
    levels = sorted({float(ordered[min(np.searchsorted(mass, m), len(ordered) - 1)]) for m in REGION_MASSES})
    centers = (xedges[:-1] + xedges[1:]) / 2, (yedges[:-1] + yedges[1:]) / 2
    ax.contour(*centers, hist.T, levels=levels, colors="black", linewidths=0.8)


def _limits(reference: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis limits holding the reference's central 99.8% and the truth, with a margin: a method's draws
    far outside them are off the picture, which the picture then shows as missing mass."""
    low, high = np.quantile(reference, [0.001, 0.999], axis=0)
    low, high = np.minimum(low, truth), np.maximum(high, truth)
    margin = 0.35 * (high - low) + 1e-6
    return low - margin, high + margin


def coverage_figure(curves: Mapping[str, Mapping[int, CoverageCurve]], path: Path) -> Path:
    """One method's expected coverage: a panel per task, a curve per budget, into ``path`` (PNG)."""
    tasks = sorted(curves)
    cols = min(len(tasks), 5)
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.7 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        plot_coverage({f"{b:,}": c for b, c in sorted(curves[task].items())}, ax=ax, title=task)
        ax.title.set_fontsize(9)
        ax.legend(loc="upper left", fontsize=5)
        ax.tick_params(labelsize=6)
        ax.xaxis.label.set_fontsize(7)
        ax.yaxis.label.set_fontsize(7)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    fig.tight_layout(pad=0.4)
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
