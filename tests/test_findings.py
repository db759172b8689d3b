"""What the table says: paired counts of fmpe against each method, and npe_nsf beside sbibm's NPE."""

from __future__ import annotations

import pandas as pd
import pytest

from fmbench.findings import findings_markdown, paired_cells, published_agreement
from fmbench.report import write_report
from fmbench.results import COLUMNS


def _rows(method: str, task: str, budget: int, values: list[float], first: int = 1) -> list[dict]:
    return [
        {
            "task": task,
            "method": method,
            "budget": budget,
            "seed": 1,
            "observation": first + i,
            "status": "ok",
            "c2st": value,
            "c2st_backend": "torch",
            "method_config_hash": f"h{method}",
            "metric_conventions": "sbibm",
        }
        for i, value in enumerate(values)
    ]


def _table() -> pd.DataFrame:
    rows = [
        *_rows("fmpe", "two_moons", 1000, [0.60, 0.62, 0.64]),
        *_rows("npe_nsf", "two_moons", 1000, [0.70, 0.72, 0.74]),  # published 0.725: agrees (+0.000)
        *_rows("fmpe", "slcp", 1000, [0.98, 0.96, 0.90]),
        *_rows("npe_nsf", "slcp", 1000, [0.90, 0.90]),  # fmpe above on the two it shares; 0.900 vs 0.975
        *_rows("npe_maf", "two_moons", 1000, [0.61]),  # a partial cell: compared on observation 1 only
    ]
    failed = {**_rows("npe_maf", "two_moons", 1000, [float("nan")], first=2)[0], "status": "failed"}
    return pd.DataFrame([*rows, failed], columns=COLUMNS)


def test_methods_are_compared_on_the_observations_both_have() -> None:
    slcp = paired_cells(_table(), "fmpe", "npe_nsf").set_index("task").loc["slcp"]
    assert slcp.n_pairs == 2 and slcp.c2st == pytest.approx(0.97) and slcp.other_c2st == pytest.approx(0.9)
    assert not slcp.at_or_below and slcp.difference == pytest.approx(0.07)
    assert slcp.standard_error == pytest.approx(0.01) and slcp.pairs_below == 0  # paired: +0.08, +0.06
    maf = paired_cells(_table(), "fmpe", "npe_maf").iloc[0]
    assert maf.n_pairs == 1 and maf.difference == pytest.approx(-0.01) and maf.at_or_below


def test_npe_nsf_is_set_beside_the_published_value_with_the_tolerance() -> None:
    table = published_agreement(_table()).set_index("task")
    assert table.loc["two_moons"].agrees and table.loc["two_moons"].difference == pytest.approx(-0.005)
    assert not table.loc["slcp"].agrees and table.loc["slcp"].difference == pytest.approx(-0.075)


def test_the_findings_count_and_name_every_exception() -> None:
    text = findings_markdown(_table())
    assert "| npe_nsf | 2 | 1 | -0.015 | slcp 1,000 (+0.070 ± 0.010; 0 of 2) |" in text
    assert "| npe_maf | 1 | 1 | -0.010 | none |" in text
    assert "npe_maf two_moons 1,000 on 1 of 3 observations" in text
    assert "Within ±0.05 in 1 of 2 cells" in text and "Outside: slcp 1,000 (-0.075)." in text


def test_a_table_without_fmpe_or_published_cells_says_only_what_it_can() -> None:
    text = findings_markdown(pd.DataFrame(_rows("npe_maf", "two_moons", 1000, [0.7]), columns=COLUMNS))
    assert "against each method" not in text and "published" in text.lower()
    assert "Within" not in text


def test_the_report_writes_the_findings(tmp_path) -> None:
    path = tmp_path / "results.csv"
    _table().to_csv(path, index=False)
    files = write_report(path)
    assert files.findings.read_text() == findings_markdown(_table())
