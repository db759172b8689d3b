"""Kept posterior draws: observations 1-3 of every cell, the first 1,000 draws, float16, a few KB."""

from __future__ import annotations

import numpy as np

from fmbench.cli import main
from fmbench.run.draws import KEPT_DRAWS, read_draws


def test_a_run_keeps_the_first_draws_of_observations_1_to_3(tmp_path) -> None:
    out = tmp_path / "run"
    argv = [
        *("run", "--tasks", "toy_gaussian", "--methods", "toy_exact", "--budgets", "200"),
        *("--observations", "2-5", "--num-samples", "1500", "--coverage-pairs", "0"),
        *("--out", str(out), "--no-progress"),
    ]
    assert main(argv) == 0
    files = sorted((out / "draws" / "toy_gaussian" / "toy_exact").glob("*.npy"))
    assert [f.name.rsplit("_", 1)[1] for f in files] == ["obs2.npy", "obs3.npy"]
    for file in files:
        raw = np.load(file)
        assert raw.dtype == np.float16 and raw.shape == (KEPT_DRAWS, 2)
        assert file.stat().st_size == KEPT_DRAWS * 2 * 2 + 128  # the stated size: N x D x 2 bytes + header
        draws = read_draws(file)
        assert draws is not None and np.isfinite(draws).all() and draws.std(0).min() > 0.1


def test_a_damaged_draws_file_reads_as_none(tmp_path) -> None:
    path = tmp_path / "x_obs1.npy"
    path.write_bytes(b"not an array")
    assert read_draws(path) is None and read_draws(tmp_path / "missing.npy") is None
