"""The ``fmbench`` command line, a module per command: ``tasks`` and ``methods``
(:mod:`~fmbench.cli.listing`), ``run`` (:mod:`~fmbench.cli.run`), ``report`` (:mod:`~fmbench.cli.report`),
``check`` (:mod:`~fmbench.cli.check`), ``paths`` and ``passes`` (:mod:`~fmbench.cli.fits`).

Bad input (an unknown task or method, a malformed budget, an observation out of range, an output folder
that cannot be written, a bad method setting, an unknown or absent device, a broken plugin file) exits
with status 2 and a one-line message naming the option, before anything is written. A run in which any
job failed exits with status 1 after a one-line summary; its finished rows are kept and a re-run retries
the failed jobs.

May import: every part of fmbench; nothing imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fmbench import __version__, plugins
from fmbench.cli import check, fits, listing, report, run
from fmbench.cli.common import Parser, UsageError, check_device

__all__ = ["build_parser", "check_device", "main", "UsageError"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fmbench``; each command's parser sets its ``handler``."""
    parser = Parser(prog="fmbench", description="FMPE against NPE on the sbibm tasks.", epilog=run.EXAMPLE)
    parser.add_argument("--version", action="version", version=f"fmbench {__version__}")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE",
        help="a Python file that registers extra tasks or methods (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (listing, run, report, check, fits):
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fmbench`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        try:
            plugins.load_plugin_files(args.plugin)
        except plugins.PluginError as err:
            raise UsageError(str(err)) from None
        return args.handler(args)
    except (UsageError, plugins.PluginError) as err:
        print(f"fmbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "fmbench: interrupted; finished rows are kept, re-run the same command to resume", file=sys.stderr
        )
        return 130
