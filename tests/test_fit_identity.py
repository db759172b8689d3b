"""Which fit made a row: the fit's identity, and a refitted cell made one network again."""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor, nn
from torch.distributions import MultivariateNormal

from fmbench.coverage import CoverageOptions, coverage_path
from fmbench.method import FitCost, Posterior
from fmbench.run.draws import draws_path, read_draws
from fmbench.run.estimate import COLUMNS, Pricing, dry_run_text
from fmbench.run.identity import coverage_from_fit, fit_identity, from_fit
from fmbench.run.results import ResultRow, read_cell
from fmbench.run.runner import Grid, RunOptions, plan, run_grid
from fmbench.run.store import load_torch, save_torch


class NetPosterior(Posterior):
    """A posterior with weights, as a fitted network has."""

    def __init__(self, seed: int, seconds: float = 0.0) -> None:
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
        self.seconds = seconds

    @property
    def cost(self) -> FitCost:
        return FitCost(epochs=3)

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        return self.net(x_o.expand(n, 2))


class UnsaveablePosterior(NetPosterior):
    def __init__(self) -> None:
        super().__init__(0)
        self.hook = lambda: None


class PriorPosterior(NetPosterior):
    """A network that refers to its task's prior, as sbi's posteriors do."""

    def __init__(self, seed: int, prior: MultivariateNormal) -> None:
        super().__init__(seed)
        self.prior = prior


class TensorlessPosterior(Posterior):
    def __init__(self) -> None:
        self.weights = [0.5, 1.5]

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        return torch.full((n, 2), self.weights[0])


def test_the_identity_follows_the_numbers_and_nothing_else(tmp_path) -> None:
    first = fit_identity(NetPosterior(1))
    assert first is not None and first.startswith("sha256:") and len(first) == len("sha256:") + 16
    assert fit_identity(NetPosterior(1, seconds=12.5)) == first  # timings are not the fit
    assert fit_identity(NetPosterior(2)) != first
    save_torch(NetPosterior(1), tmp_path / "fit.pt")
    assert fit_identity(load_torch(tmp_path / "fit.pt", weights_only=False)) == first
    nudged = NetPosterior(1)
    with torch.no_grad():
        nudged.net[0].weight[0, 0] += 1e-7
    assert fit_identity(nudged) != first
    assert fit_identity(UnsaveablePosterior()) is None
    assert fit_identity(TensorlessPosterior()) is None  # its numbers would go unhashed


def test_a_prior_the_fit_refers_to_is_not_part_of_it() -> None:
    prior = MultivariateNormal(torch.zeros(2), torch.eye(2))
    before = fit_identity(PriorPosterior(1, prior))
    prior.precision_matrix  # noqa: B018 - a lazily cached tensor: what the process did, not the fit
    assert fit_identity(PriorPosterior(1, prior)) == before == fit_identity(NetPosterior(1))


def _row(**fields) -> ResultRow:
    return ResultRow(task="t", method="m", budget=100, seed=1, observation=1, c2st=0.5, **fields)


def test_a_row_is_judged_by_its_fit_id_or_else_by_its_epochs() -> None:
    assert from_fit(_row(fit_id="sha256:a", epochs=5), "sha256:a", 9)
    assert not from_fit(_row(fit_id="sha256:a", epochs=5), "sha256:b", 5)
    assert from_fit(_row(fit_id="sha256:a"), None, 5)  # a fit without identity cannot judge
    assert from_fit(_row(epochs=5), "sha256:b", 5)  # an older row: its epochs
    assert not from_fit(_row(epochs=5), "sha256:b", 6)
    assert from_fit(_row(), "sha256:b", 6) and from_fit(_row(epochs=5), "sha256:b", None)


def test_coverage_is_judged_by_its_fit_id_or_else_by_the_rows() -> None:
    recorded = pd.DataFrame({"rank": [0.5], "fit_id": ["sha256:a"]})
    assert coverage_from_fit(recorded, "sha256:a", rows_from_other_fit=True)
    assert not coverage_from_fit(recorded, "sha256:b", rows_from_other_fit=False)
    older = pd.DataFrame({"rank": [0.5]})
    assert coverage_from_fit(older, "sha256:b", rows_from_other_fit=False)
    assert not coverage_from_fit(older, "sha256:b", rows_from_other_fit=True)


CALIBRATION = CoverageOptions(num_pairs=20, num_samples=100)


