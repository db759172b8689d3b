"""Running a grid as jobs: executors agree, faults stay in their cell, bad input stops early."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fmbench.cli import main

PLUGIN = str(Path(__file__).parent / "toy_plugin.py")
#: Columns that a rerun reproduces exactly on CPU (timings, memory and timestamps differ).
METRICS = ["task", "method", "budget", "seed", "observation", "status", "c2st", "mmd", "nltp"]
METRICS += ["rejected_fraction", "num_invalid_simulations", "method_config_hash"]


def _run(out: Path, *extra: str, methods=("toy_exact",), tasks=("toy_gaussian",), obs="1-3") -> int:
    argv = ["--plugin", PLUGIN, "run", "--tasks", *tasks, "--methods", *methods, "--budgets", "200"]
    argv += ["--observations", obs, "--num-samples", "400", "--coverage-pairs", "20", "--threads", "1"]
    return main([*argv, "--coverage-samples", "100", "--no-progress", "--out", str(out), *extra])


def _metrics(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv")[METRICS]


def _ranks(out: Path) -> pd.Series:
    return pd.read_csv(out / "coverage.csv").sort_values(["method", "pair"])["rank"].reset_index(drop=True)


def test_serial_process_pool_and_submitit_local_give_identical_rows(tmp_path) -> None:
    methods = ("toy_exact",)
    runs = {
        "serial": (),
        "process": ("--jobs", "2"),
        "local": ("--executor", "local", "--jobs", "2", "--observations-per-job", "3"),
    }
    for name, extra in runs.items():
        assert _run(tmp_path / name, *extra, methods=methods) == 0, name
    serial = _metrics(tmp_path / "serial")
    assert len(serial) == 3 and (serial.status == "ok").all()
    for name in ("process", "local"):
        pd.testing.assert_frame_equal(_metrics(tmp_path / name), serial, check_exact=True)
        pd.testing.assert_series_equal(_ranks(tmp_path / name), _ranks(tmp_path / "serial"), check_exact=True)
    assert list((tmp_path / "local" / "logs" / "local").glob("*_log.out"))


def test_faults_stay_in_their_cell_and_the_run_exits_non_zero(tmp_path, capsys) -> None:
    methods = ("toy_exact", "toy_crash", "toy_nan_samples", "toy_exit")
    assert _run(tmp_path, "--jobs", "2", methods=methods, obs="1-2") == 1
    table = pd.read_csv(tmp_path / "results.csv")
    by_method = {m: part for m, part in table.groupby("method")}
    assert (by_method["toy_exact"].status == "ok").all() and len(by_method["toy_exact"]) == 2
    for method, words in {
        "toy_crash": "diverged on purpose",
        "toy_nan_samples": "NaN",
        "toy_exit": "died abruptly",
    }.items():
        part = by_method[method]
        assert len(part) == 2 and (part.status == "failed").all(), method
        assert part.error.str.contains(words).all(), (method, part.error.tolist())
    coverage = pd.read_csv(tmp_path / "coverage.csv")
    assert set(coverage.method) == {"toy_exact"}  # NaN samples never enter a coverage curve
    err = capsys.readouterr().err
    summary = [line for line in err.splitlines() if "jobs failed" in line]
    assert len(summary) == 1 and summary[0].startswith("fmbench: 5 of 10 jobs failed")


def test_a_rerun_retries_only_the_failed_jobs(tmp_path, capsys) -> None:
    assert _run(tmp_path, methods=("toy_exact", "toy_crash"), obs="1") == 1
    before = pd.read_csv(tmp_path / "results.csv")
    capsys.readouterr()
    assert _run(tmp_path, methods=("toy_exact", "toy_crash"), obs="1") == 1
    after = pd.read_csv(tmp_path / "results.csv")
    assert "1 of 1 jobs failed" in capsys.readouterr().err  # only the crashing fit ran again
    kept = after[after.method == "toy_exact"]
    assert kept.timestamp.tolist() == before[before.method == "toy_exact"].timestamp.tolist()


def test_a_task_whose_simulations_all_fail_gets_one_clear_message(tmp_path) -> None:
    assert _run(tmp_path, tasks=("toy_all_nan",), obs="1") == 1
    error = pd.read_csv(tmp_path / "results.csv").error.iloc[0]
    assert "all 200 simulations of task 'toy_all_nan'" in error


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--device", "banana"), "unknown device 'banana'"),
        (("--device", "cuda"), "no CUDA device"),
        (("--set", "toy_exact.scale=abc"), "scale: expected float, got 'abc'"),
        (("--executor", "process", "--no-wait"), "--no-wait goes with --executor slurm"),
        (("--cpu-methods", "toy_exac"), "did you mean 'toy_exact'"),
    ],
)
def test_bad_devices_and_settings_exit_2_before_writing(tmp_path, capsys, extra, words) -> None:
    pytest.importorskip("torch").cuda.is_available() and extra[1] == "cuda" and pytest.skip("has CUDA")
    assert _run(tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "out" / "cells").exists()


def test_a_broken_plugin_file_exits_2_in_one_line(tmp_path, capsys) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text("def oops(:\n")
    assert main(["--plugin", str(plugin), "tasks"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.py" in err[0] and "SyntaxError" in err[0]


def test_collect_says_what_is_missing_and_exits_1_until_complete(tmp_path, capsys) -> None:
    assert _run(tmp_path, "--collect") == 1
    assert "3 observation(s) without an ok row" in capsys.readouterr().err
    assert _run(tmp_path) == 0
    assert _run(tmp_path, "--collect") == 0


def test_the_plan_splits_cells_into_fit_evaluation_and_calibration_jobs(tmp_path) -> None:
    from fmbench.coverage import CoverageOptions
    from fmbench.run.runner import Grid, RunOptions, plan

    grid = Grid(("toy_gaussian",), ("toy_exact", "toy_slow"), (100,), observations=(1, 2, 3))
    options = RunOptions(tmp_path, device="cuda", calibration=CoverageOptions(num_pairs=5))
    plans = plan(grid, options, observations_per_job=2, cpu_methods=("toy_slow",))
    assert [p.fit.cell.method for p in plans] == ["toy_exact", "toy_slow"]
    exact, slow = plans
    assert exact.fit.observations == (1, 2, 3) and exact.fit.device == "cuda"
    assert [(j.kind, j.observations) for j in exact.followers] == [
        ("evaluate", (1, 2)),
        ("evaluate", (3,)),
        ("calibrate", ()),
    ]
    assert {j.device for j in (slow.fit, *slow.followers)} == {"cpu"}  # kept on CPU workers


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> None:
    """Stand-ins for SLURM's ``srun`` and ``sbatch`` on the PATH (this machine has no cluster); job ids
    count up from 700."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    counter = tmp_path / "count"
    (bin_dir / "sbatch").write_text(
        f"#!/bin/sh\nn=$(cat {counter} 2>/dev/null || echo 700); echo $((n+1)) > {counter}\n"
        'echo "Submitted batch job $n"\n'
    )
    for name in ("srun", "sbatch"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")


@pytest.mark.usefixtures("fake_slurm")
def test_slurm_no_wait_submits_two_arrays_the_second_after_the_first(tmp_path, capsys) -> None:
    extra = ("--executor", "slurm", "--no-wait", "--slurm", "slurm_partition=debug", "--slurm", "mem_gb=4")
    assert _run(tmp_path / "out", *extra, obs="1-2") == 0
    assert "submitted 4 jobs" in capsys.readouterr().out
    scripts = sorted((tmp_path / "out" / "logs" / "slurm").glob("*_submission.sh"))
    fits, rest = (s.read_text() for s in scripts)
    assert "#SBATCH --partition=debug" in fits and "--mem=4GB" in fits  # one fit: not an array
    assert "#SBATCH --array=0-2" in rest and "#SBATCH --dependency=afterany:700" in rest
    assert _run(tmp_path / "out", "--collect") == 1  # nothing has run yet


@pytest.mark.usefixtures("fake_slurm")
def test_slurm_jobs_may_ask_for_cuda_from_a_login_node_without_one(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(out, "--executor", "slurm", "--no-wait", "--device", "banana", obs="1") == 2
    assert "unknown device 'banana'" in capsys.readouterr().err  # the name is still checked
    assert _run(out, "--executor", "slurm", "--no-wait", "--device", "cuda", obs="1") == 0
    assert "submitted 3 jobs" in capsys.readouterr().out
    assert _run(out, "--device", "cuda", "--collect", obs="1") == 1  # collecting needs no GPU either
    assert "without an ok row" in capsys.readouterr().err


def test_a_truncated_fit_file_is_named_and_fitted_again(tmp_path, capsys) -> None:
    assert _run(tmp_path, obs="1") == 0
    fit = next((tmp_path / "cells").rglob("*.fit.pt"))
    fit.write_bytes(fit.read_bytes()[:50])
    capsys.readouterr()
    assert _run(tmp_path, obs="1-2") == 0
    assert f"damaged file {fit}" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "results.csv")
    assert table.observation.tolist() == [1, 2] and (table.status == "ok").all()


def test_free_workers_take_fits_first_then_the_longest_evaluations(tmp_path) -> None:
    from fmbench.run.executors import Executor, Handle
    from fmbench.run.jobs import Job, JobOutcome
    from fmbench.run.runner import Grid, RunOptions, run_grid

    class Done(Handle):
        def done(self) -> bool:
            return True

        def outcome(self) -> JobOutcome:
            return JobOutcome(self.job, "done", "")

    class OneAtATime(Executor):  # records the order in which a single free worker gets the jobs
        def __init__(self) -> None:
            self.order: list[Job] = []

        def free(self, job: Job, pending: list[Job]) -> bool:
            return not pending

        def submit(self, jobs: list[Job]) -> list[Handle]:
            self.order += jobs
            return [Done(job) for job in jobs]

    executor = OneAtATime()
    grid = Grid(("two_moons", "gaussian_linear"), ("npe_nsf",), (1000,), observations=(1, 2))
    run_grid(grid, RunOptions(tmp_path), executor, progress=False)
    order = [(j.kind, j.cell.task) for j in executor.order]
    # gaussian_linear (10 parameters) unlocks more work than two_moons (2): its fit goes first, and its
    # evaluations and calibration run before two_moons' so that the run ends on short jobs
    assert order == [
        ("fit", "gaussian_linear"),
        ("fit", "two_moons"),
        ("evaluate", "gaussian_linear"),
        ("evaluate", "gaussian_linear"),
        ("calibrate", "gaussian_linear"),
        ("evaluate", "two_moons"),
        ("evaluate", "two_moons"),
        ("calibrate", "two_moons"),
    ]
