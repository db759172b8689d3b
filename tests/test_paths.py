"""``fmbench paths``: the trajectories of two flow-matching fits from the same source draws, drawn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from fmbench.cli import main
from fmbench.fmpe.ode import FlowSample, OdeSettings
from fmbench.method import FitContext, Posterior
from fmbench.registry import get_method, get_task
from fmbench.report.passes import solver_sweep
from fmbench.report.paths import fitted_flow
from fmbench.run.jobs import Fit
from fmbench.run.results import Cell
from fmbench.run.simulations import SimulationCache
from fmbench.run.store import save_torch

TINY = {"hidden_features": "8,8", "max_epochs": 2, "time_prior_exponent": 1, "conditioning": "concat"}
TINY_SET = [
    a for name, value in TINY.items() for m in ("fmpe", "fmpe_vp") for a in ("--set", f"{m}.{name}={value}")
]


def _save_fit(out: Path, method_name: str, budget: int = 200) -> None:
    task, method = get_task("two_moons"), get_method(method_name, dict(TINY))
    data = SimulationCache(out / "simulations").get(task, 1, budget)
    torch.manual_seed(1)
    posterior = method.fit(data.theta, data.x, task.prior, FitContext(budget, 1))
    path = Cell("two_moons", method_name, budget, 1, method.config.hash(budget)).fit_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_torch(Fit(posterior, 1.0, None), path)


def test_trajectories_start_at_the_source_draws_and_end_at_the_samples(tmp_path: Path) -> None:
    _save_fit(tmp_path, "fmpe")
    flow = fitted_flow(tmp_path, "two_moons", "fmpe", 200, 1, TINY)
    theta_0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    x_o = get_task("two_moons").observation(1)
    points = flow.trajectory(theta_0, x_o, (0.0, 0.5, 1.0))
    assert points.shape == (3, 50, 2)
    assert torch.allclose(points[0], flow.theta_scale.inverse(theta_0), atol=1e-5)
    torch.manual_seed(3)
    sampled = flow.sample(50, x_o)  # the same solver from the same draws ends at the same points
    torch.manual_seed(3)
    same_draws = torch.randn(50, 2)
    assert torch.allclose(flow.trajectory(same_draws, x_o, (0.0, 1.0))[-1], sampled, atol=1e-4)
    with pytest.raises(ValueError, match="rise from 0"):
        flow.trajectory(theta_0, x_o, (0.5, 1.0))


def test_paths_draws_both_methods_into_the_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _save_fit(tmp_path, "fmpe")
    _save_fit(tmp_path, "fmpe_vp")
    args = ["paths", str(tmp_path), "--budget", "200", "--samples", "40", *TINY_SET]
    assert main(args) == 0
    figure = tmp_path / "paths_two_moons_200_obs1.png"
    assert figure.read_bytes()[:4] == b"\x89PNG" and str(figure) in capsys.readouterr().out


def test_paths_without_a_fit_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["paths", str(tmp_path), "--budget", "200"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fmbench: error: no fit of fmpe on two_moons") and "fmbench run --tasks" in err
    assert len(err.strip().splitlines()) == 1


def test_paths_on_rows_without_their_fit_says_to_make_it_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = Cell("two_moons", "fmpe", 200, 1, get_method("fmpe").config.hash(200)).path(tmp_path)
    rows.parent.mkdir(parents=True)
    rows.write_text("task,method\n")  # a committed cell: its rows are in git, its fit is not
    assert main(["paths", str(tmp_path), "--budget", "200"]) == 2
    err = capsys.readouterr().err
    assert "but not its fit" in err and "--out DIR" in err and len(err.strip().splitlines()) == 1


def test_paths_names_an_unknown_method_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["paths", str(tmp_path), "--methods", "no_such_method"]) == 2
    err = capsys.readouterr().err
    assert "no_such_method" in err and len(err.strip().splitlines()) == 1


def test_passes_writes_c2st_against_passes_for_each_solver(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _save_fit(tmp_path, "fmpe")
    _save_fit(tmp_path, "fmpe_vp")
    args = ["passes", str(tmp_path), "--budget", "200", "--methods", "fmpe", "fmpe_vp", "--steps", "2", "4"]
    assert main([*args, "--num-samples", "300", *TINY_SET]) == 0
    table = pd.read_csv(tmp_path / "passes_two_moons_200_obs1.csv")
    assert list(table.method) == ["fmpe"] * 3 + ["fmpe_vp"] * 3
    assert list(table.solver) == ["euler", "euler", "dopri5"] * 2
    assert list(table.passes_per_sample[:2]) == [2, 4] and table.passes_per_sample[2] > 4
    assert table.c2st.between(0.5, 1.0).all()
    assert (tmp_path / "passes_two_moons_200_obs1.png").read_bytes()[:4] == b"\x89PNG"
    assert "passes_two_moons_200_obs1.csv" in capsys.readouterr().out


class NotOde(Posterior):
    """A posterior sampled without an ODE (a normalizing flow's, say)."""

    def sample(self, n: int, x_o: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, 2)


def test_passes_refuses_a_method_not_sampled_by_an_ode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _save_fit(tmp_path, "fmpe")
    save_torch(Fit(NotOde(), 1.0, None), next(tmp_path.glob("cells/two_moons/fmpe/*.fit.pt")))
    assert main(["passes", str(tmp_path), "--budget", "200", "--methods", "fmpe", *TINY_SET]) == 2
    assert "is not sampled by an ODE" in capsys.readouterr().err


class FarOff(Posterior):
    """An ODE-sampled posterior whose coarse solves land far outside two_moons' prior."""

    def sample(self, n: int, x_o: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, 2)

    def sample_by_ode(self, n: int, x_o: torch.Tensor, settings: OdeSettings) -> FlowSample:
        scale = 100.0 if settings.solver == "euler" else 0.1
        return FlowSample(scale * torch.randn(n, 2), settings.steps if settings.solver == "euler" else 30)


def test_a_solve_that_leaves_the_prior_gets_no_c2st_and_the_sweep_goes_on(tmp_path: Path) -> None:
    _save_fit(tmp_path, "fmpe")
    save_torch(Fit(FarOff(), 1.0, None), next(tmp_path.glob("cells/two_moons/fmpe/*.fit.pt")))
    table = solver_sweep(
        tmp_path, "two_moons", 200, 1, ["fmpe"], steps=[4], num_samples=200, settings={"fmpe": TINY}
    )
    assert list(table.solver) == ["euler", "dopri5"]
    assert pd.isna(table.c2st[0]) and "inside the prior" in table.error[0]
    assert 0.5 <= table.c2st[1] <= 1.0 and table.error[1] == ""
