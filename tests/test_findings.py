"""What the table says: fmpe against each method by a paired refit interval; npe_nsf beside sbibm's NPE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmbench.report.findings import findings_markdown, paired_cells, published_agreement, refit_spread
from fmbench.report.writer import write_report
from fmbench.run.results import COLUMNS


def _rows(
    method: str, task: str, budget: int, values: list[float], seed: int = 1, first: int = 1
) -> list[dict]:
    return [
        {
            "task": task,
            "method": method,
            "budget": budget,
            "seed": seed,
            "observation": first + i,
            "status": "ok",
            "c2st": value,
            "c2st_backend": "torch",
            "method_config_hash": f"h{method}",
            "metric_conventions": "sbibm",
        }
        for i, value in enumerate(values)
    ]


def _seeded(method: str, task: str, budget: int, per_seed: list[list[float]]) -> list[dict]:
    return [
        r for seed, values in enumerate(per_seed, start=1) for r in _rows(method, task, budget, values, seed)
    ]


def _table() -> pd.DataFrame:
    rows = [
        # two_moons: three seeds, fmpe lower by 0.10 on every pair
        *_seeded("fmpe", "two_moons", 1000, [[0.60, 0.62], [0.66, 0.64], [0.58, 0.60]]),
        *_seeded("npe_nsf", "two_moons", 1000, [[0.70, 0.72], [0.76, 0.74], [0.68, 0.70]]),
        # slcp: three seeds, the sign of the difference flips with the seed
        *_seeded("fmpe", "slcp", 1000, [[0.95, 0.93], [0.90, 0.92], [0.97, 0.95]]),
        *_seeded("npe_nsf", "slcp", 1000, [[0.92, 0.92], [0.95, 0.95], [0.93, 0.93]]),
        # gaussian_linear: one seed, far apart: not counted
        *_rows("fmpe", "gaussian_linear", 1000, [0.60, 0.61]),
        *_rows("npe_nsf", "gaussian_linear", 1000, [0.90, 0.91]),
        *_rows("npe_maf", "two_moons", 1000, [0.61]),  # a partial cell: compared on one pair only
    ]
    failed = {**_rows("npe_maf", "two_moons", 1000, [float("nan")], first=2)[0], "status": "failed"}
    return pd.DataFrame([*rows, failed], columns=COLUMNS)


def test_a_cell_is_lower_only_where_the_paired_refit_interval_excludes_zero() -> None:
    table = paired_cells(_table(), "fmpe", "npe_nsf").set_index("task")
    moons = table.loc["two_moons"]
    assert moons.n_seeds == 3 and moons.n_pairs == 6 and moons.difference == pytest.approx(-0.10)
    assert moons.high < 0 and moons.verdict == "lower" and moons.pairs_below == 6
    slcp = table.loc["slcp"]
    assert slcp.low < 0 < slcp.high and slcp.verdict == "indistinguishable"
    one = table.loc["gaussian_linear"]
    assert one.n_seeds == 1 and pd.isna(one.low) and one.verdict == "not counted"


def test_the_interval_is_a_t_interval_over_seed_differences() -> None:
    slcp = paired_cells(_table(), "fmpe", "npe_nsf").set_index("task").loc["slcp"]
    seed_differences = np.array([0.94 - 0.92, 0.91 - 0.95, 0.96 - 0.93])
    half = 4.302653 * seed_differences.std(ddof=1) / 3**0.5  # t(0.975, 2 degrees of freedom)
    assert slcp.difference == pytest.approx(seed_differences.mean())
    assert slcp.low == pytest.approx(seed_differences.mean() - half, abs=1e-6)
    assert slcp.high == pytest.approx(seed_differences.mean() + half, abs=1e-6)


def test_methods_are_compared_on_the_pairs_both_have() -> None:
    maf = paired_cells(_table(), "fmpe", "npe_maf").iloc[0]
    assert maf.n_pairs == 1 and maf.difference == pytest.approx(-0.01) and maf.verdict == "not counted"


def test_a_seed_sharing_only_some_observations_is_left_out_of_the_comparison() -> None:
    partial = [
        *_rows("fmpe", "two_moons", 1000, [0.99], seed=4),
        *_rows("npe_nsf", "two_moons", 1000, [0.50], seed=4),
    ]
    table = pd.concat([_table(), pd.DataFrame(partial, columns=COLUMNS)], ignore_index=True)
    moons = paired_cells(table, "fmpe", "npe_nsf").set_index("task").loc["two_moons"]
    assert moons.n_seeds == 3 and moons.difference == pytest.approx(-0.10) and moons.verdict == "lower"
    agreement = published_agreement(table).set_index("task").loc["two_moons"]
    assert agreement.n_seeds == 3


def test_npe_nsf_is_set_beside_the_published_value_with_the_tolerance() -> None:
    table = published_agreement(_table()).set_index("task")
    assert table.loc["two_moons"].agrees and table.loc["two_moons"].n_seeds == 3
    assert table.loc["two_moons"].difference == pytest.approx(0.717 - 0.725, abs=1e-3)
    assert table.loc["slcp"].agrees and not table.loc["gaussian_linear"].agrees


def test_the_findings_count_lower_higher_indistinguishable_and_not_counted() -> None:
    text = findings_markdown(_table())
    assert "| npe_nsf | 3 | 1 | 0 | 1 | 1 |" in text
    assert "| npe_maf | 1 | 0 | 0 | 0 | 1 |" in text
    assert text.index("| npe_nsf |") < text.index("| npe_maf |")  # the paper's baselines first
    assert "| two_moons 1,000 | 0.617 | 0.717 | -0.100 | [" in text
    assert "| gaussian_linear 1,000 | 0.605 | 0.905 | -0.300 | one seed | 1 | 2 of 2 | not counted |" in text
    assert "npe_maf at 1,000: 1 cell on 1 of 6 (seed, observation) pairs" in text


def test_the_refit_spread_pools_the_seed_means_variance_over_cells_with_three_seeds() -> None:
    spread = refit_spread(_table()).set_index("method")
    assert set(spread.index) == {"fmpe", "npe_nsf"}  # npe_maf and gaussian_linear have one seed
    moons, slcp = np.var([0.61, 0.65, 0.59], ddof=1), np.var([0.94, 0.91, 0.96], ddof=1)
    fmpe = spread.loc["fmpe"]
    assert fmpe.n_cells == 2 and fmpe.pooled_sd == pytest.approx(((moons + slcp) / 2) ** 0.5)
    assert fmpe.largest_cell == "two_moons" and fmpe.largest_sd == pytest.approx(moons**0.5)
    text = findings_markdown(_table())
    assert "## How far a refit moves a cell" in text
    assert f"| fmpe | 1,000 | 2 | {fmpe.pooled_sd:.3f} | {moons**0.5:.3f} (two_moons) |" in text
    assert text.index("| fmpe | 1,000 | 2 |") < text.index("| npe_nsf | 1,000 | 2 |")


def test_a_table_without_fmpe_or_published_cells_says_only_what_it_can() -> None:
    text = findings_markdown(pd.DataFrame(_rows("npe_maf", "two_moons", 1000, [0.7]), columns=COLUMNS))
    assert "against each method" not in text and "published" in text.lower()
    assert "are within" not in text


def test_the_report_writes_the_findings(tmp_path) -> None:
    path = tmp_path / "results.csv"
    _table().to_csv(path, index=False)
    files = write_report(path)
    assert files.findings.read_text() == findings_markdown(_table())
