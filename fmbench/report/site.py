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

import json
import re
from collections.abc import Iterable, Sequence
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
from fmbench.report.pictures import (
    CORNER_DIM,
    DPI,
    REGION_MASSES,
    coverage_figure,
    parameter_pairs,
    posterior_figure,
    save_figure,
)
from fmbench.report.published import PUBLISHED_LABELS, published_value
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
    """Writes the site into ``folder`` (created; files of an older site are overwritten)."""
    folder = Path(folder)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for name in STATIC:
        (folder / name).write_text(files("fmbench.report").joinpath("static", name).read_text())
    summary = inputs.summary
    tasks, methods = sorted(summary.task.unique()), sorted(summary.method.unique())
    draws = kept_draws_index(inputs.rows)
    pages, images = [], []
    for task in tasks:
        page, pictures = _task_page(folder, task, inputs, draws[draws.task == task], tasks, methods)
        pages.append(page)
        images += pictures
    for method in methods:
        page, pictures = _method_page(folder, method, inputs, tasks, methods)
        pages.append(page)
        images += pictures
    index = folder / "index.html"
    for _ in range(2):  # the second pass states the size the first measured
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        index.write_text(_index_page(inputs, tasks, methods, size, len(images)))
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return SiteFiles(index, [index, *pages], images, size)


def page_name(kind: str, name: str) -> str:
    """The file name of a task's or method's page (``task_two_moons.html``).

    >>> page_name("method", "fmpe@mine")
    'method_fmpe_mine.html'
    """
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.html"


# --- pages -----------------------------------------------------------------------------------------


def _index_page(inputs: SiteInputs, tasks: list[str], methods: list[str], size: int, images: int) -> str:
    summary = inputs.summary
    budgets = sorted(int(b) for b in summary.budget.unique())
    filters = "".join(
        f'<label>{key} <select data-filter="{key}"><option value="">all</option>'
        + "".join(f'<option value="{escape(str(v))}">{escape(_fmt_value(v))}</option>' for v in values)
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
        "<h2>Ranking</h2>" + _ranking_table(summary) + "<h2>Every cell</h2>"
        f'<div class="filters">{filters} <span id="shown"></span> rows shown</div>'
        + _cells_table(summary, table_id="leaderboard")
        + "<h2>Sizes</h2>"
        f'<p class="note">Kept posterior draws in the run folder(s): {files_count} files, '
        f"{_fmt_bytes(draws_bytes)} (the first {KEPT_DRAWS:,} draws of observations "
        f"{', '.join(map(str, KEPT_OBSERVATIONS))} of every cell, float16: {KEPT_DRAWS:,} &times; D "
        f"&times; 2 bytes + a 128-byte header per file). This site: {_fmt_bytes(size)} in all, "
        f"{images} pictures (PNG, {DPI} dpi).</p>"
    )
    return _page("fmbench leaderboard", body, tasks, methods)


def _task_page(
    folder: Path, task: str, inputs: SiteInputs, draws: pd.DataFrame, tasks: list[str], methods: list[str]
) -> tuple[Path, list[Path]]:
    summary = inputs.summary[inputs.summary.task == task]
    rows = inputs.rows[inputs.rows.task == task]
    figure = folder / "img" / f"c2st_{_safe(task)}.png"
    save_figure(c2st_figure(summary), figure)
    pictures, section = _posterior_section(folder, task, draws)
    body = (
        f"<h1>{escape(task)}</h1>"
        + _img(figure, "C2ST against simulation budget")
        + "<h2>Cells</h2>"
        + _cells_table(summary)
        + "<h2>C2ST per observation</h2>"
        '<p class="note">The mean over seeds of each observation\'s C2ST.</p>'
        + _per_observation_table(rows)
        + "<h2>Cost per method</h2>"
        '<p class="note">Means over seeds: fit seconds, seconds to draw the samples, epochs, network '
        "parameters, network passes per sample, fraction of samples rejected outside the prior, "
        "log_prob seconds, peak fit memory (MB).</p>"
        + _frame_table(cost_summary(rows.assign(method=rows.label)), link_methods=True)
        + "<h2>Posterior pictures</h2>"
        + section
    )
    path = folder / page_name("task", task)
    path.write_text(_page(f"fmbench: {task}", body, tasks, methods))
    return path, [figure, *pictures]


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
        path = folder / "img" / f"posterior_{_safe(task)}_{int(budget)}_obs{int(obs)}.png"
        title = f"{task}, {int(budget):,} simulations, observation {int(obs)}"
        posterior_figure(reference, kept, truth, list(spec.labels), title, path)
        seeds = ", ".join(f"{r.method} seed {r.seed}" for r in part.itertuples() if r.method in kept)
        pictures.append(path)
        html.append(_img(path, f"{title} ({seeds})"))
    return pictures, "".join(html)


