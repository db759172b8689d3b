"""Figures of a results table: C2ST against simulation budget, one panel per task, one line per method,
with sbibm's published NPE drawn as a reference (the layout of Fig. 4 of Dax et al. 2023). Error bars
are the cells' refit intervals (:mod:`fmbench.report.intervals`); a cell fitted once is a hollow marker
without one."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from fmbench.report.published import PUBLISHED_LABELS, load_published  # noqa: E402

_PUBLISHED_STYLE = {
    "sbibm_npe": dict(color="0.45", linestyle="--", marker="s"),
}

#: Panel size and the height of one legend row, in inches.
_PANEL = (3.2, 2.9)
_LEGEND_ROW = 0.2


def plot_c2st_vs_budget(summary: pd.DataFrame, path: Path) -> Path:
    """Draws ``summary`` (from :func:`fmbench.report.summary.c2st_summary`) into ``path`` (PNG)."""
    fig = c2st_figure(summary)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def c2st_figure(summary: pd.DataFrame) -> Figure:
    """The C2ST-against-budget figure of ``summary``, with a legend below the panels that fits inside it."""
    tasks = sorted(summary["task"].unique())
    published = load_published()
    published = published[published.result.isin(_PUBLISHED_STYLE) & published.task.isin(tasks)]
    methods = sorted(summary["method"].unique())
    labels = [PUBLISHED_LABELS[a] for a in _PUBLISHED_STYLE if a in set(published.result)] + methods
    labels += ["one seed (hollow)"] * bool(summary["c2st_low"].isna().any())
    cols = min(len(tasks), 4)
    rows = math.ceil(len(tasks) / cols)
    ncol = max(1, min(len(labels), 2 * cols))
    legend_height = _LEGEND_ROW * math.ceil(len(labels) / ncol) + 0.2
    width, height = max(_PANEL[0] * cols, 4.2), _PANEL[1] * rows + legend_height
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, sharey=True)
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    for ax, task in zip(axes.flat, tasks, strict=False):
        _draw_panel(ax, task, summary, published, colors)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("C2ST (0.5 best)")
    for ax in axes[-1, :]:
        ax.set_xlabel("simulations")
    handles = {}
    for ax in axes.flat[: len(tasks)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    ordered = [label for label in labels if label in handles]
    if summary["c2st_low"].isna().any():  # say what a hollow marker is
        label = "one seed (hollow)"
        handles[label] = Line2D([], [], marker="o", color="0.3", markerfacecolor="white", linestyle="")
        ordered.append(label)
    fig.legend(
        [handles[k] for k in ordered], ordered, loc="lower center", ncol=ncol, fontsize=8, frameon=False
    )
    fig.tight_layout(rect=(0, legend_height / height, 1, 1))
    return fig


def _draw_panel(
    ax: Axes, task: str, summary: pd.DataFrame, published: pd.DataFrame, colors: dict[str, object]
) -> None:
    for result, style in _PUBLISHED_STYLE.items():
        ref = published[(published.result == result) & (published.task == task)].sort_values("budget")
        if len(ref):
            ax.plot(ref.budget, ref.c2st, label=PUBLISHED_LABELS[result], linewidth=1, markersize=4, **style)
    for method, color in colors.items():
        part = summary[(summary.task == task) & (summary.method == method)].dropna(subset=["c2st_mean"])
        part = part.sort_values("budget")
        ax.plot(part.budget, part.c2st_mean, color=color, linewidth=1.5, label=method)
        seeded = part.dropna(subset=["c2st_low", "c2st_high"])
        yerr = [seeded.c2st_mean - seeded.c2st_low, seeded.c2st_high - seeded.c2st_mean]
        ax.errorbar(seeded.budget, seeded.c2st_mean, yerr=yerr, fmt="o", color=color, markersize=4, capsize=2)
        once = part[part.c2st_low.isna()]  # one fit: no refit interval, drawn hollow
        ax.plot(once.budget, once.c2st_mean, "o", color=color, markerfacecolor="white", markersize=4)
    budgets = summary.loc[summary.task == task, "budget"]
    ax.set_xscale("log")
    ax.set_xticks(sorted({*budgets, *published.loc[published.task == task, "budget"]}) or [1000])
    ax.set_title(task, fontsize=10)
    ax.set_ylim(0.45, 1.02)
    ax.axhline(0.5, color="0.85", linewidth=0.8, zorder=0)
    ax.grid(alpha=0.3)