def _grid(observations: tuple[int, ...]) -> Grid:
    return Grid(tasks=("toy_gaussian",), methods=("toy_exact",), budgets=(200,), observations=observations)


def _options(tmp_path) -> RunOptions:
    return RunOptions(out=tmp_path, num_samples=500, show_progress=False, calibration=CALIBRATION)


def _cell_file(tmp_path):
    (path,) = (tmp_path / "cells").glob("*/*/*.csv")
    return path


OTHER_FIT = "sha256:0123456789abcdef"


def _run_with_observation_1_by_another_fit(tmp_path, options: RunOptions):
    """Runs observations 1-2 and makes observation 1's row look made by another fit; returns the cell."""
    run_grid(_grid((1, 2)), options)
    (cell,) = _grid((1,)).cells()
    rows = pd.read_csv(_cell_file(tmp_path))
    rows.loc[rows.observation == 1, "fit_id"] = OTHER_FIT
    rows.to_csv(_cell_file(tmp_path), index=False)
    return cell


def test_rows_and_coverage_record_the_fit_that_made_them(tmp_path) -> None:
    run_grid(_grid((1, 2)), _options(tmp_path))
    (cell,) = _grid((1,)).cells()
    fit = load_torch(cell.fit_path(tmp_path), weights_only=False)
    assert fit.fit_id == fit_identity(fit.posterior)
    assert [r.fit_id for r in read_cell(cell, tmp_path)] == [fit.fit_id] * 2
    assert set(pd.read_csv(coverage_path(cell, tmp_path)).fit_id) == {fit.fit_id}


def test_a_cell_without_its_kept_fit_plans_checks_of_its_earlier_results(tmp_path) -> None:
    options = _options(tmp_path)
    run_grid(_grid((1, 2)), options)
    (cell,) = _grid((1,)).cells()
    (kept,) = plan(_grid((1, 2, 3)), options)
    assert [j.observations for j in kept.followers] == [(3,)]  # the kept fit made rows 1 and 2
    cell.fit_path(tmp_path).unlink()
    (refit,) = plan(_grid((1, 2, 3)), options)
    assert refit.fit.observations == (3,)
    assert [(j.kind, j.observations) for j in refit.followers] == [
        ("evaluate", (1,)),
        ("evaluate", (2,)),
        ("evaluate", (3,)),
        ("calibrate", ()),
    ]
    assert plan(_grid((1, 2)), options) == []  # a complete cell is not fitted again
    text = dry_run_text([refit], tmp_path, pd.DataFrame(columns=COLUMNS), Pricing(), 1)
    assert "2 observation(s) already ok lie in cells whose kept fit is gone" in text


def test_a_refit_evaluates_again_only_the_rows_of_another_fit(tmp_path) -> None:
    options = _options(tmp_path)
    cell = _run_with_observation_1_by_another_fit(tmp_path, options)
    fit_id = load_torch(cell.fit_path(tmp_path), weights_only=False).fit_id
    draws_path(cell, tmp_path, 1).write_bytes(b"another fit's draws")
    kept_row = read_cell(cell, tmp_path)[1]
    cell.fit_path(tmp_path).unlink()  # a new machine: the kept fit is gone

    summary = run_grid(_grid((1, 2, 3)), options)

    assert summary.ok
    rows = read_cell(cell, tmp_path)
    assert [r.fit_id for r in rows] == [fit_id] * 3 and all(r.status == "ok" for r in rows)
    assert rows[1] == kept_row  # made by this same fit: left as it was
    assert read_draws(draws_path(cell, tmp_path, 1)) is not None
    assert any("observation(s) 1 " in note and "evaluated again" in note for note in summary.notes)
    assert set(pd.read_csv(coverage_path(cell, tmp_path)).fit_id) == {fit_id}


def test_older_rows_and_coverage_are_judged_by_epochs(tmp_path) -> None:
    options = _options(tmp_path)
    run_grid(_grid((1, 2)), options)
    (cell,) = _grid((1,)).cells()
    rows = pd.read_csv(_cell_file(tmp_path)).drop(columns="fit_id")  # written before rows had one
    rows.loc[rows.observation == 1, "epochs"] = 7  # the refit (toy_exact: 0 epochs) stops elsewhere
    rows.to_csv(_cell_file(tmp_path), index=False)
    coverage = pd.read_csv(coverage_path(cell, tmp_path)).drop(columns="fit_id")
    coverage.assign(calibration_s=-1.0).to_csv(coverage_path(cell, tmp_path), index=False)
    cell.fit_path(tmp_path).unlink()

    summary = run_grid(_grid((1, 2, 3)), options)

    assert summary.ok
    first, second, _ = read_cell(cell, tmp_path)
    assert (first.epochs, second.epochs) == (0, 0)
    assert first.fit_id.startswith("sha256:") and not second.fit_id  # only observation 1 was redone
    again = pd.read_csv(coverage_path(cell, tmp_path))
    assert (again.calibration_s >= 0).all() and again.fit_id.notna().all()


