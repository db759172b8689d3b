"""Text forms of a grid's values, as ``fmbench run`` reads them: budgets (``1e4``), counts (``--jobs 2``),
observations (``1-10``), method settings (``METHOD.NAME=VALUE``) and ``KEY=VALUE`` options. Each parser raises
``argparse.ArgumentTypeError`` with a one-line message; the study scripts in ``studies/`` read their
arguments with the same functions.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any


def parse_budget(text: str) -> int:
    """``"1000"``, ``"10_000"`` or ``"1e4"`` -> a positive integer, else ``ArgumentTypeError``."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = float("nan")
    if not (value == value and value >= 1 and value == int(value)):
        raise argparse.ArgumentTypeError(f"a budget must be a positive integer, got {text!r}")
    return int(value)


def parse_count(text: str) -> int:
    """``"2"`` -> a positive integer (jobs, threads, samples), else ``ArgumentTypeError``; argparse puts
    the option's name before the message (``argument --jobs: must be a positive integer, got '0'``)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def parse_observations(text: str) -> tuple[int, ...]:
    """``"1-10"``, ``"1,3,5"`` or ``"1-3,7"`` -> sorted observation numbers."""
    numbers: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            numbers.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"observations look like 1-10 or 1,3,5; got {text!r}") from None
    if not numbers or min(numbers) < 1 or max(numbers) > 10:
        raise argparse.ArgumentTypeError(f"observations must lie in 1..10, got {text!r}")
    return tuple(sorted(numbers))


def parse_setting(text: str) -> tuple[str, str, Any]:
    """``"fmpe.alpha=4"`` -> ``("fmpe", "alpha", 4)``; values are read as JSON, else kept as text."""
    key, sep, raw = text.partition("=")
    method, dot, name = key.partition(".")
    if not (sep and dot and method and name):
        raise argparse.ArgumentTypeError(f"a setting looks like METHOD.NAME=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return method, name, value


def parse_setting_pair(text: str) -> tuple[str, Any]:
    """``"timeout_min=60"`` -> ``("timeout_min", 60)``; values are read as JSON, else kept as text."""
    key, sep, raw = text.partition("=")
    if not (sep and key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def add_settings_option(
    parser: argparse.ArgumentParser, help_text: str, metavar: str = "METHOD.NAME=VALUE"
) -> None:
    """Adds the repeatable ``--set METHOD.NAME=VALUE`` option (:func:`parse_setting`, read into a list that
    :func:`settings_by_method` turns into ``{method: {name: value}}``)."""
    parser.add_argument(
        "--set", action="append", default=[], type=parse_setting, metavar=metavar, help=help_text
    )


def settings_by_method(items: Sequence[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    """Parsed ``--set`` items (:func:`parse_setting`) -> ``{method: {name: value}}``, the later of two
    values of one setting winning."""
    settings: dict[str, dict[str, Any]] = {}
    for method, name, value in items:
        settings.setdefault(method, {})[name] = value
    return settings
