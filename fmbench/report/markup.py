"""The HTML of the site's pages (:mod:`fmbench.report.site`): the page frame, table heads and cells that
sort (``site.js`` reads each cell's ``data-v``), figures, links, and number formats."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

import pandas as pd


def page_name(kind: str, name: str) -> str:
    """The file name of a task's or method's page (``task_two_moons.html``).

    >>> page_name("method", "fmpe@mine")
    'method_fmpe_mine.html'
    """
    return f"{kind}_{safe_name(name)}.html"


def document(title: str, body: str, tasks: Iterable[str], methods: Iterable[str]) -> str:
    """A whole page: ``body`` under a navigation bar linking the leaderboard and every task and method."""
    nav = (
        '<a href="index.html">leaderboard</a> tasks: '
        + " ".join(task_link(t) for t in tasks)
        + " &middot; methods: "
        + " ".join(method_link(m) for m in methods)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="site.css"></head>\n<body><nav>{nav}</nav>\n<main>{body}</main>\n'
        '<script src="site.js"></script></body></html>\n'
    )


def header(columns: Sequence[tuple[str, str]]) -> str:
    """A table head; each column is ``(name, kind)``, kind ``num`` or ``text`` (how it sorts)."""
    cells = "".join(f'<th data-type="{kind}" class="{kind}">{escape(name)}</th>' for name, kind in columns)
    return f"<thead><tr>{cells}</tr></thead>"


def cell(text: object, key: object = None, kind: str = "num") -> str:
    """A table cell showing ``text`` (HTML) that sorts by ``key`` (its ``data-v``)."""
    value = "" if key is None else escape(str(key), quote=True)
    return f'<td class="{kind}" data-v="{value}">{text}</td>'


def figure_block(path: Path, caption: str) -> str:
    """A figure of ``path`` (under ``img/``), linked to itself at full size, with its caption."""
    src = f"img/{escape(path.name)}"
    return (
        f'<figure><a href="{src}"><img src="{src}" alt="{escape(caption)}"></a>'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def task_link(task: str) -> str:
    """A link to ``task``'s page."""
    return f'<a href="{page_name("task", task)}">{escape(task)}</a>'


def method_link(method: str) -> str:
    """A link to ``method``'s page."""
    return f'<a href="{page_name("method", method)}">{escape(method)}</a>'


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``_.-`` replaced by ``_`` (a file name)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def num(value: object, digits: int = 3, integers: bool = False) -> str:
    """``value`` with ``digits`` decimals; with ``integers``, a whole number as one (``1,000``) and any
    other to ``digits`` significant digits."""
    if value is None or pd.isna(value):
        return ""
    if integers and float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):.{digits}g}" if integers else f"{float(value):.{digits}f}"


def whole(value: object) -> str:
    """``value`` as a whole number, or ``""`` if missing."""
    return "" if value is None or pd.isna(value) else str(int(value))


def sort_key(value: object) -> str:
    """``value`` as a sort key (``repr`` of the float), or ``""`` if missing (sorted last)."""
    return "" if value is None or pd.isna(value) else repr(float(value))


def fmt_value(value: object) -> str:
    """A filter option's label: integers with thousands separators."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def fmt_bytes(size: int) -> str:
    """``size`` bytes in KB or MB."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB"
