"""``fmbench report OUT [DIR ...] --site``: a static site of the report, opened from disk (``file://``).

Writes into ``OUT/site/``:

- ``index.html``: the leaderboard, one row per (task, budget, method) with the C2ST mean, its refit
  interval, (seeds x observations), the best of each (task, budget) marked and sbibm's published NPE
  beside; sortable by any column (click its header) and filtered by task, budget and method; above it a
  ranking of the methods by their mean rank over the cells they ran;
- ``task_TASK.html``: C2ST against budget, the cells, the C2ST per observation, the cost per method, and
  the posterior pictures (:mod:`fmbench.report.pictures`) of every kept observation and budget;
- ``method_METHOD.html``: the method's description and settings, its cost, its coverage, and where it
  stands on each task;
- ``site.js``, ``site.css`` (package data, no network) and ``img/*.png``.

Every script, style and image is a local file; no page fetches anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from fmbench.coverage import coverage_curves
from fmbench.registry import METHODS, get_task
from fmbench.report.figures import c2st_figure
from fmbench.report.intervals import INTERVAL_NAME
from fmbench.report.kept_draws import draws_size, kept_draws_index
from fmbench.report.markup import (
    document,
    figure_block,
    fmt_bytes,
    fmt_value,
    page_name,
    safe_name,
    task_link,
)
from fmbench.report.pictures import (
    CORNER_DIM,
    DPI,
    REGION_MASSES,
    coverage_figure,
    parameter_pairs,
    posterior_figure,
    save_figure,
)
from fmbench.report.site_tables import (
    cells_table,
    frame_table,
    per_observation_table,
    ranking_table,
    settings_tables,
    standing_table,
)
from fmbench.report.summary import cost_summary, method_costs
from fmbench.run.draws import KEPT_DRAWS, KEPT_OBSERVATIONS, read_draws

STATIC = ("site.js", "site.css")

#: Flags that open the site in a headless Chromium in a container without a sandbox or network (used by
#: tests/test_site.py and scripts/site_screenshots.py).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class SiteInputs:
    """What the site is built from (the report's own tables).

    Attributes:
        rows: Result rows on the leaderboard, with ``label``, ``run_method`` and ``folder`` columns
            (:func:`fmbench.report.kept_draws.kept_draws_index`).
        summary: :func:`fmbench.report.summary.c2st_summary` of ``rows``.
        coverage: The coverage table (may be empty).
        folders: The run folders merged, whose kept draws are measured.
    """

    rows: pd.DataFrame
    summary: pd.DataFrame
    coverage: pd.DataFrame
    folders: Sequence[Path]


@dataclass(frozen=True)
class SiteFiles:
    """What :func:`write_site` wrote: the leaderboard page, every page, every image, the total bytes."""

    index: Path
    pages: list[Path]
    images: list[Path]
    size: int


def write_site(folder: Path, inputs: SiteInputs) -> SiteFiles:
    """Writes the site into ``folder`` (created; the pages and pictures of an older site there are removed
    first, so none of a method or task no longer in the tables stays behind)."""
    folder = Path(folder)
    for old in [*folder.glob("*.html"), *folder.glob("img/*.png")]:
        old.unlink()
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for name in STATIC:
        (folder / name).write_text(files("fmbench.report").joinpath("static", name).read_text())
    summary = inputs.summary
    tasks, methods = sorted(summary.task.unique()), sorted(summary.method.unique())
    draws = kept_draws_index(inputs.rows)
    pages, images, posteriors = [], [], {}
    for task in tasks:
        page, pictures = _task_page(folder, task, inputs, draws[draws.task == task], tasks, methods)
        pages.append(page)
        images += pictures
        posteriors[task] = len(pictures) - 1  # all but the C2ST plot
    for method in methods:
        page, pictures = _method_page(folder, method, inputs, tasks, methods)
        pages.append(page)
        images += pictures
    index = folder / "index.html"
    for _ in range(2):  # the second pass states the size the first measured
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        index.write_text(_index_page(inputs, tasks, methods, posteriors, size, len(images)))
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return SiteFiles(index, [index, *pages], images, size)


def _index_page(
    inputs: SiteInputs,
    tasks: list[str],
    methods: list[str],
    posteriors: dict[str, int],
    size: int,
    images: int,
) -> str:
    summary = inputs.summary
    with_pictures = [f"{task_link(t)} ({n})" for t, n in posteriors.items() if n]
    pictures = (
        "Posterior pictures (kept draws over the reference posterior) on the task pages: "
        + (", ".join(with_pictures) if with_pictures else "none yet: no cell of these runs kept draws")
        + "."
    )
    budgets = sorted(int(b) for b in summary.budget.unique())
    filters = "".join(
        f'<label>{key} <select data-filter="{key}"><option value="">all</option>'
        + "".join(f'<option value="{escape(str(v))}">{escape(fmt_value(v))}</option>' for v in values)
        + "</select></label>"
        for key, values in (("task", tasks), ("budget", budgets), ("method", methods))
    )
    files_count, draws_bytes = draws_size(list(inputs.folders))
    body = (
        "<h1>fmbench leaderboard: C2ST (0.5 is best)</h1>"
        '<p class="note">Each row: the mean over seeds of each seed\'s mean C2ST over the observations, '
        f"its {escape(INTERVAL_NAME)} (how far a refit moves the cell; none with one seed), and "
        "seeds &times; observations. The best of each (task, budget) is marked &#9733;. sbibm's published "
        "NPE (Lueckmann et al. 2021; one fit per observation, not amortized) stands beside; the FMPE paper "
        "publishes no numbers. Click a column header to sort.</p>"
        f'<p class="note">{pictures}</p>'
        "<h2>Ranking</h2>" + ranking_table(summary) + "<h2>Every cell</h2>"
        f'<div class="filters">{filters} <span id="shown"></span> rows shown</div>'
        + cells_table(summary, table_id="leaderboard")
        + "<h2>Sizes</h2>"
        f'<p class="note">Kept posterior draws in the run folder(s): {files_count} files, '
        f"{fmt_bytes(draws_bytes)} (the first {KEPT_DRAWS:,} draws of observations "
        f"{', '.join(map(str, KEPT_OBSERVATIONS))} of every cell, float16: {KEPT_DRAWS:,} &times; D "
        f"&times; 2 bytes + a 128-byte header per file). This site: {fmt_bytes(size)} in all, "
        f"{images} pictures (PNG, {DPI} dpi).</p>"
    )
    return document("fmbench leaderboard", body, tasks, methods)


def _task_page(
    folder: Path, task: str, inputs: SiteInputs, draws: pd.DataFrame, tasks: list[str], methods: list[str]
) -> tuple[Path, list[Path]]:
    summary = inputs.summary[inputs.summary.task == task]
    rows = inputs.rows[inputs.rows.task == task]
    plot = folder / "img" / f"c2st_{safe_name(task)}.png"
    save_figure(c2st_figure(summary), plot)
    pictures, section = _posterior_section(folder, task, draws)
    section += _without_draws(rows, draws)
    body = (
        f"<h1>{escape(task)}</h1>"
        + figure_block(plot, "C2ST against simulation budget")
        + "<h2>Cells</h2>"
        + cells_table(summary)
        + "<h2>C2ST per observation</h2>"
        '<p class="note">The mean over seeds of each observation\'s C2ST.</p>'
        + per_observation_table(rows)
        + "<h2>Cost per method</h2>"
        '<p class="note">Means over seeds: fit seconds, seconds to draw the samples, epochs, network '
        "parameters, network passes per sample, fraction of samples rejected outside the prior, "
        "log_prob seconds, peak fit memory (MB).</p>"
        + frame_table(cost_summary(rows.assign(method=rows.label)), link_methods=True)
        + "<h2>Posterior pictures</h2>"
        + section
    )
    path = folder / page_name("task", task)
    path.write_text(document(f"fmbench: {task}", body, tasks, methods))
    return path, [plot, *pictures]


def _posterior_section(folder: Path, task: str, draws: pd.DataFrame) -> tuple[list[Path], str]:
    if draws.empty:
        return [], '<p class="note">No kept draws for this task in these run folders.</p>'
    try:
        spec = get_task(task)
    except (KeyError, ValueError) as err:
        return [], f'<p class="note">No reference posterior for {escape(task)}: {escape(str(err))}</p>'
    dim = int(spec.theta_dim)
    shown = f"the pairs of the first {CORNER_DIM} of its {dim} parameters"
    if dim <= CORNER_DIM:
        shown = "every pair of parameters"
    html = [
        f'<p class="note">Per observation and budget, a column per method: its kept draws (blue points; '
        f"the first {KEPT_DRAWS:,} of the lowest seed that kept them, seed named below) over the reference "
        f"posterior's {' and '.join(f'{m:.0%}' for m in REGION_MASSES)} highest-density regions (black "
        f"contours of its samples), true parameter &times; in red; {shown} "
        f"({len(parameter_pairs(dim))} row(s)).</p>"
    ]
    pictures = []
    for (budget, obs), part in draws.groupby(["budget", "observation"]):
        reference = spec.reference_samples(int(obs)).numpy().astype(np.float32)
        truth = spec.true_parameters(int(obs)).numpy().reshape(-1).astype(np.float32)
        kept = {r.method: read_draws(r.path) for r in part.itertuples()}
        kept = {m: d for m, d in kept.items() if d is not None}
        if not kept:
            continue
        path = folder / "img" / f"posterior_{safe_name(task)}_{int(budget)}_obs{int(obs)}.png"
        title = f"{task}, {int(budget):,} simulations, observation {int(obs)}"
        posterior_figure(reference, kept, truth, list(spec.labels), title, path)
        seeds = ", ".join(f"{r.method} seed {r.seed}" for r in part.itertuples() if r.method in kept)
        pictures.append(path)
        html.append(figure_block(path, f"{title} ({seeds})"))
    return pictures, "".join(html)


def _without_draws(rows: pd.DataFrame, draws: pd.DataFrame) -> str:
    """A note naming, per budget, the methods of ``rows`` (a task's) with no kept draws to draw: runs
    that predate kept draws, or a grid that has not reached them yet."""
    ok = rows[(rows.status == "ok") & rows.observation.isin(KEPT_OBSERVATIONS)]
    have = set(zip(draws.budget.astype(int), draws.method, strict=True))
    missing = {}
    for budget, label in sorted(set(zip(ok.budget.astype(int), ok.label, strict=True))):
        if (budget, label) not in have:
            missing.setdefault(budget, []).append(label)
    if not missing:
        return ""
    listed = "; ".join(f"{budget:,}: {', '.join(labels)}" for budget, labels in missing.items())
    return (
        f'<p class="note">Without kept draws (their runs predate them, or did not reach observations '
        f"{', '.join(map(str, KEPT_OBSERVATIONS))} with draws yet), so not drawn: {escape(listed)}.</p>"
    )


def _method_page(
    folder: Path, method: str, inputs: SiteInputs, tasks: list[str], methods: list[str]
) -> tuple[Path, list[Path]]:
    rows = inputs.rows[inputs.rows.label == method]
    base = re.split(r"[\[@]", method)[0]
    cls = METHODS.get(base) if base in METHODS else None
    description = escape(cls.description) if cls else "not registered here (a plugin method?)"
    costs = method_costs(inputs.rows.assign(method=inputs.rows.label))
    pictures, coverage_html = [], '<p class="note">No coverage was computed for this method.</p>'
    coverage = _coverage_of(inputs.coverage, rows, method)
    if not coverage.empty:
        curves = coverage_curves(coverage)
        per_task: dict[str, dict[int, object]] = {}
        for (task, budget), by_method in curves.items():
            per_task.setdefault(task, {})[budget] = by_method[method]
        path = coverage_figure(per_task, folder / "img" / f"coverage_{safe_name(method)}.png")
        pictures.append(path)
        coverage_html = figure_block(
            path, "Expected coverage (TARP) on held-out prior-predictive pairs, all seeds"
        )
    body = (
        f"<h1>{escape(method)}</h1><p>{description}</p>" + "<h2>Settings</h2>"
        '<p class="note">As recorded in its result rows (one table per set of settings run); "auto" '
        "settings resolve per budget. Defaults and help from the method's registered config.</p>"
        + settings_tables(rows, cls)
        + "<h2>Cost</h2>"
        '<p class="note">Medians over the method\'s cells: whether it has a tractable density, log_prob '
        "seconds per 1,000 thetas, network passes per sample (min, max), seconds per 10,000 samples, cells, "
        "median fit seconds per budget.</p>"
        + frame_table(costs[costs.method == method])
        + "<h2>Where it stands</h2>"
        + standing_table(inputs.summary, method)
        + "<h2>Coverage</h2>"
        + coverage_html
    )
    path = folder / page_name("method", method)
    path.write_text(document(f"fmbench: {method}", body, tasks, methods))
    return path, pictures


def _coverage_of(coverage: pd.DataFrame, rows: pd.DataFrame, label: str) -> pd.DataFrame:
    """The coverage rows of the leaderboard column ``label`` (whose result rows are ``rows``), renamed to
    it: a method run with several settings has one column per set, told apart by ``method_config_hash``."""
    if coverage.empty or rows.empty:
        return coverage.iloc[0:0]
    if "method_config_hash" not in coverage or "method_config_hash" not in rows:
        return coverage[coverage.method == label]
    fits = set(zip(rows.method.astype(str), rows.method_config_hash.astype(str), strict=True))
    keys = zip(coverage.method.astype(str), coverage.method_config_hash.astype(str), strict=True)
    return coverage[[key in fits for key in keys]].assign(method=label)
