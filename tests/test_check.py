"""``fmbench check``: an unchanged run passes and reproduces exactly; planted regressions fail."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from fmbench.cli import main
from fmbench.gate.check import Tolerance
from fmbench.gate.reference import read_reference
from fmbench.run.runner import Grid, RunOptions, run_grid


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A reference folder: toy_exact on toy_gaussian at two budgets, observations 1-3, 500 samples."""
    out = tmp_path_factory.mktemp("reference")
    grid = Grid(tasks=("toy_gaussian",), methods=("toy_exact",), budgets=(100, 200), observations=(1, 2, 3))
    torch.manual_seed(0)
    run_grid(grid, RunOptions(out=out, num_samples=500, show_progress=False, calibration=_no_coverage()))
    return out


def _no_coverage():
    from fmbench.coverage import CoverageOptions

    return CoverageOptions(num_pairs=0)


def _check(reference, run, *extra):
    return main(["check", str(reference), "--out", str(run), "--no-progress", *extra])


def test_the_reference_grid_is_read_from_its_rows(reference) -> None:
    grid = read_reference(reference)
    assert [c.key for c in grid.cells] == [
        ("toy_gaussian", "toy_exact", 100, 1),
        ("toy_gaussian", "toy_exact", 200, 1),
    ]
    assert all(c.observations == (1, 2, 3) for c in grid.cells)
    assert grid.settings == {"toy_exact": {"scale": 1.0}}
    assert (grid.num_samples, grid.c2st_backend, grid.coverage.num_pairs) == (500, "torch", 0)
    assert grid.versions["torch"] == torch.__version__


