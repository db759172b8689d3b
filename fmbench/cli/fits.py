"""``fmbench paths`` and ``fmbench passes``: figures drawn from a run folder's fits of the ODE-sampled
methods (:mod:`fmbench.report.paths`, :mod:`fmbench.report.passes`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fmbench.cli.arguments import add_settings_option, parse_budget, parse_count, settings_by_method
from fmbench.cli.common import UsageError, set_threads

#: What reading a run's fits raises when a fit, task or method is missing.
_READ_ERRORS = (FileNotFoundError, KeyError, ValueError, IndexError)


def add_parsers(sub: Any) -> None:
    """Adds the ``paths`` and ``passes`` commands."""
    paths = sub.add_parser(
        "paths",
        help="draw how fmpe (OT path) and fmpe_vp (diffusion path) carry the same noise to one posterior",
        description="Reads the fits of a run folder and draws, for one observation, where the same source "
        "draws are at several times along each method's flow (OUT/paths_TASK_BUDGET_obsI.png).",
    )
    _add_fit_reading_arguments(paths, "one figure per task", ["fmpe", "fmpe_vp"])
    paths.add_argument("--samples", type=parse_count, default=500, help="source draws (default 500)")
    paths.set_defaults(handler=paths_command)
    passes = sub.add_parser(
        "passes",
        help="C2ST against network passes per sample for the ODE-sampled methods' fits in a run folder",
        description="For one observation, samples each method's fit in OUT with a fixed-step solver at "
        "several step counts and with dopri5, and writes C2ST and passes per sample to "
        "OUT/passes_TASK_BUDGET_obsI.csv with a figure beside it.",
    )
    _add_fit_reading_arguments(
        passes, "one table and figure per task", ["fmpe", "fmpe_vp", "sbi_fmpe", "npse"]
    )
    passes.add_argument(
        "--steps", type=parse_count, nargs="+", default=[4, 8, 16, 32, 64], help="fixed-step counts"
    )
    passes.add_argument("--solver", choices=["euler", "midpoint", "rk4"], default="euler")
    passes.add_argument(
        "--num-samples", type=parse_count, default=10_000, help="samples per solve (default 10,000)"
    )
    passes.add_argument("--threads", type=parse_count, default=None, metavar="N", help="torch threads")
    passes.set_defaults(handler=passes_command)


def _add_fit_reading_arguments(parser: Any, per_task: str, methods: list[str]) -> None:
    """The arguments of a command that reads a run folder's fits of one budget and seed."""
    parser.add_argument("out", type=Path, metavar="OUT", help="a run's output folder holding the fits")
    parser.add_argument("--tasks", nargs="+", default=["two_moons"], help=per_task)
    parser.add_argument("--budget", type=parse_budget, default=10_000, help="the fits' budget (default 1e4)")
    parser.add_argument("--observation", type=int, default=1, help="the observation (default 1)")
    parser.add_argument(
        "--methods", nargs="+", default=methods, help=f"methods (default {' '.join(methods)})"
    )
    parser.add_argument("--seed", type=int, default=1, help="the fits' seed (default 1)")
    add_settings_option(parser, "the settings the fits were made with, to find their cells (repeatable)")


def paths_command(args: argparse.Namespace) -> int:
    """Draws the flows of each task's fits."""
    from fmbench.report.paths import draw_paths

    for task in args.tasks:
        try:
            figure = draw_paths(
                args.out,
                task,
                args.budget,
                args.observation,
                args.methods,
                seed=args.seed,
                samples=args.samples,
                settings=settings_by_method(args.set),
            )
        except _READ_ERRORS as err:
            raise UsageError(str(err).strip("'\"")) from None
        print(f"paths: {figure}")
    return 0


def passes_command(args: argparse.Namespace) -> int:
    """Writes each task's C2ST-against-passes table and figure."""
    from fmbench.report.passes import write_sweep

    set_threads(args.threads)
    for task in args.tasks:
        try:
            table = write_sweep(
                args.out,
                task,
                args.budget,
                args.observation,
                methods=args.methods,
                steps=args.steps,
                solver=args.solver,
                seed=args.seed,
                num_samples=args.num_samples,
                settings=settings_by_method(args.set),
            )
        except _READ_ERRORS as err:
            raise UsageError(str(err).strip("'\"")) from None
        print(f"passes: {table} (figure: {table.with_suffix('.png')})")
    return 0
