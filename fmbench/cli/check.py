"""``fmbench check REFERENCE``: the regression gate (:mod:`fmbench.gate`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fmbench.cli.arguments import add_settings_option, parse_count, settings_by_method
from fmbench.cli.common import UsageError, set_threads
from fmbench.gate.noise import FALSE_ALARM_RATE


def add_parsers(sub: Any) -> None:
    """Adds the ``check`` command."""
    check = sub.add_parser(
        "check",
        help="re-run a reference results folder and fail on cells whose C2ST got worse",
        description="Re-runs the grid recorded in REFERENCE (cells, observations, settings, run options) "
        "into RUN, or reads RUN if it is complete, and compares cell by cell. Exit status 1 when a cell "
        "fails, 0 otherwise.",
    )
    check.add_argument("reference", type=Path, metavar="REFERENCE", help="a committed results folder")
    check.add_argument(
        "--out", type=Path, default=None, metavar="RUN", help="run folder (default: a temporary one)"
    )
    check.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        metavar="S",
        help="re-run only these seeds of the reference (default: all; every seed still measures the "
        "refit noise)",
    )
    check.add_argument(
        "--false-alarm-rate",
        type=float,
        default=FALSE_ALARM_RATE,
        metavar="P",
        help="where the reference holds >= 3 seeds of a cell, its tolerance comes from their spread, for "
        f"a chance P that unchanged code fails any cell (default: {FALSE_ALARM_RATE:g})",
    )
    check.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="C2ST",
        help="a fixed tolerance instead (a cell fails when its mean C2ST is worse by more than this)",
    )
    check.add_argument(
        "--standard-errors",
        type=float,
        default=2.0,
        metavar="K",
        help="for a cell with fewer than 3 seeds in the reference: it fails when worse by more than "
        "max(0.02, K standard errors of the reference's mean over its rows) (default: 2)",
    )
    add_settings_option(check, "change a recorded setting for the re-run (repeatable)")
    check.add_argument(
        "--ignore-versions",
        action="store_true",
        help="compare even when the reference was produced with other versions of torch or sbi",
    )
    check.add_argument("--device", default="cpu", help="torch device of the methods (default: cpu)")
    check.add_argument("--threads", type=parse_count, default=None, metavar="N", help="torch threads")
    check.add_argument(
        "--jobs",
        type=parse_count,
        default=1,
        metavar="N",
        help="re-run the reference in N worker processes, one torch thread each (default: 1, this process)",
    )
    check.add_argument("--no-progress", action="store_true", help="no progress bars")
    check.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> int:
    """Re-runs the reference and compares; returns 1 when a cell fails."""
    from fmbench.gate.check import Tolerance
    from fmbench.gate.command import CheckError, run_check

    set_threads(args.threads)
    try:
        tolerance = Tolerance(
            fixed=args.tolerance, false_alarm_rate=args.false_alarm_rate, standard_errors=args.standard_errors
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        return run_check(
            args.reference,
            args.out,
            tolerance=tolerance,
            seeds=tuple(args.seeds) if args.seeds else None,
            overrides=settings_by_method(args.set),
            ignore_versions=args.ignore_versions,
            device=args.device,
            show_progress=not args.no_progress,
            jobs=args.jobs,
            plugin_files=tuple(str(Path(p).resolve()) for p in args.plugin),
        )
    except CheckError as err:
        raise UsageError(str(err)) from None
