"""Command-line values the study scripts share: budgets (``1e4``), observations (``1-10``) and fmbench
settings (``--set fmpe.NAME=VALUE``, read as ``fmbench run`` reads them: JSON, else text).

The studies keep their own small parsers so that they use only fmbench's library API, not its CLI module.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence


def budget(text: str) -> int:
    """``"1000"``, ``"10_000"`` or ``"1e4"`` -> a positive integer."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = float("nan")
    if not (value == value and value >= 1 and value == int(value)):
        raise argparse.ArgumentTypeError(f"a budget must be a positive integer, got {text!r}")
    return int(value)


def observations(text: str) -> tuple[int, ...]:
    """``"1-10"``, ``"1,3,5"`` or ``"1-3,7"`` -> sorted observation numbers."""
    numbers: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            numbers.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"observations look like 1-10 or 1,3,5; got {text!r}") from None
    return tuple(sorted(numbers))


def setting(text: str) -> tuple[str, str, object]:
    """``"fmpe.dropout=0.3"`` -> ``("fmpe", "dropout", 0.3)``."""
    key, sep, raw = text.partition("=")
    method, dot, name = key.partition(".")
    if not (sep and dot and method and name):
        raise argparse.ArgumentTypeError(f"a setting looks like METHOD.NAME=VALUE, got {text!r}")
    try:
        return method, name, json.loads(raw)
    except json.JSONDecodeError:
        return method, name, raw


def by_method(items: Sequence[tuple[str, str, object]]) -> dict[str, dict[str, object]]:
    """:func:`setting` items -> ``{method: {name: value}}``, the later of two values winning."""
    out: dict[str, dict[str, object]] = {}
    for method, name, value in items:
        out.setdefault(method, {})[name] = value
    return out
