"""``fmbench report OUT [DIR ...]``: the report of one or more result folders."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fmbench.cli.common import UsageError


def add_parsers(sub: Any) -> None:
    """Adds the ``report`` command."""
    report = sub.add_parser(
        "report", help="leaderboard, summary, timings, costs, findings and figures from a results table"
    )
    report.add_argument("results", type=Path, metavar="OUT", help="a run's output folder or a results CSV")
    report.add_argument(
        "include",
        type=Path,
        nargs="*",
        metavar="DIR",
        help="more result folders merged into the same leaderboard (cells run with other settings are "
        "flagged and kept apart, never averaged)",
    )
    report.add_argument("--to", type=Path, default=None, metavar="DIR", help="report folder (default: OUT)")
    report.add_argument(
        "--site",
        action="store_true",
        help="also write a static site (leaderboard, a page per task and per method, posterior pictures) "
        "into REPORT/site/, opened from disk",
    )
    report.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Writes the report of ``args.results`` (and ``args.include``) into ``args.to``."""
    write_report(args.results, args.to, args.include, site=args.site)
    return 0


def write_report(results: Path, to: Path | None, include: Sequence[Path] = (), site: bool = False) -> None:
    """Writes the report and prints where its files are; a missing or bad table is a usage error."""
    from fmbench.report.writer import write_report as write

    try:
        files = write(results, to, include=include, site=site)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    print(f"leaderboard: {files.leaderboard}\nfigure: {files.figure}\ntimings: {files.timings_md}")
    print(f"cost per method: {files.costs_md}\nfindings: {files.findings}")
    if files.site is not None:
        print(f"site: {files.site.index} ({len(files.site.pages)} pages, {files.site.size / 1e6:.1f} MB)")
