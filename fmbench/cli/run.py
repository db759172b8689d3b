"""``fmbench run``: a grid of tasks x methods x budgets x seeds, on this machine or a SLURM cluster.

Checks every input before anything runs (tasks, methods, settings, budgets, observations, device, the
output folder), then hands the grid to the run engine (:func:`fmbench.run.runner.run_grid`) with the
executor asked for; ``--collect`` only rebuilds the table and says what is missing. A run in which a job
failed exits 1 after a one-line summary; its finished rows are kept and a re-run retries the failed jobs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fmbench import registry
from fmbench.cli.arguments import (
    add_settings_option,
    parse_budget,
    parse_count,
    parse_observations,
    parse_setting_pair,
    settings_by_method,
)
from fmbench.cli.common import UsageError, check_device, check_writable
from fmbench.cli.report import write_report
from fmbench.run.executors import EXECUTORS

EXAMPLE = (
    "example: fmbench run --tasks two_moons gaussian_linear --methods npe_nsf npe_maf "
    "--budgets 1000 10000 --observations 1-10 --seeds 1 --out runs/demo"
)


def add_parsers(sub: Any) -> None:
    """Adds the ``run`` command."""
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
        type=parse_count,
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
        type=parse_count,
        default=1000,
        metavar="N",
        help="posterior samples per held-out pair for the coverage (default: 1000)",
    )
    run.add_argument(
        "--threads",
        type=parse_count,
        default=None,
        metavar="N",
        help="torch intra-op threads of this job (default: torch's; use 1 when several jobs share the cores)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--report", action="store_true", help="write the report into OUT when the grid is done")
    _add_scale_arguments(run.add_argument_group("running on more machines (see the README)"))
    run.set_defaults(handler=run_command)


def _add_scale_arguments(scale: Any) -> None:
    """The options that choose where and how many jobs run."""
    scale.add_argument(
        "--jobs",
        type=parse_count,
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
        type=parse_count,
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
        type=parse_count,
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
        "--dry-run",
        action="store_true",
        help="run nothing: print the jobs the command would run and their CPU time estimated from the "
        "committed timings (and OUT's own rows)",
    )
    scale.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild the table from OUT and say what is missing or failed (with --report, "
        "also write the report)",
    )


def run_command(args: argparse.Namespace) -> int:
    """Checks the grid and its options, then runs it (or collects it)."""
    from fmbench.coverage import CoverageOptions
    from fmbench.metrics import C2ST_BACKENDS
    from fmbench.run.runner import Grid, RunOptions

    settings = settings_by_method(args.set)
    if args.coverage_pairs < 0:
        raise UsageError(f"--coverage-pairs must be 0 or positive, got {args.coverage_pairs}")
    if args.c2st_backend not in C2ST_BACKENDS:
        raise UsageError(
            f"unknown C2ST backend {args.c2st_backend!r}; valid: {', '.join(sorted(C2ST_BACKENDS))}"
        )
    here = args.executor != "slurm" and not (args.collect or args.dry_run)
    device = check_device(args.device, here=here)
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
    if not args.dry_run:
        check_writable(args.out)
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
    if args.dry_run:
        return _dry_run(grid, options, args)
    return _execute(grid, options, args)


def _dry_run(grid: Any, options: Any, args: argparse.Namespace) -> int:
    """Prints the jobs with work left and their estimated cost; writes nothing."""
    import pandas as pd

    from fmbench.run.estimate import (
        Pricing,
        committed_seconds,
        dry_run_text,
        run_seconds,
        spent_seconds,
        spent_text,
    )
    from fmbench.run.runner import plan

    spent = spent_text(spent_seconds(grid.cells(), grid.observations, Path(args.out)), Path(args.out))
    plans = plan(grid, options, args.observations_per_job, args.cpu_methods)
    if not plans:
        print("fmbench: nothing to do: every cell of the grid is complete in " + str(args.out))
        print(spent)
        return 0
    seconds = pd.concat([run_seconds(args.out), committed_seconds()], ignore_index=True)
    pricing = Pricing(args.num_samples, args.coverage_pairs, args.coverage_samples)
    print(dry_run_text(plans, Path(args.out), seconds, pricing, args.jobs or 1))
    print(spent)
    print(
        "(a dry run: nothing was run or written; timings from the folder's own rows, then the committed ones)"
    )
    return 0


def _execute(grid: Any, options: Any, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fmbench.run.jobs import WorkerSetup
    from fmbench.run.runner import run_grid, submit_without_waiting

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
        write_report(args.out, None)
    print(f"fmbench: {summary.line()}", file=sys.stderr if not summary.ok else sys.stdout)
    return 0 if summary.ok else 1


def _executor(name: str, setup: Any, args: argparse.Namespace) -> Any:
    from fmbench.run import executors

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
    from fmbench.run.results import assemble
    from fmbench.run.runner import plan

    table = assemble(Path(options.out))
    assemble_coverage(Path(options.out))
    plans = plan(grid, options)
    failed = table[table.status == "failed"] if len(table) else table
    missing = sum(len(p.fit.observations) for p in plans)
    uncalibrated = sum(any(j.kind == "calibrate" for j in p.followers) for p in plans)
    print(f"results: {Path(options.out) / 'results.csv'} ({len(table)} rows)")
    if report and len(table):
        write_report(options.out, None)
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
