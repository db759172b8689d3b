"""The ``fmbench`` command line: ``tasks``, ``methods``, ``run``, ``report``, ``check``, ``paths`` and
``passes``.

Bad input (an unknown task or method, a malformed budget, an observation out of range, an output folder
that cannot be written, a bad method setting, an unknown or absent device, a broken plugin file) exits
with status 2 and a one-line message, before anything is written. A run in which any job failed exits
with status 1 after a one-line summary; its finished rows are kept and a re-run retries the failed jobs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from fmbench import __version__, plugins, registry
from fmbench.arguments import (
    add_settings_option,
    parse_budget,
    parse_observations,
    parse_setting_pair,
    settings_by_method,
)
from fmbench.executors import EXECUTORS

EXAMPLE = (
    "example: fmbench run --tasks two_moons gaussian_linear --methods npe_nsf npe_maf "
    "--budgets 1000 10000 --observations 1-10 --seeds 1 --out runs/demo"
)


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def check_device(text: str, here: bool = True) -> str:
    """``text`` if it names a torch device (``cpu``, ``cuda``, ``cuda:1``) that this machine has, else
    raises :class:`UsageError`. With ``here`` false (jobs that run on other machines, such as SLURM's
    nodes, and collecting their rows) only the name is checked."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {text!r}; valid: cpu, cuda, cuda:N") from None
    if device.type == "cpu":
        return text
    if device.type != "cuda":
        raise UsageError(f"device {text!r} is not supported; valid: cpu, cuda, cuda:N")
    if not here:
        return text
    if not torch.cuda.is_available():
        raise UsageError(f"device {text!r}: this machine has no CUDA device (torch {torch.__version__})")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"device {text!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fmbench``."""
    parser = _Parser(prog="fmbench", description="FMPE against NPE on the sbibm tasks.", epilog=EXAMPLE)
    parser.add_argument("--version", action="version", version=f"fmbench {__version__}")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE",
        help="a Python file that registers extra tasks or methods (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("tasks", help="list the tasks with their dimensions, prior and availability")
    sub.add_parser("methods", help="list the methods with their settings and defaults")
    run = sub.add_parser("run", help="run a grid of tasks x methods x budgets x seeds", epilog=EXAMPLE)
    run.add_argument(
        "--tasks", nargs="+", required=True, metavar="TASK", help="task names (see fmbench tasks)"
    )
    run.add_argument(
        "--methods", nargs="+", required=True, metavar="METHOD", help="method names (see fmbench methods)"
    )
    run.add_argument(
        "--budgets",
        nargs="+",
        required=True,
        type=parse_budget,
        metavar="N",
        help="simulation budgets, positive integers (1000 or 1e3); nested prefixes of one draw",
    )
    run.add_argument(
        "--observations",
        type=parse_observations,
        default=tuple(range(1, 11)),
        metavar="SPEC",
        help="sbibm observations to evaluate, e.g. 1-10 (default), 1,3 or 2",
    )
    run.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[1],
        metavar="SEED",
        help="seeds of simulations and training, 0 to 999,999 (default: 1); larger seeds are held out",
    )
    run.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="output folder: results.csv, per-fit cells/, simulations/ cache; re-running resumes",
    )
    add_settings_option(run, "override a method setting, e.g. npe_nsf.training_batch_size=10000 (repeatable)")
    run.add_argument(
        "--num-samples",
        type=parse_budget,
        default=10_000,
        metavar="N",
        help="posterior samples per observation (default: 10000, the protocol's)",
    )
    run.add_argument(
        "--c2st-backend",
        default="torch",
        metavar="NAME",
        help="C2ST implementation: torch (default; agrees with sklearn within 0.008 on a 39-pair panel, "
        "results/c2st_agreement.csv) or sklearn (sbibm's own)",
    )
    run.add_argument("--device", default="cpu", help="torch device of the methods: cpu (default) or cuda")
    run.add_argument(
        "--sim-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="simulation cache folder, shareable between runs (default: OUT/simulations)",
    )
    run.add_argument(
        "--coverage-pairs",
        type=int,
        default=200,
        metavar="N",
        help="held-out prior-predictive pairs for each fit's expected coverage (default: 200; 0: off)",
    )
    run.add_argument(
        "--coverage-samples",
        type=parse_budget,
        default=1000,
        metavar="N",
        help="posterior samples per held-out pair for the coverage (default: 1000)",
    )
    run.add_argument(
        "--threads",
        type=parse_budget,
        default=None,
        metavar="N",
        help="torch intra-op threads of this job (default: torch's; use 1 when several jobs share the cores)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--report", action="store_true", help="write the report into OUT when the grid is done")
    scale = run.add_argument_group("running on more machines (see the README)")
    scale.add_argument(
        "--jobs",
        type=parse_budget,
        default=None,
        metavar="N",
        help="jobs at once: local worker processes (default 1: everything in this process); with "
        "--executor slurm, the array tasks running at once (default: as many as SLURM allows)",
    )
    scale.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="serial (this process), process (a local process pool; the default with --jobs > 1), "
        "local (submitit's local executor) or slurm (a SLURM job array through submitit)",
    )
    scale.add_argument(
        "--jobs-per-gpu",
        type=parse_budget,
        default=1,
        metavar="K",
        help="with --device cuda and --executor process: worker processes sharing each visible GPU",
    )
    scale.add_argument(
        "--cpu-methods",
        nargs="+",
        default=[],
        metavar="METHOD",
        help="methods whose jobs stay on CPU workers even with --device cuda",
    )
    scale.add_argument(
        "--observations-per-job",
        type=parse_budget,
        default=1,
        metavar="N",
        help="observations one evaluation job evaluates (default 1)",
    )
    scale.add_argument(
        "--slurm",
        action="append",
        default=[],
        type=parse_setting_pair,
        metavar="KEY=VALUE",
        help="a submitit SLURM parameter, e.g. slurm_partition=gpu, timeout_min=120, cpus_per_task=2, "
        "gpus_per_node=1, mem_gb=16 (repeatable)",
    )
    scale.add_argument(
        "--slurm-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a JSON file of submitit SLURM parameters (the --slurm items override it)",
    )
    scale.add_argument(
        "--no-wait",
        action="store_true",
        help="with --executor slurm: submit every job and return; collect later with --collect",
    )
    scale.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild the table from OUT, say what is missing or failed, write the report",
    )
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
    _add_check_parser(sub)
    _add_paths_parser(sub)
    _add_passes_parser(sub)
    return parser


