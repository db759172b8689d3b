"""What a grid will cost before it runs: job_seconds, the estimates and ``fmbench run --dry-run``."""

from __future__ import annotations

import pandas as pd
import pytest

from fmbench.cli import main
from fmbench.run.estimate import (
    COLUMNS,
    Pricing,
    committed_seconds,
    estimate_jobs,
    job_seconds,
    spent_seconds,
)
from fmbench.run.jobs import Job
from fmbench.run.results import COLUMNS as ROW_COLUMNS
from fmbench.run.results import Cell


def _rows() -> pd.DataFrame:
    rows = []
    for seed, fit_s in ((1, 100.0), (2, 120.0), (3, 110.0)):
        for obs in (1, 2):
            rows.append(
                dict(
                    task="two_moons", method="npe_nsf", budget=1000, seed=seed, observation=obs,
                    status="ok", c2st=0.6, fit_s=fit_s, sample_s=0.5, c2st_s=20.0, mmd_s=10.0,
                    num_samples=5000,
                )
            )  # fmt: skip
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def test_job_seconds_takes_medians_over_cells_at_the_protocol_s_sample_count() -> None:
    table = job_seconds(_rows()).iloc[0]
    assert table.fit_s == pytest.approx(110.0) and table.cells == 3 and table.rows == 6
    assert table.sampling_s == pytest.approx(1.0)  # 0.5 s for 5,000 samples -> 1.0 s for 10,000
    assert table.classifier_s == pytest.approx(60.0) and table.theta_dim == 2
    assert table.samples_per_s == pytest.approx(10_000)


def test_a_job_is_priced_from_its_cell_else_from_the_method_s_other_tasks() -> None:
    seconds = job_seconds(_rows())
    fit = Job("fit", Cell("two_moons", "npe_nsf", 1000, 4, "h"))
    evaluation = Job("evaluate", Cell("gaussian_mixture", "npe_nsf", 1000, 4, "h"), (1, 2))
    calibration = Job("calibrate", Cell("two_moons", "npe_nsf", 1000, 4, "h"))
    unknown = Job("fit", Cell("two_moons", "fmpe", 1000, 4, "h"))
    found = estimate_jobs([fit, evaluation, calibration, unknown], seconds, Pricing())
    assert found[0].seconds == pytest.approx(110.0) and found[0].source == "same cell"
    assert found[1].seconds == pytest.approx(2 * 61.0)  # two observations, gaussian_mixture is 2-D too
    assert "other task" in found[1].source and "dimension 2" in found[1].source
    assert found[2].seconds == pytest.approx(200 * 1000 / 10_000)
    assert found[3].seconds is None and found[3].source == "unknown"


def test_without_timings_every_job_is_unknown() -> None:
    cell = Cell("two_moons", "npe_nsf", 1000, 1, "h")
    jobs = [Job("fit", cell), Job("evaluate", cell, (1,)), Job("calibrate", cell)]
    found = estimate_jobs(jobs, pd.DataFrame(columns=COLUMNS), Pricing())
    assert [(e.seconds, e.source) for e in found] == [(None, "unknown")] * 3


def test_the_committed_timings_cover_the_paper_grid() -> None:
    table = committed_seconds()
    assert len(table) >= 150 and table.fit_s.notna().all()
    assert {"fmpe", "npe_nsf", "npe_maf"} <= set(table.method)


def test_a_dry_run_prints_the_jobs_and_their_cost_and_writes_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = [
        *("run", "--tasks", "toy_gaussian", "--methods", "toy_exact", "--budgets", "200"),
        *("--observations", "1-2", "--num-samples", "300", "--coverage-pairs", "0", "--out", str(out)),
    ]
    assert main([*argv, "--seeds", "1", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "toy_gaussian toy_exact 200 seed 1" in printed and "1 cell(s) with work left, 3 job(s)" in printed
    assert not out.exists()
    assert main([*argv, "--seeds", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main([*argv, "--seeds", "1", "2", "--dry-run", "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "seed 2" in printed and "seed 1" not in printed  # seed 1 is complete
    assert "2 x " in printed and "on 2 worker(s)" in printed  # priced from the run's own rows
    assert main([*argv, "--seeds", "1", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "nothing to do" in printed and "Done so far" in printed


def test_a_dry_run_says_what_the_finished_work_cost_from_its_own_rows(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = [
        *("run", "--tasks", "toy_gaussian", "--methods", "toy_exact", "--budgets", "200"),
        *("--observations", "1-2", "--num-samples", "300", "--coverage-pairs", "10", "--out", str(out)),
    ]
    assert main([*argv, "--seeds", "1", "--dry-run"]) == 0
    assert "nothing of this grid" in capsys.readouterr().out
    assert main([*argv, "--seeds", "1", "--no-progress"]) == 0
    capsys.readouterr()
    rows = pd.read_csv(out / "results.csv")
    calibration = pd.read_csv(next((out / "coverage").rglob("*.csv"))).calibration_s.iloc[0]
    spent = spent_seconds(
        [Cell("toy_gaussian", "toy_exact", 200, 1, rows.method_config_hash.iloc[0])], [1, 2], out
    )
    evaluation = rows[["sample_s", "c2st_s", "mmd_s", "nltp_s", "log_prob_s"]].fillna(0).to_numpy().sum()
    assert (spent.cells, spent.evaluations, spent.calibrations, spent.untimed) == (1, 2, 1, 0)
    assert spent.fit_s == pytest.approx(rows.fit_s.median())
    assert spent.evaluate_s == pytest.approx(evaluation) and spent.calibrate_s == pytest.approx(calibration)
    assert main([*argv, "--seeds", "1", "2", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "Done so far in" in printed and "2 evaluation(s) in 1 cell(s), 1 calibration(s)" in printed


def test_a_dry_run_leaves_a_damaged_calibration_file_for_the_run_to_replace(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = [
        *("run", "--tasks", "toy_gaussian", "--methods", "toy_exact", "--budgets", "200", "--seeds", "1"),
        *("--observations", "1", "--num-samples", "300", "--coverage-pairs", "10", "--out", str(out)),
    ]
    assert main([*argv, "--no-progress"]) == 0
    damaged = next((out / "coverage").rglob("*.csv"))
    damaged.write_text("rank\n7.5\n")
    capsys.readouterr()
    assert main([*argv, "--dry-run"]) == 0
    printed = capsys.readouterr()
    assert damaged.read_text() == "rank\n7.5\n" and "damaged" not in printed.err
    assert "1 cell(s) with work left, 2 job(s)" in printed.out  # the saved fit, then the calibration
    assert "0 calibration(s)" in printed.out  # a damaged file is not counted as work done
    assert main([*argv, "--no-progress"]) == 0
    assert "damaged file" in capsys.readouterr().err
    ranks = pd.read_csv(damaged)["rank"]
    assert len(ranks) == 10 and ranks.between(0.0, 1.0).all()
