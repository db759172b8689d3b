"""Figures of a results table: C2ST against simulation budget, one panel per task, one line per method,
with the published anchors drawn as references (the layout of Fig. 4 of Dax et al. 2023)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from fmbench.anchors import ANCHOR_LABELS, load_anchors  # noqa: E402
from fmbench.metrics import CoverageCurve, plot_coverage  # noqa: E402

_ANCHOR_STYLE = {
    "sbibm_npe": dict(color="0.45", linestyle="--", marker="s"),
    "paper_fmpe": dict(color="0.65", linestyle=":", marker="^"),
}


def plot_c2st_vs_budget(summary: pd.DataFrame, path: Path) -> Path:
    """Draws ``summary`` (from :func:`fmbench.summary.c2st_summary`) into ``path`` (PNG)."""
    tasks = sorted(summary["task"].unique())
    cols = min(len(tasks), 4)
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False, sharey=True)
    anchors = load_anchors()
    methods = sorted(summary["method"].unique())
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    for ax, task in zip(axes.flat, tasks, strict=False):
        budgets = sorted(summary.loc[summary.task == task, "budget"].unique())
        for anchor, style in _ANCHOR_STYLE.items():
            ref = anchors[(anchors.anchor == anchor) & (anchors.task == task)].sort_values("budget")
            if len(ref):
                ax.plot(ref.budget, ref.c2st, label=ANCHOR_LABELS[anchor], linewidth=1, markersize=4, **style)
        for method in methods:
            part = summary[(summary.task == task) & (summary.method == method)].dropna(subset=["c2st_mean"])
            part = part.sort_values("budget")
            ax.errorbar(
                part.budget,
                part.c2st_mean,
                yerr=part.c2st_std.fillna(0),
                label=method,
                color=colors[method],
                marker="o",
                markersize=4,
                capsize=2,
                linewidth=1.5,
            )
        ax.set_xscale("log")
        ax.set_xticks(sorted({*budgets, *anchors.loc[anchors.task == task, "budget"]}) or [1000])
        ax.set_title(task, fontsize=10)
        ax.set_ylim(0.45, 1.02)
        ax.axhline(0.5, color="0.85", linewidth=0.8, zorder=0)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("C2ST (0.5 best)")
    for ax in axes[-1, :]:
        ax.set_xlabel("simulations")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1 : len(tasks)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * rows, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_coverage_grid(curves: dict[tuple[str, int], dict[str, CoverageCurve]], path: Path) -> Path:
    """One coverage panel per (task, budget), one curve per method, into ``path`` (PNG)."""
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