def _method_page(
    folder: Path, method: str, inputs: SiteInputs, tasks: list[str], methods: list[str]
) -> tuple[Path, list[Path]]:
    rows = inputs.rows[inputs.rows.label == method]
    base = re.split(r"[\[@]", method)[0]
    cls = METHODS.get(base) if base in METHODS else None
    description = escape(cls.description) if cls else "not registered here (a plugin method?)"
    costs = method_costs(inputs.rows.assign(method=inputs.rows.label))
    pictures, coverage_html = [], '<p class="note">No coverage was computed for this method.</p>'
    coverage = inputs.coverage
    if not coverage.empty and (coverage.method == method).any():
        curves = coverage_curves(coverage[coverage.method == method])
        per_task: dict[str, dict[int, object]] = {}
        for (task, budget), by_method in curves.items():
            per_task.setdefault(task, {})[budget] = by_method[method]
        path = coverage_figure(per_task, folder / "img" / f"coverage_{_safe(method)}.png")
        pictures.append(path)
        coverage_html = _img(path, "Expected coverage (TARP) on held-out prior-predictive pairs, all seeds")
    body = (
        f"<h1>{escape(method)}</h1><p>{description}</p>" + "<h2>Settings</h2>"
        '<p class="note">As recorded in its result rows (one table per set of settings run); "auto" '
        "settings resolve per budget. Defaults and help from the method's registered config.</p>"
        + _settings_tables(rows, cls)
        + "<h2>Cost</h2>"
        '<p class="note">Medians over the method\'s cells: whether it has a tractable density, log_prob '
        "seconds per 1,000 thetas, network passes per sample (min, max), seconds per 10,000 samples, cells, "
        "median fit seconds per budget.</p>"
        + _frame_table(costs[costs.method == method])
        + "<h2>Where it stands</h2>"
        + _standing_table(inputs.summary, method)
        + "<h2>Coverage</h2>"
        + coverage_html
    )
    path = folder / page_name("method", method)
    path.write_text(_page(f"fmbench: {method}", body, tasks, methods))
    return path, pictures


# --- tables ----------------------------------------------------------------------------------------


def mean_ranks(summary: pd.DataFrame) -> pd.DataFrame:
    """Each method's mean rank of C2ST over the (task, budget) cells it has a value in (1 = lowest C2ST;
    ties share the mean rank). Columns ``method, mean_rank, cells, best``."""
    ran = summary.dropna(subset=["c2st_mean"])
    ranks = ran.assign(rank=ran.groupby(["task", "budget"])["c2st_mean"].rank(method="average"))
    table = ranks.groupby("method").agg(
        mean_rank=("rank", "mean"), cells=("rank", "size"), best=("best", "sum")
    )
    return table.reset_index().sort_values(["mean_rank", "method"]).reset_index(drop=True)


def _ranking_table(summary: pd.DataFrame) -> str:
    table = mean_ranks(summary)
    total = summary.groupby(["task", "budget"]).ngroups
    head = _head([("method", "text"), ("mean rank", "num"), ("cells ran", "num"), ("cells best", "num")])
    body = "".join(
        f"<tr>{_td(_method_link(r.method), r.method, 'text')}{_td(f'{r.mean_rank:.2f}', r.mean_rank)}"
        f"{_td(r.cells, r.cells)}{_td(r.best, r.best)}</tr>"
        for r in table.itertuples()
    )
    note = (
        f'<p class="note">Rank 1 is the lowest C2ST of a (task, budget); {total} cells in all. Methods that '
        "ran on different cells are ranked against different fields, so compare mean ranks with their cell "
        "counts.</p>"
    )
    return note + f'<table class="sortable" id="ranking">{head}<tbody>{body}</tbody></table>'


