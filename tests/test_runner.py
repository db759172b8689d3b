"""The runner: protocol, fairness, failures and resuming."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from fmbench.run.results import COLUMNS
from fmbench.run.runner import Grid, RunOptions, run_grid
from fmbench.task import TaskUnavailableError


def _run(
    tmp_path, methods=("toy_exact",), tasks=("toy_gaussian",), budgets=(200,), observations=(1, 2), **kw
):
    grid = Grid(tasks=tasks, methods=methods, budgets=budgets, observations=observations, **kw)
    return pd.read_csv(run_grid(grid, RunOptions(out=tmp_path, num_samples=500, show_progress=False)).table)


def test_rows_are_tidy_with_provenance_and_an_exact_posterior_scores_one_half(tmp_path) -> None:
    table = _run(tmp_path)
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 and (table.status == "ok").all()
    assert table.c2st.between(0.4, 0.6).all()
    assert (table.num_samples == 500).all() and (table.c2st_backend == "torch").all()
    for column in (
        "fmbench_version",
        "git_revision",
        "torch_version",
        "sbi_version",
        "device",
        "cpu",
        "method_config_hash",
        "metric_conventions",
        "timestamp",
    ):
        assert table[column].notna().all(), column


def test_every_method_sees_the_same_simulations(tmp_path, monkeypatch) -> None:
    from toys import ToyExact

    seen = []
    original = ToyExact.fit

    def spy(self, theta, x, prior, context):
        seen.append((theta.clone(), x.clone(), context.budget))
        return original(self, theta, x, prior, context)

    monkeypatch.setattr(ToyExact, "fit", spy)
    _run(tmp_path, budgets=(100, 300), observations=(1,))
    _run(tmp_path / "again", budgets=(300,), observations=(1,))
    (t100, x100, b100), (t300, x300, b300), (t300b, x300b, _) = seen
    assert (b100, b300) == (100, 300)
    assert torch.equal(t100, t300[:100]) and torch.equal(x100, x300[:100])
    assert torch.equal(t300, t300b) and torch.equal(x300, x300b)


def test_rerun_skips_finished_rows_and_resumes_missing_ones(tmp_path, monkeypatch) -> None:
    from toys import ToyExact

    first = _run(tmp_path, observations=(1,))
    calls = []
    monkeypatch.setattr(ToyExact, "fit", lambda *a: calls.append(1))  # a refit would crash
    again = _run(tmp_path, observations=(1,))
    assert calls == [] and again.equals(first)
    more = _run(tmp_path, observations=(1, 2))  # the saved fit is reused for the new observation
    assert calls == [] and len(more) == 2 and (more.status == "ok").all()
    assert more.iloc[0].equals(first.iloc[0])


def test_a_crashing_method_is_recorded_and_the_grid_goes_on(tmp_path) -> None:
    table = _run(tmp_path, methods=("toy_crash", "toy_exact"))
    crashed = table[table.method == "toy_crash"]
    assert (crashed.status == "failed").all() and crashed.c2st.isna().all()
    assert crashed.error.str.contains("diverged on purpose").all()
    assert (table[table.method == "toy_exact"].status == "ok").all()


def test_invalid_simulations_are_recorded(tmp_path) -> None:
    table = _run(tmp_path, tasks=("toy_nan",), budgets=(30,), observations=(1,))
    assert table.num_invalid_simulations.tolist() == [10]


def test_samples_outside_the_prior_are_rejected_and_counted(tmp_path) -> None:
    table = _run(
        tmp_path,
        tasks=("two_moons",),
        budgets=(10,),
        observations=(1,),
        settings={"toy_exact": {"scale": 1.0}},
    )
    # the toy posterior is a Gaussian around x_o, partly outside two_moons' uniform box [-1, 1]^2
    assert 0.0 < table.rejected_fraction.iloc[0] < 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tasks": ("nope",)}, KeyError, "unknown task 'nope'"),
        ({"methods": ("npe_nfs",)}, KeyError, "did you mean 'npe_nsf'"),
        ({"budgets": (0,)}, ValueError, "positive integer"),
        ({"observations": (11,)}, ValueError, "1..10"),
        ({"seeds": (-1,)}, ValueError, "non-negative integer"),
        ({"seeds": (1_000_001,)}, ValueError, "seed 1000001 is reserved"),
        ({"tasks": ("toy_unavailable",)}, TaskUnavailableError, "needs a licence"),
        ({"settings": {"toy_exact": {"bogus": 1}}}, ValueError, "unknown setting"),
    ],
)
def test_bad_grids_fail_before_running(kwargs, error, match) -> None:
    base = {"tasks": ("toy_gaussian",), "methods": ("toy_exact",), "budgets": (10,)}
    with pytest.raises(error, match=match):
        Grid(**{**base, **kwargs})


def test_rows_carry_mmd_nltp_and_cost_and_each_fit_its_coverage(tmp_path) -> None:
    from toys import exact_posterior

    from fmbench.registry import get_task

    table = _run(tmp_path, observations=(1,))
    row = table.iloc[0]
    assert abs(row.mmd) < 0.05
    task = get_task("toy_gaussian")
    expected = -float(exact_posterior(task.observation(1)).log_prob(task.true_parameters(1)))
    assert row.nltp == pytest.approx(expected, rel=1e-5)
    assert row.log_prob_s > 0 and row.sample_s > 0 and row.peak_memory_mb is not None
    coverage = pd.read_csv(tmp_path / "coverage.csv")
    assert len(coverage) == 200 and set(coverage.method) == {"toy_exact"}
    # an exact posterior is calibrated: its TARP ranks are uniform
    assert abs(coverage["rank"].mean() - 0.5) < 0.06
    assert abs((coverage["rank"] < 0.25).mean() - 0.25) < 0.08