def test_a_refit_that_cannot_be_kept_leaves_no_row_of_another_fit_behind(tmp_path, monkeypatch) -> None:
    import fmbench.run.jobs as jobs

    options = _options(tmp_path)
    cell = _run_with_observation_1_by_another_fit(tmp_path, options)
    cell.fit_path(tmp_path).unlink()

    def full_disk(obj, path) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(jobs, "save_torch", full_disk)
        assert not run_grid(_grid((1, 2, 3)), options).ok
    first = read_cell(cell, tmp_path)[0]
    assert first.status == "failed" and "made by another fit of this cell" in first.error
    assert not cell.fit_path(tmp_path).exists() and not draws_path(cell, tmp_path, 1).exists()

    assert run_grid(_grid((1, 2, 3)), options).ok
    assert all(r.status == "ok" and r.fit_id for r in read_cell(cell, tmp_path))


def test_a_damaged_kept_fit_is_fitted_again_and_its_other_fit_rows_redone_in_the_same_run(tmp_path) -> None:
    options = _options(tmp_path)
    cell = _run_with_observation_1_by_another_fit(tmp_path, options)
    fit_id = load_torch(cell.fit_path(tmp_path), weights_only=False).fit_id
    coverage = pd.read_csv(coverage_path(cell, tmp_path)).assign(fit_id=OTHER_FIT)
    coverage.to_csv(coverage_path(cell, tmp_path), index=False)
    cell.fit_path(tmp_path).write_bytes(b"torn")  # planned as kept; found damaged by its fit job

    summary = run_grid(_grid((1, 2, 3)), options)

    assert summary.ok
    assert [(r.status, r.fit_id) for r in read_cell(cell, tmp_path)] == [("ok", fit_id)] * 3
    assert set(pd.read_csv(coverage_path(cell, tmp_path)).fit_id) == {fit_id}


def test_an_unsaveable_posterior_redoes_older_rows_of_another_fit_itself(tmp_path, monkeypatch) -> None:
    from toys import ExactPosterior, ToyExact

    options = _options(tmp_path)
    run_grid(_grid((1, 2)), options)
    (cell,) = _grid((1,)).cells()
    rows = pd.read_csv(_cell_file(tmp_path)).drop(columns="fit_id")  # older rows, judged by epochs
    rows.loc[rows.observation == 1, "epochs"] = 7
    rows.to_csv(_cell_file(tmp_path), index=False)
    cell.fit_path(tmp_path).unlink()

    def unsaveable(self, theta, x, prior, context):
        posterior = ExactPosterior(self.config.scale)
        posterior.hook = lambda: None  # torch.save cannot pickle it
        return posterior

    monkeypatch.setattr(ToyExact, "fit", unsaveable)
    summary = run_grid(_grid((1, 2, 3)), options)

    assert summary.ok
    rows = read_cell(cell, tmp_path)
    assert [(r.observation, r.status, r.epochs) for r in rows] == [(1, "ok", 0), (2, "ok", 0), (3, "ok", 0)]
    assert any("posterior not saved" in note and "observation(s) 1 " in note for note in summary.notes)


def test_a_calibration_replaces_coverage_another_fit_recorded(tmp_path) -> None:
    from fmbench.run.jobs import Job, WorkerSetup, run_job

    options = _options(tmp_path)
    run_grid(_grid((1,)), options)
    (cell,) = _grid((1,)).cells()
    fit_id = load_torch(cell.fit_path(tmp_path), weights_only=False).fit_id
    other = pd.read_csv(coverage_path(cell, tmp_path)).assign(fit_id=OTHER_FIT)
    other.to_csv(coverage_path(cell, tmp_path), index=False)

    assert run_job(Job("calibrate", cell), WorkerSetup(options)).status == "done"
    assert set(pd.read_csv(coverage_path(cell, tmp_path)).fit_id) == {fit_id}
