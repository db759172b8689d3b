"""The report: leaderboard, summary, timings and figure from a results table."""

from __future__ import annotations

import pandas as pd
import pytest

from fmbench.report.summary import c2st_summary, cost_summary, method_costs
from fmbench.report.writer import write_report
from fmbench.run.results import COLUMNS


def _table() -> pd.DataFrame:
    rows = []
    for method, base in (("npe_nsf", 0.70), ("fmpe", 0.60)):
        for budget in (1000, 10000):
            for obs in (1, 2, 3):
                rows.append(
                    {
                        "task": "two_moons",
                        "method": method,
                        "budget": budget,
                        "seed": 1,
                        "observation": obs,
                        "status": "ok",
                        "c2st": base - (0.1 if budget == 10000 else 0) + 0.01 * obs,
                        "c2st_backend": "sklearn",
                        "fit_s": 10.0,
                        "sample_s": 0.5,
                        "epochs": 50,
                        "num_parameters": 1000,
                        "passes_per_sample": 1.0,
                        "rejected_fraction": 0.01,
                        "method_config_hash": f"h{method}",
                        "metric_conventions": "sbibm",
                    }
                )
    rows.append({**rows[0], "observation": 4, "status": "failed", "c2st": None, "error": "boom"})
    return pd.DataFrame(rows, columns=COLUMNS)


def test_the_leaderboard_names_cells_drawn_with_fewer_samples_than_the_protocol(tmp_path) -> None:
    table = _table()
    table["num_samples"] = 10_000
    table.to_csv(tmp_path / "results.csv", index=False)
    assert "Not the protocol's" not in write_report(tmp_path / "results.csv").leaderboard.read_text()
    table.loc[table.method == "fmpe", "num_samples"] = 1_000
    table.to_csv(tmp_path / "results.csv", index=False)
    board = write_report(tmp_path / "results.csv").leaderboard.read_text()
    assert "Not the protocol's 10,000 samples per observation" in board
    assert "fmpe on two_moons at 1,000 (1,000); fmpe on two_moons at 10,000 (1,000)." in board


def test_summary_means_best_and_failures() -> None:
    summary = c2st_summary(_table())
    row = summary[(summary.method == "npe_nsf") & (summary.budget == 1000)].iloc[0]
    assert row.c2st_mean == pytest.approx(0.72) and row.n_ok == 3 and row.n_failed == 1
    best = summary[summary.best]
    assert set(best.method) == {"fmpe"} and len(best) == 2


def test_report_writes_every_file(tmp_path) -> None:
    path = tmp_path / "results.csv"
    _table().to_csv(path, index=False)
    files = write_report(path)
    for file in (files.leaderboard, files.summary, files.timings_md, files.timings_csv, files.figure):
        assert file.exists() and file.stat().st_size > 0
    board = files.leaderboard.read_text()
    assert "| two_moons | 1,000 | **0.620 (1×3, 1 seed)** | 0.720 (1×3!, 1 seed) | 0.725 |" in board
    assert "| two_moons | 10,000 | **0.520 (1×3, 1 seed)** | 0.620 (1×3, 1 seed) | 0.606 |" in board
    assert "paper" not in board.splitlines()[4]  # no column of values read off the FMPE paper's figure
    assert files.figure.read_bytes()[:4] == b"\x89PNG"
    timings = pd.read_csv(files.timings_csv)
    assert {"fit_s", "sample_s", "num_parameters", "passes_per_sample"} <= set(timings.columns)
    assert "| fmpe | no |" in files.costs_md.read_text()
    assert set(pd.read_csv(files.costs_csv).method) == {"fmpe", "npe_nsf"}