def test_an_unchanged_run_passes_and_reproduces_every_row_exactly(reference, tmp_path, capsys) -> None:
    assert _check(reference, tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "2 of 2 cell(s) pass; 6 of 6 row(s) reproduce the reference exactly" in out
    assert "reference" in out.splitlines()[0] and "verdict" in out.splitlines()[0]


def test_a_complete_run_is_read_not_rerun(reference, tmp_path, monkeypatch, capsys) -> None:
    from toys import ToyExact

    assert _check(reference, tmp_path / "run") == 0
    monkeypatch.setattr(ToyExact, "fit", lambda *a: pytest.fail("refitted"))
    assert _check(reference, tmp_path / "run") == 0
    assert "is complete: comparing its rows" in capsys.readouterr().out


def test_a_setting_made_worse_fails_the_check(reference, tmp_path, capsys) -> None:
    assert _check(reference, tmp_path / "run", "--set", "toy_exact.scale=3") == 1
    out = capsys.readouterr().out
    assert "SETTINGS" in out and "worse by" in out
    assert "settings of toy_exact differ from the reference: scale: 1.0 -> 3" in out
    assert "0 of 2 cell(s) pass" in out


def test_a_setting_made_worse_fails_even_beside_the_rows_of_a_passing_check(
    reference, tmp_path, capsys
) -> None:
    assert _check(reference, tmp_path / "run") == 0
    assert _check(reference, tmp_path / "run", "--set", "toy_exact.scale=3") == 1
    assert "0 of 2 cell(s) pass" in capsys.readouterr().out


def test_a_code_regression_with_the_same_settings_fails_as_worse(
    reference, tmp_path, monkeypatch, capsys
) -> None:
    from toys import ExactPosterior

    original = ExactPosterior.sample
    monkeypatch.setattr(ExactPosterior, "sample", lambda self, n, x_o: original(self, n, x_o) + 0.5)
    assert _check(reference, tmp_path / "run") == 1
    out = capsys.readouterr().out
    assert out.count("WORSE") == 2 and "SETTINGS" not in out


def test_a_failed_row_fails_the_check(reference, tmp_path, monkeypatch, capsys) -> None:
    from toys import ToyExact

    def crash(*args):
        raise RuntimeError("diverged on purpose")

    monkeypatch.setattr(ToyExact, "fit", crash)
    assert _check(reference, tmp_path / "run") == 1
    assert "FAILED" in capsys.readouterr().out


def test_a_missing_row_fails_the_check(reference, tmp_path) -> None:
    from fmbench.gate.check import compare
    from fmbench.run.results import load_results

    rows = load_results(reference)
    comparison = compare(read_reference(reference), rows, rows[rows.observation != 2], Tolerance())
    assert list(comparison.cells.verdict) == ["MISSING", "MISSING"] and not comparison.passed
    assert comparison.cells.note.str.contains("no row for observation").all()


def test_other_versions_are_refused_in_one_line_unless_told(reference, tmp_path, capsys) -> None:
    old = tmp_path / "old"
    old.mkdir()
    rows = pd.read_csv(reference / "results.csv")
    rows.assign(torch_version="1.0.0").to_csv(old / "results.csv", index=False)
    assert _check(old, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "torch 1.0.0" in err and "--ignore-versions" in err and len(err.strip().splitlines()) == 1
    assert _check(old, tmp_path / "run", "--ignore-versions") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--tolerance", "-1"], "non-negative"), (["--set", "nope.scale=2"], "not in the reference")],
)
def test_bad_check_input_exits_2(reference, tmp_path, capsys, args, message) -> None:
    assert _check(reference, tmp_path / "run", *args) == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_results_exits_2(tmp_path, capsys) -> None:
    assert main(["check", str(tmp_path / "none")]) == 2
    assert "no results table" in capsys.readouterr().err


def test_the_tolerance_is_the_larger_of_the_floor_and_k_standard_errors() -> None:
    quiet = pd.Series([0.60, 0.61, 0.62])
    noisy = pd.Series([0.55, 0.75, 0.95])
    assert Tolerance().of(quiet) == 0.02
    assert Tolerance().of(noisy) == pytest.approx(2 * 0.2 / 3**0.5)
    assert Tolerance(absolute=0.0, standard_errors=1.0).of(pd.Series([0.7])) == 0.0


@pytest.fixture(scope="module")
def seeded_reference(tmp_path_factory):
    """A reference holding three seeds (refits) of toy_exact on toy_gaussian at 100 simulations."""
    out = tmp_path_factory.mktemp("seeded_reference")
    grid = Grid(
        tasks=("toy_gaussian",), methods=("toy_exact",), budgets=(100,), seeds=(1, 2, 3), observations=(1, 2)
    )
    torch.manual_seed(0)
    run_grid(grid, RunOptions(out=out, num_samples=300, show_progress=False, calibration=_no_coverage()))
    return out


def test_refit_noise_pools_the_seed_to_seed_spread_of_cells_with_three_seeds() -> None:
    from fmbench.gate.noise import refit_noise

    rows = pd.DataFrame(
        {
            "task": "t",
            "method": ["a"] * 6 + ["b"] * 3 + ["c"] * 2,
            "budget": 100,
            "seed": [1, 1, 2, 2, 3, 3, 1, 2, 3, 1, 2],
            "observation": [1, 2] * 3 + [1] * 5,
            "status": "ok",
            "c2st": [0.6, 0.8, 0.7, 0.7, 0.8, 0.8, 0.5, 0.6, 0.7, 0.9, 0.5],
        }
    )
    noise = refit_noise(rows)  # a: seed means 0.7, 0.7, 0.8; b: 0.5, 0.6, 0.7; c has 2 seeds: left out
    squares = (2 * (0.1 / 3) ** 2 + (0.2 / 3) ** 2) + (0.1**2 + 0 + 0.1**2)
    assert noise.df == 4 and noise.sd == pytest.approx((squares / 4) ** 0.5)
    assert list(noise.cells.method) == ["a", "b"]
    one_seed = noise.tolerance(seeds_checked=1, cells_checked=1, false_alarm_rate=0.01)
    three = noise.tolerance(seeds_checked=3, cells_checked=1, false_alarm_rate=0.01)
    assert one_seed == pytest.approx(3.7469 * noise.sd * 2**0.5, rel=1e-3)  # t(0.99, 4)
    assert three == pytest.approx(one_seed / 3**0.5)
    assert noise.tolerance(1, 4, 0.01) > one_seed  # Bonferroni over the cells checked
    assert refit_noise(rows[rows.method == "c"]) is None


def test_a_seeded_reference_calibrates_the_tolerance_on_its_refits(
    seeded_reference, tmp_path, capsys
) -> None:
    assert _check(seeded_reference, tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "tolerance from refit noise" in out and "1 reference cell(s) with 3 seeds, 2 df" in out
    assert "1 of 1 cell(s) pass; 6 of 6 row(s) reproduce the reference exactly" in out
    assert " 1-3 " in out.splitlines()[1]


def test_seeds_re_runs_only_those_seeds_and_widens_the_tolerance(seeded_reference, tmp_path, capsys) -> None:
    from fmbench.gate.noise import refit_noise
    from fmbench.run.results import load_results

    assert _check(seeded_reference, tmp_path / "run", "--seeds", "2") == 0
    out = capsys.readouterr().out
    assert "2 of 2 row(s) reproduce the reference exactly" in out
    assert set(load_results(tmp_path / "run").seed) == {2}
    noise = refit_noise(load_results(seeded_reference))
    assert f"{noise.tolerance(1, 1, 0.01):.3f}" in out


def test_a_regression_beyond_the_refit_tolerance_fails_and_one_within_passes(
    seeded_reference, tmp_path, capsys
) -> None:
    assert _check(seeded_reference, tmp_path / "far", "--set", "toy_exact.scale=3") == 1
    assert "worse by" in capsys.readouterr().out
    assert _check(seeded_reference, tmp_path / "near", "--set", "toy_exact.scale=1.001") == 1
    out = capsys.readouterr().out
    assert "SETTINGS" in out and "worse by" not in out  # a new hash fails; the C2ST is within the noise


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "9"], "--seeds 9 not in the reference (it holds 1, 2, 3)"),
        (["--false-alarm-rate", "1.5"], "strictly between 0 and 1"),
    ],
)
def test_bad_seeds_or_rates_exit_2(seeded_reference, tmp_path, capsys, args, message) -> None:
    assert _check(seeded_reference, tmp_path / "run", *args) == 2
    assert message in capsys.readouterr().err


def test_jobs_re_runs_the_reference_in_worker_processes_and_reproduces_it(
    seeded_reference, tmp_path, capsys
) -> None:
    from pathlib import Path

    plugin = str(Path(__file__).parent / "toy_plugin.py")
    argv = ["--plugin", plugin, "check", str(seeded_reference), "--out", str(tmp_path / "run")]
    assert main([*argv, "--jobs", "2", "--no-progress"]) == 0
    assert "1 of 1 cell(s) pass; 6 of 6 row(s) reproduce the reference exactly" in capsys.readouterr().out
