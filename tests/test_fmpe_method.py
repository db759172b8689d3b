"""fmpe / fmpe_vp end to end: the Posterior contract, z-scoring in log_prob, and a linear-Gaussian fit.

Linear-Gaussian problem: theta ~ N(mu_0, tau^2 I), x = theta + N(0, sigma^2 I), whose posterior is
N(v (mu_0 / tau^2 + x / sigma^2), v I) with v = 1 / (1 / tau^2 + 1 / sigma^2).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from fmbench.fmpe.method import FlowPosterior, validation_nll
from fmbench.fmpe.network import VectorField
from fmbench.fmpe.ode import OdeSettings, standard_normal_log_prob
from fmbench.fmpe.path import OTPath
from fmbench.fmpe.train import Standardizer
from fmbench.method import FitContext
from fmbench.metrics import c2st
from fmbench.registry import get_method

MU_0, TAU, SIGMA = torch.tensor([3.0, -1.0]), 2.0, 0.5


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small networks train much faster on one thread, above all on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def prior() -> Independent:
    return Independent(Normal(MU_0, TAU * torch.ones(2)), 1)


def simulations(n: int) -> tuple[Tensor, Tensor]:
    theta = prior().sample((n,))
    return theta, theta + SIGMA * torch.randn_like(theta)


def analytic_posterior(x_o: Tensor) -> Independent:
    var = 1 / (1 / TAU**2 + 1 / SIGMA**2)
    return Independent(Normal(var * (MU_0 / TAU**2 + x_o / SIGMA**2), math.sqrt(var) * torch.ones(2)), 1)


class ShiftScale(nn.Module):
    """An exact vector field that carries N(0, I) to N(m, s^2 I) (ignores x)."""

    theta_dim = 2

    def __init__(self, m: Tensor, s: float) -> None:
        super().__init__()
        self.m, self.s = m, s

    def forward(self, t: Tensor, theta: Tensor, x: Tensor) -> Tensor:
        c = 1 + (self.s - 1) * t
        return (self.s - 1) * (theta - t * self.m) / c + self.m


def test_log_prob_and_samples_undo_the_z_scoring() -> None:
    torch.manual_seed(0)
    m, s = torch.tensor([0.5, -0.5]), 0.7
    scale = Standardizer(mean=torch.tensor([10.0, -3.0]), std=torch.tensor([4.0, 0.1]))
    posterior = FlowPosterior(
        ShiftScale(m, s),
        OTPath(),
        scale,
        Standardizer(torch.zeros(1), torch.ones(1)),  # type: ignore[arg-type]
        OdeSettings("rk4", steps=10),
        OdeSettings("dopri5", atol=1e-7, rtol=1e-7),
        "exact",
        epochs=0,
    )
    law = Independent(Normal(m * scale.std + scale.mean, s * scale.std), 1)
    theta = law.sample((100,))
    assert torch.allclose(posterior.log_prob(theta, torch.zeros(1)), law.log_prob(theta), atol=1e-3)
    samples = posterior.sample(20_000, torch.zeros(1))
    assert samples.shape == (20_000, 2)
    assert torch.allclose(samples.mean(0), law.mean, rtol=0.02, atol=0.01)
    assert torch.allclose(samples.std(0), law.stddev, rtol=0.03)
    assert posterior.passes_per_sample == 40.0 == posterior.cost.passes_per_sample


def test_standardizer_round_trip_and_log_det() -> None:
    data = torch.randn(500, 3) * torch.tensor([1.0, 5.0, 0.0]) + 2.0  # a constant column gets std 1
    scale = Standardizer.fit(data)
    assert scale.std[2] == 1.0
    assert torch.allclose(scale.inverse(scale(data)), data, atol=1e-5)
    assert torch.isclose(scale.log_abs_det, -scale.std.log().sum())


@pytest.mark.parametrize(
    "name, conditioning, dropout",
    [("fmpe", "auto", 0.0), ("fmpe_vp", "auto", 0.0), ("fmpe", "glu", 0.3), ("fmpe", "glu_theta", 0.0)],
)
def test_fit_returns_a_posterior_that_honours_the_contract(
    name: str, conditioning: str, dropout: float
) -> None:
    torch.manual_seed(1)
    theta, x = simulations(300)
    settings = {"hidden_features": "16,16", "max_epochs": 3, "steps": 4, "solver": "rk4", "dropout": dropout}
    method = get_method(name, {**settings, "conditioning": conditioning})
    posterior = method.fit(theta, x, prior(), FitContext(budget=300, seed=1))
    blocks = posterior.net.blocks  # type: ignore[attr-defined]
    expected = torch.nn.Dropout if dropout else torch.nn.Identity
    assert all(isinstance(b.dropout, expected) and getattr(b.dropout, "p", 0.0) == dropout for b in blocks)
    cost = posterior.cost
    candidates = method.config.candidates(300, 2)  # type: ignore[attr-defined]
    assert cost.epochs == 3 * len(candidates) and cost.num_parameters > 0 and cost.passes_per_sample == 16
    samples = posterior.sample(50, x[0])
    assert samples.shape == (50, 2) and torch.isfinite(samples).all()
    log_prob = posterior.log_prob(samples[:5], x[0])
    assert log_prob.shape == (5,) and torch.isfinite(log_prob).all()
    assert posterior.passes_per_sample == 16.0


@pytest.mark.parametrize("scores, kept", [((5.0, 1.0), 1), ((1.0, math.inf), 0)])
def test_several_alphas_keep_the_fit_with_the_lowest_validation_nll(
    monkeypatch: pytest.MonkeyPatch, scores: tuple[float, float], kept: int
) -> None:
    import fmbench.fmpe.method as fmpe_method

    scored: list[FlowPosterior] = []

    def scripted_nll(posterior: FlowPosterior, theta: Tensor, x: Tensor) -> float:
        assert theta.shape == (15, 2) and x.shape == (15, 2)  # the fit's 5% validation split
        scored.append(posterior)
        return scores[len(scored) - 1]

    monkeypatch.setattr(fmpe_method, "validation_nll", scripted_nll)
    torch.manual_seed(4)
    theta, x = simulations(300)
    settings = {"hidden_features": "16,16", "max_epochs": 3, "steps": 4, "solver": "rk4", "batch_size": 64}
    posterior = get_method("fmpe", {**settings, "time_prior_exponent": "0,4"}).fit(
        theta, x, prior(), FitContext(budget=300, seed=1)
    )
    assert len(scored) == 2 and posterior is scored[kept]
    assert posterior.selection == {
        "time_prior_exponent=0.0": scores[0],
        "time_prior_exponent=4.0": scores[1],
    }
    assert posterior.cost.epochs == 6  # both candidates' epochs are the fit's cost


def test_several_batch_sizes_and_alphas_fit_every_combination(monkeypatch: pytest.MonkeyPatch) -> None:
    import fmbench.fmpe.method as fmpe_method

    trained: list[list[tuple[int, float]]] = []

    class RecordingGroup(fmpe_method.TrainingGroup):
        def __init__(self, *args: object, **kwargs: object) -> None:
            trained.append([(s.batch_size, s.time_prior_exponent) for s in args[4]])  # type: ignore[attr-defined]
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fmpe_method, "TrainingGroup", RecordingGroup)
    torch.manual_seed(5)
    theta, x = simulations(300)
    settings = {
        "hidden_features": "8",
        "max_epochs": 1,
        "steps": 4,
        "solver": "rk4",
        "log_prob_solver": "rk4",
    }
    posterior = get_method("fmpe", {**settings, "time_prior_exponent": "1,4", "batch_size": "32,128"}).fit(
        theta, x, prior(), FitContext(budget=300, seed=1)
    )
    # the alphas of one batch size train together, one batch size after the other
    assert trained == [[(32, 1.0), (32, 4.0)], [(128, 1.0), (128, 4.0)]]
    assert isinstance(posterior, FlowPosterior) and len(posterior.selection) == 4
    assert "time_prior_exponent=4.0 batch_size=128" in posterior.selection
    assert posterior.cost.epochs == 4


def test_validation_nll_is_the_mean_negative_log_prob_and_inf_when_not_finite() -> None:
    class Fixed:
        def __init__(self, values: Tensor) -> None:
            self.values = values

        def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
            return self.values

    assert validation_nll(Fixed(torch.tensor([-1.0, -3.0])), torch.zeros(2, 1), torch.zeros(2, 1)) == 2.0
    nan = torch.tensor([-1.0, float("nan")])
    assert validation_nll(Fixed(nan), torch.zeros(2, 1), torch.zeros(2, 1)) == math.inf


def test_adaptive_sampling_reports_the_passes_it_made() -> None:
    torch.manual_seed(2)
    theta, x = simulations(200)
    posterior = get_method("fmpe", {"hidden_features": "8", "max_epochs": 1, "solver": "dopri5"}).fit(
        theta, x, prior(), FitContext(budget=200, seed=1)
    )
    assert posterior.cost.passes_per_sample is None
    posterior.sample(10, x[0])
    assert posterior.passes_per_sample is not None and posterior.passes_per_sample >= 6


@pytest.mark.parametrize("name", ["fmpe", pytest.param("fmpe_vp", marks=pytest.mark.slow)])
def test_linear_gaussian_posterior_is_recovered(name: str) -> None:
    torch.manual_seed(3)
    theta, x = simulations(2000)
    # a short run: uniform time (alpha = 0) suits a Gaussian posterior, whose flow is nearly affine
    settings = {
        "hidden_features": "64,64",
        "batch_size": 128,
        "max_epochs": 100,
        "learning_rate": 2e-3,
        "lr_patience": 20,
        "early_stopping_patience": 40,
        "time_prior_exponent": 0.0,
    }
    posterior = get_method(name, settings).fit(theta, x, prior(), FitContext(budget=2000, seed=3))
    for x_o in (torch.tensor([3.5, -0.5]), torch.tensor([1.0, 0.0])):
        truth = analytic_posterior(x_o)
        score = c2st(truth.sample((1000,)), posterior.sample(1000, x_o))
        assert score < 0.6, f"{name}: C2ST {score:.3f} at x_o = {x_o.tolist()}"
        theta_q = truth.sample((200,))
        error = (posterior.log_prob(theta_q, x_o) - truth.log_prob(theta_q)).abs().median()
        assert error < 0.3, f"{name}: median |log q - log p| = {error:.3f}"


def test_standard_normal_log_prob() -> None:
    theta = torch.randn(5, 3)
    expected = Independent(Normal(torch.zeros(3), torch.ones(3)), 1).log_prob(theta)
    assert torch.allclose(standard_normal_log_prob(theta), expected)


def test_fit_candidates_depends_only_on_the_seed_it_starts_from() -> None:
    """What ``studies/fmpe_ensemble.py`` relies on: on one split, the global seed decides the network."""
    torch.manual_seed(0)
    theta, x = simulations(200)
    method = get_method("fmpe", {"hidden_features": [8, 8], "max_epochs": 3, "time_prior_exponent": 1})
    config = next(iter(method.config.candidates(200, 2).values()))  # type: ignore[attr-defined]
    scales = Standardizer.fit(theta), Standardizer.fit(x)
    split = (torch.arange(20, 200), torch.arange(20))

    def net_after(seed: int) -> list[Tensor]:
        torch.manual_seed(seed)
        fit = method.fit_candidates([config], theta, x, *scales, split, FitContext(200, 1))[0]  # type: ignore[attr-defined]
        return [p.detach().clone() for p in fit.net.parameters()]

    first, again, other = net_after(101), net_after(101), net_after(102)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_successive_halving_drops_the_worse_half_of_each_group_each_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fmbench.fmpe.method as fmpe_method

    # Candidates by (alpha, batch): 0 (0, 32), 1 (0, 64), 2 (1, 32), 3 (1, 64), 4 (4, 32), 5 (4, 64); the
    # batch-32 group {0, 2, 4} trains together, the batch-64 group {1, 3, 5} too. Scripted validation NLLs:
    nll = {0: 4.0, 1: 2.0, 2: 3.0, 3: 1.0, 4: 5.0, 5: 6.0}
    scored: list[int] = []
    made: dict[int, int] = {}  # id(posterior) -> candidate
    epochs: dict[int, int] = {}  # candidate -> epochs of its last posterior made (the fit's own, at the end)
    real_posterior = fmpe_method._Training._posterior

    def tagged(self: fmpe_method._Training, i: int, net: VectorField, trained: int) -> FlowPosterior:
        posterior = real_posterior(self, i, net, trained)
        made[id(posterior)], epochs[i] = i, trained
        return posterior

    def scripted_nll(posterior: FlowPosterior, theta: Tensor, x: Tensor) -> float:
        scored.append(made[id(posterior)])
        return nll[scored[-1]]

    monkeypatch.setattr(fmpe_method._Training, "_posterior", tagged)
    monkeypatch.setattr(fmpe_method, "validation_nll", scripted_nll)
    torch.manual_seed(6)
    theta, x = simulations(300)
    settings = {
        "hidden_features": "8",
        "max_epochs": 8,
        "steps": 4,
        "solver": "rk4",
        "log_prob_solver": "rk4",
        "early_stopping_patience": 100,  # no early stopping: the rounds alone decide the epochs
        "halving_epochs": 2,
        "time_prior_exponent": "0,1,4",
        "batch_size": "32,64",
    }
    posterior = get_method("fmpe", settings).fit(theta, x, prior(), FitContext(budget=300, seed=1))
    assert isinstance(posterior, FlowPosterior)
    # epoch 2: each group keeps its better two of three; epoch 4: its better one, which trains to the end
    assert scored == [0, 2, 4, 1, 3, 5] + [2, 0, 3, 1] + [2, 3]
    assert epochs == {0: 4, 1: 4, 2: 8, 3: 8, 4: 2, 5: 2} and posterior.cost.epochs == 28
    assert made[id(posterior)] == 3
    assert list(posterior.selection.values()) == [4.0, 2.0, 3.0, 1.0, 5.0, 6.0]