def test_a_seeded_cell_shows_its_refit_interval_and_seeds_by_observations(tmp_path) -> None:
    one = _table()
    one = one[one.status == "ok"]
    seeded = pd.concat(
        [one.assign(seed=s, c2st=one.c2st + shift) for s, shift in ((1, 0), (2, 0.02), (3, 0.04))]
    )
    summary = c2st_summary(seeded).set_index(["method", "budget"])
    row = summary.loc[("fmpe", 1000)]
    assert row.n_seeds == 3 and row.n_observations == 3 and row.c2st_mean == pytest.approx(0.64)
    half = 4.302653 * 0.02 / 3**0.5  # t over the seed means 0.62, 0.64, 0.66
    assert row.c2st_low == pytest.approx(0.64 - half) and row.c2st_high == pytest.approx(0.64 + half)
    seeded.to_csv(tmp_path / "results.csv", index=False)
    board = write_report(tmp_path / "results.csv").leaderboard.read_text()
    assert f"| two_moons | 1,000 | **0.640 [{0.64 - half:.3f}, {0.64 + half:.3f}] (3×3)** |" in board
    assert "t-interval over seed means" in board


def test_the_cost_per_method_table_rescales_and_takes_medians_over_cells() -> None:
    table = _table()
    fmpe = table.method == "fmpe"
    table.loc[fmpe, "log_prob_s"] = 0.25  # on 1,000 samples
    table.loc[fmpe, "passes_per_sample"] = table.loc[fmpe, "observation"] * 20.0 + 20  # 40, 60, 80
    table.loc[:, "num_samples"] = 5_000
    table.loc[:, "fit_s"] = table.budget / 100  # one fit time per cell: 10 s at 1e3, 100 s at 1e4
    costs = method_costs(table).set_index("method")
    assert list(costs.density) == ["yes", "no"]
    assert costs.loc["fmpe", "log_prob_s_per_1000"] == pytest.approx(0.25)
    assert pd.isna(costs.loc["npe_nsf", "log_prob_s_per_1000"])
    assert costs.loc["fmpe", "sample_s_per_10000"] == pytest.approx(1.0)  # 0.5 s for 5,000 samples
    assert (costs.loc["fmpe", "passes_min"], costs.loc["fmpe", "passes_max"]) == (40.0, 80.0)
    assert costs.loc["fmpe", "passes_per_sample"] == pytest.approx(60.0)
    assert costs.loc["npe_nsf", "fit_s_1000"] == 10.0 and costs.loc["npe_nsf", "fit_s_10000"] == 100.0
    assert costs.loc["npe_nsf", "cells"] == 2  # the failed row belongs to a cell already counted


def test_a_cell_refitted_after_its_fit_was_lost_reports_the_fit_most_rows_used() -> None:
    table = _table()
    cell = (table.method == "npe_nsf") & (table.budget == 1000) & (table.status == "ok")
    assert cell.sum() >= 3
    table.loc[cell, "fit_s"] = 40.0
    table.loc[cell[cell].index[0], "fit_s"] = 100.0  # observation 1 kept the lost fit's time
    assert method_costs(table).set_index("method").loc["npe_nsf", "fit_s_1000"] == 40.0
    timings = cost_summary(table).set_index(["task", "budget", "method"])
    assert timings.loc[("two_moons", 1000, "npe_nsf"), "fit_s"] == 40.0


def test_several_settings_of_one_method_are_told_apart() -> None:
    table = _table()
    table.loc[(table.budget == 10000) & (table.method == "npe_nsf"), "method_config_hash"] = "other"
    labels = set(c2st_summary(table).method)
    assert "fmpe" in labels and any(label.startswith("npe_nsf[") for label in labels)


def test_one_method_config_with_a_hash_per_budget_keeps_one_label() -> None:
    table = _table().assign(method_config="{}")
    table.loc[table.method == "fmpe", "method_config"] = '{"time_prior_exponent": "auto"}'
    table.loc[table.method == "fmpe", "method_config_hash"] = table.budget.map({1000: "a", 10000: "b"})
    assert set(c2st_summary(table).method) == {"fmpe", "npe_nsf"}
    table.loc[(table.method == "fmpe") & (table.budget == 10000), "method_config"] = '{"steps": 8}'
    labels = set(c2st_summary(table).method)
    assert "npe_nsf" in labels and sum(label.startswith("fmpe[") for label in labels) == 2


