"""The site's tables (:mod:`fmbench.report.site`): the ranking, the cells, C2ST per observation, where a
method stands, its settings, and any cost table, each sortable by any column."""

from __future__ import annotations

import json
from html import escape

import pandas as pd

from fmbench.report.markup import cell, header, method_link, num, sort_key, task_link, whole
from fmbench.report.published import PUBLISHED_LABELS, published_value


def mean_ranks(summary: pd.DataFrame) -> pd.DataFrame:
    """Each method's mean rank of C2ST over the (task, budget) cells it has a value in (1 = lowest C2ST;
    ties share the mean rank). Columns ``method, mean_rank, cells, best``."""
    ran = summary.dropna(subset=["c2st_mean"])
    ranks = ran.assign(rank=ran.groupby(["task", "budget"])["c2st_mean"].rank(method="average"))
    table = ranks.groupby("method").agg(
        mean_rank=("rank", "mean"), cells=("rank", "size"), best=("best", "sum")
    )
    return table.reset_index().sort_values(["mean_rank", "method"]).reset_index(drop=True)


def ranking_table(summary: pd.DataFrame) -> str:
    table = mean_ranks(summary)
    total = summary.groupby(["task", "budget"]).ngroups
    head = header([("method", "text"), ("mean rank", "num"), ("cells ran", "num"), ("cells best", "num")])
    body = "".join(
        f"<tr>{cell(method_link(r.method), r.method, 'text')}{cell(f'{r.mean_rank:.2f}', r.mean_rank)}"
        f"{cell(r.cells, r.cells)}{cell(r.best, r.best)}</tr>"
        for r in table.itertuples()
    )
    note = (
        f'<p class="note">Rank 1 is the lowest C2ST of a (task, budget); {total} cells in all. Methods that '
        "ran on different cells are ranked against different fields, so compare mean ranks with their cell "
        "counts.</p>"
    )
    return note + f'<table class="sortable" id="ranking">{head}<tbody>{body}</tbody></table>'


def cells_table(summary: pd.DataFrame, table_id: str = "") -> str:
    columns = [
        ("task", "text"),
        ("budget", "num"),
        ("method", "text"),
        ("C2ST", "num"),
        ("low", "num"),
        ("high", "num"),
        ("seeds", "num"),
        ("obs.", "num"),
        ("partial", "num"),
        ("best", "text"),
        *((label, "num") for label in PUBLISHED_LABELS.values()),
        ("failed rows", "num"),
    ]
    body = []
    for r in summary.itertuples():
        published = [published_value(key, r.task, int(r.budget)) for key in PUBLISHED_LABELS]
        cells = [
            cell(task_link(r.task), r.task, "text"),
            cell(f"{int(r.budget):,}", int(r.budget)),
            cell(method_link(r.method), r.method, "text"),
            *(cell(num(v), sort_key(v)) for v in (r.c2st_mean, r.c2st_low, r.c2st_high)),
            cell(r.n_seeds, r.n_seeds),
            cell(r.n_observations, r.n_observations),
            cell(r.n_partial or "", r.n_partial),
            cell("&#9733;" if r.best else "", "1" if r.best else "", "text"),
            *(cell(num(v), sort_key(v)) for v in published),
            cell(r.n_failed or "", r.n_failed),
        ]
        attrs = f'data-task="{escape(r.task)}" data-budget="{int(r.budget)}" data-method="{escape(r.method)}"'
        body.append(f"<tr {attrs}{' class=best' if r.best else ''}>{''.join(cells)}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="sortable"{ident}>{header(columns)}<tbody>{"".join(body)}</tbody></table>'


def per_observation_table(rows: pd.DataFrame) -> str:
    ok = rows[(rows.status == "ok") & rows.c2st.notna()]
    if ok.empty:
        return '<p class="note">No evaluated observation.</p>'
    table = ok.pivot_table(index=["budget", "label"], columns="observation", values="c2st", aggfunc="mean")
    columns = [("budget", "num"), ("method", "text"), *((f"obs {int(o)}", "num") for o in table.columns)]
    body = "".join(
        f"<tr>{cell(f'{int(budget):,}', int(budget))}{cell(method_link(label), label, 'text')}"
        + "".join(cell(num(v), sort_key(v)) for v in values)
        + "</tr>"
        for (budget, label), values in zip(table.index, table.to_numpy(), strict=True)
    )
    return f'<table class="sortable">{header(columns)}<tbody>{body}</tbody></table>'


def standing_table(summary: pd.DataFrame, method: str) -> str:
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
        f"<tr{' class=best' if r.best else ''}>{cell(task_link(r.task), r.task, 'text')}"
        f"{cell(f'{int(r.budget):,}', int(r.budget))}"
        + "".join(cell(num(v), sort_key(v)) for v in (r.c2st_mean, r.c2st_low, r.c2st_high))
        + cell(r.n_seeds, r.n_seeds)
        + f"{cell(whole(r.rank), sort_key(r.rank))}{cell(whole(r.field), sort_key(r.field))}"
        f"{cell('&#9733;' if r.best else '', '1' if r.best else '', 'text')}</tr>"
        for r in mine.itertuples()
    )
    return f'<table class="sortable">{header(columns)}<tbody>{body}</tbody></table>'


def settings_tables(rows: pd.DataFrame, cls: type | None) -> str:
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
            f"<tr>{cell(escape(k), k, 'text')}{cell(escape(str(v)), str(v), 'text')}"
            f"{cell(escape(str(helps.get(k, ('', ''))[0])), '', 'text')}"
            f"{cell(escape(helps.get(k, ('', ''))[1]), '', 'text')}</tr>"
            for k, v in sorted(values.items())
        )
        out.append(f'<table class="sortable">{header(columns)}<tbody>{body}</tbody></table>')
    return "".join(out)


def frame_table(frame: pd.DataFrame, link_methods: bool = False) -> str:
    if frame.empty:
        return '<p class="note">None.</p>'
    columns = [(c, "num" if pd.api.types.is_numeric_dtype(frame[c]) else "text") for c in frame.columns]
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for (name, kind), value in zip(columns, row, strict=True):
            if kind == "text":
                text = method_link(value) if link_methods and name == "method" else escape(str(value))
                cells.append(cell(text, str(value), "text"))
            else:
                cells.append(cell(num(value, 4, integers=True), sort_key(value)))
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="sortable">{header(columns)}<tbody>{"".join(body)}</tbody></table>'