def _cells_table(summary: pd.DataFrame, table_id: str = "") -> str:
    columns = [
        ("task", "text"),
        ("budget", "num"),
        ("method", "text"),
        ("C2ST", "num"),
        ("low", "num"),
        ("high", "num"),
        ("seeds", "num"),
        ("obs.", "num"),
        ("best", "text"),
        *((label, "num") for label in PUBLISHED_LABELS.values()),
        ("failed rows", "num"),
    ]
    body = []
    for r in summary.itertuples():
        published = [published_value(key, r.task, int(r.budget)) for key in PUBLISHED_LABELS]
        cells = [
            _td(_task_link(r.task), r.task, "text"),
            _td(f"{int(r.budget):,}", int(r.budget)),
            _td(_method_link(r.method), r.method, "text"),
            *(_td(_num(v), _key(v)) for v in (r.c2st_mean, r.c2st_low, r.c2st_high)),
            _td(r.n_seeds, r.n_seeds),
            _td(r.n_observations, r.n_observations),
            _td("&#9733;" if r.best else "", "1" if r.best else "", "text"),
            *(_td(_num(v), _key(v)) for v in published),
            _td(r.n_failed or "", r.n_failed),
        ]
        attrs = f'data-task="{escape(r.task)}" data-budget="{int(r.budget)}" data-method="{escape(r.method)}"'
        body.append(f"<tr {attrs}{' class=best' if r.best else ''}>{''.join(cells)}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="sortable"{ident}>{_head(columns)}<tbody>{"".join(body)}</tbody></table>'


def _per_observation_table(rows: pd.DataFrame) -> str:
    ok = rows[(rows.status == "ok") & rows.c2st.notna()]
    if ok.empty:
        return '<p class="note">No evaluated observation.</p>'
    table = ok.pivot_table(index=["budget", "label"], columns="observation", values="c2st", aggfunc="mean")
    columns = [("budget", "num"), ("method", "text"), *((f"obs {int(o)}", "num") for o in table.columns)]
    body = "".join(
        f"<tr>{_td(f'{int(budget):,}', int(budget))}{_td(_method_link(label), label, 'text')}"
        + "".join(_td(_num(v), _key(v)) for v in values)
        + "</tr>"
        for (budget, label), values in zip(table.index, table.to_numpy(), strict=True)
    )
    return f'<table class="sortable">{_head(columns)}<tbody>{body}</tbody></table>'


def _standing_table(summary: pd.DataFrame, method: str) -> str:
    ran = summary.dropna(subset=["c2st_mean"])
    ranked = ran.assign(
        rank=ran.groupby(["task", "budget"])["c2st_mean"].rank(method="min"),
        field=ran.groupby(["task", "budget"])["c2st_mean"].transform("size"),
    )
    mine = summary[summary.method == method].merge(
        ranked[["task", "budget", "method", "rank", "field"]], how="left", on=["task", "budget", "method"]
    )
    columns = [("task", "text"), ("budget", "num"), ("C2ST", "num"), ("low", "num"), ("high", "num")]
    columns += [("seeds", "num"), ("rank", "num"), ("of", "num"), ("best", "text")]
    body = "".join(
        f"<tr{' class=best' if r.best else ''}>{_td(_task_link(r.task), r.task, 'text')}"
        f"{_td(f'{int(r.budget):,}', int(r.budget))}"
        + "".join(_td(_num(v), _key(v)) for v in (r.c2st_mean, r.c2st_low, r.c2st_high))
        + f"{_td(r.n_seeds, r.n_seeds)}{_td(_int(r.rank), _key(r.rank))}{_td(_int(r.field), _key(r.field))}"
        f"{_td('&#9733;' if r.best else '', '1' if r.best else '', 'text')}</tr>"
        for r in mine.itertuples()
    )
    return f'<table class="sortable">{_head(columns)}<tbody>{body}</tbody></table>'


def _settings_tables(rows: pd.DataFrame, cls: type | None) -> str:
    helps = {name: (default, text) for name, default, text in cls.Config.settings()} if cls else {}
    configs = sorted(set(rows["method_config"].dropna().astype(str))) if "method_config" in rows else []
    configs = [c for c in configs if c]
    if not configs:
        return '<p class="note">No settings recorded.</p>'
    out = []
    for config in configs:
        try:
            values = json.loads(config)
        except json.JSONDecodeError:
            out.append(f"<pre>{escape(config)}</pre>")
            continue
        columns = [("setting", "text"), ("value", "text"), ("default", "text"), ("what it does", "text")]
        body = "".join(
            f"<tr>{_td(escape(k), k, 'text')}{_td(escape(str(v)), str(v), 'text')}"
            f"{_td(escape(str(helps.get(k, ('', ''))[0])), '', 'text')}"
            f"{_td(escape(helps.get(k, ('', ''))[1]), '', 'text')}</tr>"
            for k, v in sorted(values.items())
        )
        out.append(f'<table class="sortable">{_head(columns)}<tbody>{body}</tbody></table>')
    return "".join(out)


def _frame_table(frame: pd.DataFrame, link_methods: bool = False) -> str:
    if frame.empty:
        return '<p class="note">None.</p>'
    columns = [(c, "num" if pd.api.types.is_numeric_dtype(frame[c]) else "text") for c in frame.columns]
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for (name, kind), value in zip(columns, row, strict=True):
            if kind == "text":
                text = _method_link(value) if link_methods and name == "method" else escape(str(value))
                cells.append(_td(text, str(value), "text"))
            else:
                cells.append(_td(_num(value, 4, integers=True), _key(value)))
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="sortable">{_head(columns)}<tbody>{"".join(body)}</tbody></table>'


# --- HTML pieces -----------------------------------------------------------------------------------


def _page(title: str, body: str, tasks: Iterable[str], methods: Iterable[str]) -> str:
    nav = (
        '<a href="index.html">leaderboard</a> tasks: '
        + " ".join(_task_link(t) for t in tasks)
        + " &middot; methods: "
        + " ".join(_method_link(m) for m in methods)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="site.css"></head>\n<body><nav>{nav}</nav>\n<main>{body}</main>\n'
        '<script src="site.js"></script></body></html>\n'
    )


def _head(columns: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f'<th data-type="{kind}" class="{kind}">{escape(name)}</th>' for name, kind in columns)
    return f"<thead><tr>{cells}</tr></thead>"


def _td(text: object, key: object = None, kind: str = "num") -> str:
    value = "" if key is None else escape(str(key), quote=True)
    return f'<td class="{kind}" data-v="{value}">{text}</td>'


def _img(path: Path, caption: str) -> str:
    """A figure of ``path`` (under ``img/``), linked to itself at full size, with its caption."""
    src = f"img/{escape(path.name)}"
    return (
        f'<figure><a href="{src}"><img src="{src}" alt="{escape(caption)}"></a>'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _task_link(task: str) -> str:
    return f'<a href="{page_name("task", task)}">{escape(task)}</a>'


def _method_link(method: str) -> str:
    return f'<a href="{page_name("method", method)}">{escape(method)}</a>'


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _num(value: object, digits: int = 3, integers: bool = False) -> str:
    """``value`` with ``digits`` decimals; with ``integers``, a whole number as one (``1,000``) and any
    other to ``digits`` significant digits."""
    if value is None or pd.isna(value):
        return ""
    if integers and float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):.{digits}g}" if integers else f"{float(value):.{digits}f}"


def _int(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def _key(value: object) -> str:
    return "" if value is None or pd.isna(value) else repr(float(value))


def _fmt_value(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fmt_bytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB"