def test_one_config_run_by_two_versions_of_the_code_is_not_pooled() -> None:
    table = _table().assign(method_config="{}")
    newer = table[table.method == "fmpe"].assign(method_config_hash="new", c2st=0.9)
    labels = c2st_summary(pd.concat([table, newer], ignore_index=True)).groupby("method").c2st_mean.max()
    fmpe = labels[labels.index.str.startswith("fmpe")]
    assert len(fmpe) == 2 and fmpe.max() == pytest.approx(0.9)  # old and new rows each on their own


def test_rows_of_an_unchecked_c2st_backend_stay_off_the_leaderboard(tmp_path) -> None:
    table = _table()
    table.loc[table.method == "fmpe", "c2st_backend"] = "fast_guess"
    path = tmp_path / "results.csv"
    table.to_csv(path, index=False)
    board = write_report(path).leaderboard.read_text()
    assert "fmpe" not in board.splitlines()[4]  # the header row names only npe_nsf
    assert "6 row(s) left out: their C2ST backend (fast_guess) has not passed" in board


def test_empty_table_is_an_error(tmp_path) -> None:
    path = tmp_path / "results.csv"
    pd.DataFrame(columns=COLUMNS).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no rows"):
        write_report(path)


def test_no_published_value_is_read_off_a_figure() -> None:
    from fmbench.report.published import PUBLISHED_LABELS, load_published

    assert set(load_published().result) == {"sbibm_npe"} == set(PUBLISHED_LABELS)
    assert len(load_published()) == 30  # ten tasks x three budgets, as published


@pytest.mark.parametrize("num_tasks", [1, 2, 5])
def test_the_figure_keeps_its_whole_legend(num_tasks) -> None:
    from fmbench.report.figures import c2st_figure

    tasks = ["two_moons", "slcp", "gaussian_linear", "sir", "bernoulli_glm"][:num_tasks]
    table = pd.concat([_table().assign(task=t) for t in tasks], ignore_index=True)
    table.loc[(table.observation == 2) & (table.method == "fmpe"), "method"] = "a_new_method_with_a_long_name"
    fig = c2st_figure(c2st_summary(table))
    fig.canvas.draw()
    (legend,) = fig.legends
    box, page = legend.get_window_extent(), fig.bbox
    assert len(legend.get_texts()) == 5  # the result, three methods and what a hollow (one-seed) marker is
    assert box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0, (box, page)
    for ax in fig.axes:
        if ax.get_visible():
            assert ax.get_window_extent().y0 > box.y1  # the legend is below the panels


def test_the_cost_per_method_table_reads_a_table_without_the_cost_columns() -> None:
    table = _table().drop(columns=["sample_s", "passes_per_sample", "log_prob_s", "num_samples"])
    costs = method_costs(table).set_index("method")
    assert list(costs.density) == ["no", "no"] and costs["sample_s_per_10000"].isna().all()
    assert costs.loc["fmpe", "fit_s_1000"] == 10.0


def test_a_seed_with_only_some_of_the_cells_observations_waits_outside_the_mean(tmp_path) -> None:
    one = _table()
    one = one[one.status == "ok"]
    partial = one[one.observation == 1].assign(seed=4, c2st=0.99)  # a run in progress: observation 1 only
    seeded = pd.concat(
        [*(one.assign(seed=s, c2st=one.c2st + shift) for s, shift in ((1, 0), (2, 0.02), (3, 0.04))), partial]
    )
    summary = c2st_summary(seeded).set_index(["method", "budget"])
    row = summary.loc[("fmpe", 1000)]
    assert row.n_seeds == 3 and row.n_partial == 1 and row.c2st_mean == pytest.approx(0.64)
    seeded.to_csv(tmp_path / "results.csv", index=False)
    board = write_report(tmp_path / "results.csv").leaderboard.read_text()
    assert "(3×3, +1 partial)** |" in board and "`+k partial`" in board


def test_a_failed_observation_does_not_make_its_seed_partial() -> None:
    row = c2st_summary(_table()).set_index(["method", "budget"]).loc[("npe_nsf", 1000)]
    assert row.n_seeds == 1 and row.n_partial == 0 and row.n_failed == 1