def _add_passes_parser(sub: Any) -> None:
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
    passes.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64], help="fixed-step counts")
    passes.add_argument("--solver", choices=["euler", "midpoint", "rk4"], default="euler")
    passes.add_argument("--num-samples", type=int, default=10_000, help="samples per solve (default 10,000)")
    passes.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads")


def _add_paths_parser(sub: Any) -> None:
    paths = sub.add_parser(
        "paths",
        help="draw how fmpe (OT path) and fmpe_vp (diffusion path) carry the same noise to one posterior",
        description="Reads the fits of a run folder and draws, for one observation, where the same source "
        "draws are at several times along each method's flow (OUT/paths_TASK_BUDGET_obsI.png).",
    )
    _add_fit_reading_arguments(paths, "one figure per task", ["fmpe", "fmpe_vp"])
    paths.add_argument("--samples", type=int, default=500, help="source draws (default 500)")


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


def _add_check_parser(sub: Any) -> None:
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
        "--tolerance",
        type=float,
        default=0.02,
        metavar="C2ST",
        help="a cell fails when its mean C2ST is worse by more than max(this, K standard errors of the "
        "reference's mean over its observations) (default: 0.02)",
    )
    check.add_argument(
        "--standard-errors", type=float, default=2.0, metavar="K", help="K of the tolerance (default: 2)"
    )
    add_settings_option(check, "change a recorded setting for the re-run (repeatable)")
    check.add_argument(
        "--ignore-versions",
        action="store_true",
        help="compare even when the reference was produced with other versions of torch or sbi",
    )
    check.add_argument("--device", default="cpu", help="torch device of the methods (default: cpu)")
    check.add_argument("--threads", type=parse_budget, default=None, metavar="N", help="torch threads")
    check.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fmbench`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        try:
            plugins.load_plugin_files(args.plugin)
        except plugins.PluginError as err:
            raise UsageError(str(err)) from None
        return COMMANDS[args.command](args)
    except (UsageError, plugins.PluginError) as err:
        print(f"fmbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "fmbench: interrupted; finished rows are kept, re-run the same command to resume", file=sys.stderr
        )
        return 130


def _tasks(args: argparse.Namespace) -> int:
    infos = [registry.get_task(name).info() for name in registry.task_names()]
    print(f"{'task':<24} {'theta':>5} {'x':>4} {'prior':<20} {'obs':>3}  available")
    for i in infos:
        status = "yes" if i.available else f"no: {i.reason}"
        print(f"{i.name:<24} {i.theta_dim:>5} {i.x_dim:>4} {i.prior:<20} {i.num_observations:>3}  {status}")
    return 0


def _methods(args: argparse.Namespace) -> int:
    for name in registry.method_names():
        cls = registry.METHODS.get(name)
        print(f"{name}: {cls.description}")
        for setting, default, help_text in cls.Config.settings():
            print(f"    {setting} = {default!r}  # {help_text}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from fmbench.coverage import CoverageOptions
    from fmbench.metrics import C2ST_BACKENDS
    from fmbench.runner import Grid, RunOptions

    settings = settings_by_method(args.set)
    if args.coverage_pairs < 0:
        raise UsageError(f"--coverage-pairs must be 0 or positive, got {args.coverage_pairs}")
    if args.c2st_backend not in C2ST_BACKENDS:
        raise UsageError(
            f"unknown C2ST backend {args.c2st_backend!r}; valid: {', '.join(sorted(C2ST_BACKENDS))}"
        )
    device = check_device(args.device, here=args.executor != "slurm" and not args.collect)
    try:
        grid = Grid(
            tasks=tuple(args.tasks),
            methods=tuple(args.methods),
            budgets=tuple(args.budgets),
            seeds=tuple(args.seeds),
            observations=args.observations,
            settings=settings,
        )
        registry.METHODS.check(list(args.cpu_methods))
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise UsageError(str(err)) from None
    _check_writable(args.out)
    options = RunOptions(
        out=args.out,
        num_samples=args.num_samples,
        c2st_backend=args.c2st_backend,
        device=device,
        sim_cache=args.sim_cache,
        show_progress=not args.no_progress,
        calibration=CoverageOptions(num_pairs=args.coverage_pairs, num_samples=args.coverage_samples),
    )
    if args.collect:
        return _collect(grid, options, args.report)
    return _execute(grid, options, args)


def _execute(grid: Any, options: Any, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fmbench.jobs import WorkerSetup
    from fmbench.runner import run_grid, submit_without_waiting

    name = args.executor or ("serial" if (args.jobs or 1) == 1 and args.jobs_per_gpu == 1 else "process")
    if args.no_wait and name != "slurm":
        raise UsageError("--no-wait goes with --executor slurm")
    if name != "serial":  # several jobs at once: no per-fit bars, one torch thread each unless told
        options = replace(options, show_progress=False)
    threads = args.threads or (None if name == "serial" else 1)
    setup = WorkerSetup(options, grid.settings, tuple(str(Path(p).resolve()) for p in args.plugin), threads)
    executor = _executor(name, setup, args)
    if args.no_wait:
        fits, rest = submit_without_waiting(grid, options, executor, args.observations_per_job)
        ids = [", ".join(executor.job_ids(handles)) or "none" for handles in (fits, rest)]
        print(
            f"submitted {len(fits) + len(rest)} jobs: {len(fits)} fit(s) as SLURM job {ids[0]}, "
            f"{len(rest)} other(s) as SLURM job {ids[1]} (starts once {ids[0]} has ended); "
            "when they have run: the same command with --collect"
        )
        return 0
    summary = run_grid(
        grid,
        options,
        executor,
        observations_per_job=args.observations_per_job,
        cpu_methods=args.cpu_methods,
        progress=not args.no_progress,
    )
    print(f"results: {summary.table}")
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.report:
        _write_report(args.out, None)
    print(f"fmbench: {summary.line()}", file=sys.stderr if not summary.ok else sys.stdout)
    return 0 if summary.ok else 1


def _executor(name: str, setup: Any, args: argparse.Namespace) -> Any:
    from fmbench import executors

    if name == "serial":
        return executors.SerialExecutor(setup)
    if name == "process":
        gpus: tuple[str, ...] = ()
        if setup.options.device.startswith("cuda"):
            gpus = executors.visible_gpus()
        return executors.ProcessExecutor(setup, args.jobs or 1, gpus, args.jobs_per_gpu)
    parameters = _slurm_parameters(args) if name == "slurm" else {}
    folder = Path(args.out) / "logs" / name
    parallel = (args.jobs or 1) if name == "local" else args.jobs  # on SLURM: None, no cap
    try:
        return executors.SubmititExecutor(setup, name, folder, parallel, parameters)
    except (ValueError, TypeError, RuntimeError) as err:
        raise UsageError(f"--executor {name}: {err}") from None


def _slurm_parameters(args: argparse.Namespace) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if args.slurm_config:
        try:
            parameters = json.loads(Path(args.slurm_config).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UsageError(f"--slurm-config {args.slurm_config}: {err}") from None
        if not isinstance(parameters, dict):
            raise UsageError(f"--slurm-config {args.slurm_config}: expected a JSON object")
    parameters.update(dict(args.slurm))
    return parameters


def _collect(grid: Any, options: Any, report: bool) -> int:
    from fmbench.coverage import assemble_coverage
    from fmbench.results import assemble
    from fmbench.runner import plan

    table = assemble(Path(options.out))
    assemble_coverage(Path(options.out))
    plans = plan(grid, options)
    failed = table[table.status == "failed"] if len(table) else table
    missing = sum(len(p.fit.observations) for p in plans)
    uncalibrated = sum(any(j.kind == "calibrate" for j in p.followers) for p in plans)
    print(f"results: {Path(options.out) / 'results.csv'} ({len(table)} rows)")
    if report and len(table):
        _write_report(options.out, None)
    if not plans:
        print("fmbench: the grid is complete")
        return 0
    print(
        f"fmbench: the grid is not complete: {missing} observation(s) without an ok row "
        f"({len(failed)} failed), {uncalibrated} fit(s) without coverage; jobs still queued or running "
        "(squeue) add their rows as they end; the command without --collect does what is left",
        file=sys.stderr,
    )
    return 1


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UsageError(f"output folder {out} cannot be written: {err.strerror or err}") from None


def _report(args: argparse.Namespace) -> int:
    _write_report(args.results, args.to, args.include)
    return 0


def _check(args: argparse.Namespace) -> int:
    from fmbench.check_command import CheckError, run_check

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return run_check(
            args.reference,
            args.out,
            tolerance=(args.tolerance, args.standard_errors),
            overrides=settings_by_method(args.set),
            ignore_versions=args.ignore_versions,
            device=args.device,
            show_progress=not args.no_progress,
        )
    except CheckError as err:
        raise UsageError(str(err)) from None


def _write_report(results: Path, to: Path | None, include: Sequence[Path] = ()) -> None:
    from fmbench.report import write_report

    try:
        files = write_report(results, to, include=include)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    print(f"leaderboard: {files.leaderboard}\nfigure: {files.figure}\ntimings: {files.timings_md}")
    print(f"cost per method: {files.costs_md}\nfindings: {files.findings}")


def _paths(args: argparse.Namespace) -> int:
    from fmbench.paths import draw_paths

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
        except (FileNotFoundError, KeyError, ValueError, IndexError) as err:
            raise UsageError(str(err).strip("'\"")) from None
        print(f"paths: {figure}")
    return 0


def _passes(args: argparse.Namespace) -> int:
    from fmbench.passes import write_sweep

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if any(k <= 0 for k in args.steps) or args.num_samples <= 0:
        raise UsageError("--steps and --num-samples take positive integers")
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
        except (FileNotFoundError, KeyError, ValueError, IndexError) as err:
            raise UsageError(str(err).strip("'\"")) from None
        print(f"passes: {table} (figure: {table.with_suffix('.png')})")
    return 0


COMMANDS = {
    "tasks": _tasks,
    "methods": _methods,
    "run": _run,
    "report": _report,
    "check": _check,
    "paths": _paths,
    "passes": _passes,
}

if __name__ == "__main__":
    sys.exit(main())
