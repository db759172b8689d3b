"""The study scripts in ``studies/`` still run: each once with tiny settings (seconds, not hours).

They are not part of the package; they use fmbench's library API, and these runs catch a change of that API
that would break them. What each study found is in ``studies/NOTES.md``.
"""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch

from fmbench.method import FitContext
from fmbench.registry import get_method, get_task
from fmbench.run.results import Cell
from fmbench.run.simulations import SimulationCache

STUDIES = Path(__file__).resolve().parents[1] / "studies"
#: The cheapest fmpe: one small network, two epochs, fixed-step ODEs.
TINY = {
    "hidden_features": "8,8",
    "max_epochs": 2,
    "batch_size": 64,
    "time_prior_exponent": 1,
    "conditioning": "concat",
    "solver": "rk4",
    "log_prob_solver": "rk4",
    "steps": 4,
}
TINY_SET = [arg for name, value in TINY.items() for arg in ("--set", f"fmpe.{name}={value}")]


def study(name: str) -> ModuleType:
    """The study script ``studies/NAME.py`` as a module (its folder on the path, as when run)."""
    if str(STUDIES) not in sys.path:
        sys.path.insert(0, str(STUDIES))
    return importlib.import_module(name)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def save_tiny_fit(task_name: str, out: Path, sims: Path, budget: int = 200) -> Path:
    """A tiny fmpe fit saved where the runner keeps a cell's fit (``Cell.fit_path``), as the runner's
    fit file holds it (an object with a ``posterior``)."""
    task, method = get_task(task_name), get_method("fmpe", TINY)
    data = SimulationCache(sims).get(task, 1, budget)
    torch.manual_seed(1)
    posterior = method.fit(data.theta, data.x, task.prior, FitContext(budget, 1))
    path = Cell(task_name, "fmpe", budget, 1, method.config.hash(budget)).fit_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(SimpleNamespace(posterior=posterior), path)
    return path


def save_default_fit(task_name: str, out: Path, sims: Path) -> None:
    """:func:`save_tiny_fit` under the name of fmpe's default settings, the fit the gap scripts read."""
    tiny = save_tiny_fit(task_name, out, sims)
    tiny.rename(Cell(task_name, "fmpe", 200, 1, get_method("fmpe").config.hash(200)).fit_path(out))


def test_select_fmpe_scores_a_candidate_and_summarizes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    select = study("select_fmpe")
    out = tmp_path / "selection.csv"
    args = ["--tasks", "two_moons", "--budgets", "200", "--candidates", "alpha1,alpha4", *TINY_SET]
    select.main(
        [*args, "--heldout", "200", "--nll-pairs", "20", "--sim-cache", str(tmp_path), "--out", str(out)]
    )
    written = rows(out)
    assert [r["candidate"] for r in written] == ["alpha1", "alpha4"]
    assert written[1]["time_prior_exponent"] == "4.0"  # the candidate's own setting wins over --set
    select.main(
        ["--summary-only", "--out", str(out), "--rank-by", "heldout_nll", "--selection", "alpha1,alpha4"]
    )
    assert "per-fit selection among alpha1, alpha4" in capsys.readouterr().out


def test_select_fmpe_reads_the_committed_study() -> None:
    select = study("select_fmpe")
    committed = rows(STUDIES / "results" / "fmpe_selection_1e3_alpha_batch.csv")
    names = [f"alpha{a}_batch{b}" for a in (0, 1, 4) for b in (64, 256)]
    outcome = select.selection_outcome(committed, names)
    assert "gaussian_linear" in outcome and "mean held-out NLL kept" in outcome


def test_fmpe_ensemble_averages_networks(tmp_path: Path) -> None:
    ensemble = study("fmpe_ensemble")
    out = tmp_path / "ensemble.csv"
    ensemble.main(
        ["--task", "two_moons", "--budget", "200", *TINY_SET, "--networks", "2", "--net-dir", str(tmp_path)]
        + ["--nll-pairs", "20", "--sim-cache", str(tmp_path / "sims"), "--out", str(out)]
    )
    assert [r["members"] for r in rows(out)] == ["1", "2", "1-2"]


def test_halving_race_scores_every_candidate_at_each_checkpoint(tmp_path: Path) -> None:
    race = study("halving_race")
    out = tmp_path / "race.csv"
    settings = [arg for arg in TINY_SET if "time_prior_exponent" not in arg and arg != "--set"]
    settings = [arg for pair in (("--set", s) for s in settings) for arg in pair]
    race.main(
        ["--task", "two_moons", "--budget", "200", *settings, "--set", "fmpe.time_prior_exponent=1,4"]
        + ["--set", "fmpe.max_epochs=3", "--checkpoints", "1", "--heldout", "200", "--nll-pairs", "20"]
        + ["--sim-cache", str(tmp_path / "sims"), "--out", str(out)]
    )
    written = rows(out)
    assert [(r["candidate"], r["epoch"]) for r in written] == [
        ("time_prior_exponent=1.0", "1"),
        ("time_prior_exponent=4.0", "1"),
        ("time_prior_exponent=1.0", "end"),
        ("time_prior_exponent=4.0", "end"),
    ]
    assert all(float(r["val_nll"]) < float("inf") for r in written) and written[2]["trained_epochs"] == "3"


def test_slcp_nll_gap_reads_a_cell_fit(tmp_path: Path) -> None:
    gap = study("slcp_nll_gap")
    sims = tmp_path / "sims"
    save_tiny_fit("slcp", tmp_path, sims)
    out = tmp_path / "gap.csv"
    gap.main(
        ["--method", "fmpe", "--budget", "200", "--out", str(tmp_path), "--sim-cache", str(sims), *TINY_SET]
        + ["--pairs", "3", "--min-ess", "0", "--prior-draws", "4096", "--csv", str(out)]
    )
    assert len(rows(out)) == 3


def test_gaussian_linear_nll_gap_sets_a_fit_beside_the_true_posterior(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    gap = study("gaussian_linear_nll_gap")
    sims = tmp_path / "sims"
    save_default_fit("gaussian_linear", tmp_path, sims)
    gap.main(["--out", str(tmp_path), "--sim-cache", str(sims), "--budget", "200", "--pairs", "3"])
    printed = capsys.readouterr().out
    assert "true NLL" in printed and "npe_maf: no fit" in printed
    assert "fmpe: NLL" in printed and "gap (expected KL)" in printed


def test_the_exact_gaussian_linear_posterior_scores_its_own_draws() -> None:
    gap = study("gaussian_linear_nll_gap")
    x = torch.zeros(20000, 10)
    theta = torch.randn(20000, 10, generator=torch.Generator().manual_seed(0)) * 0.05**0.5
    entropy = 0.5 * 10 * (1 + torch.log(torch.tensor(2 * torch.pi * 0.05)))
    assert gap.true_nll(theta, x).mean().item() == pytest.approx(entropy.item(), abs=0.05)


def test_the_truncated_posterior_of_gaussian_linear_uniform_is_scipys() -> None:
    truncnorm = pytest.importorskip("scipy.stats").truncnorm
    gap = study("gaussian_linear_nll_gap")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(5, 10, generator=generator) * 3 - 1.5  # observations inside and outside the box
    theta = torch.rand(5, 10, generator=generator) * 2 - 1
    scale = 0.1**0.5
    expected = -truncnorm.logpdf(
        theta.numpy(), (-1 - x.numpy()) / scale, (1 - x.numpy()) / scale, x.numpy(), scale
    )
    assert gap.true_nll_uniform(theta, x).numpy() == pytest.approx(expected.sum(-1), rel=1e-6)


def test_gaussian_linear_nll_gap_renormalises_a_fit_to_the_uniform_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    gap = study("gaussian_linear_nll_gap")
    sims = tmp_path / "sims"
    save_default_fit("gaussian_linear_uniform", tmp_path, sims)
    argv = ["--task", "gaussian_linear_uniform", "--out", str(tmp_path), "--sim-cache", str(sims)]
    gap.main([*argv, "--budget", "200", "--pairs", "2", "--mass-draws", "50", "--methods", "fmpe"])
    printed = capsys.readouterr().out
    assert "gaussian_linear_uniform, budget 200, 2 held-out pairs" in printed
    mass = float(printed.split("in-box mass ")[1].split()[0])
    assert "fmpe: NLL" in printed and 0.0 <= mass <= 1.0


def test_exact_draws_of_the_truncated_posterior_have_scipys_means() -> None:
    truncnorm = pytest.importorskip("scipy.stats").truncnorm
    gap = study("gaussian_linear_nll_gap")
    x = torch.tensor([-2.0, -0.5, 0.0, 0.7, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0])
    draws = gap.true_posterior_sample("gaussian_linear_uniform", x, 50_000, torch.Generator().manual_seed(0))
    assert draws.abs().max() <= 1.0
    scale = 0.1**0.5
    means = [truncnorm.mean((-1 - v) / scale, (1 - v) / scale, v, scale) for v in x.tolist()]
    assert draws.mean(0).tolist() == pytest.approx(means, abs=0.01)


def test_gaussian_linear_nll_gap_at_observations_scores_a_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    gap = study("gaussian_linear_nll_gap")
    save_default_fit("gaussian_linear", tmp_path, tmp_path / "sims")
    argv = ["--out", str(tmp_path), "--budget", "200", "--at-observations", "1-2", "--samples", "50"]
    gap.main([*argv, "--methods", "fmpe", "npe_maf"])
    printed = capsys.readouterr().out
    assert "KL(p || q) in nats at observations [1, 2]" in printed and "npe_maf: no fit" in printed
    assert printed.count("(nan)") == 2  # no C2ST rows in the folder


def test_heldout_nll_pairs_two_fits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    heldout = study("heldout_nll")
    sims = tmp_path / "sims"
    save_default_fit("two_moons", tmp_path, sims)
    argv = ["--task", "two_moons", "--out", str(tmp_path), "--sim-cache", str(sims), "--budget", "200"]
    heldout.main([*argv, "--pairs", "3", "--mass-draws", "0", "--methods", "fmpe", "npe_nsf", "fmpe"])
    printed = capsys.readouterr().out
    assert "two_moons, budget 200, 3 held-out pairs" in printed and "npe_nsf: no fit" in printed
    assert "minus fmpe's: +0.000 +- 0.000 nats, lower on 0 of 3 pairs" in printed  # a fit against itself
    raw = float(printed.split("fmpe: NLL ")[1].split()[0])
    heldout.main([*argv, "--pairs", "3", "--mass-draws", "200", "--methods", "fmpe"])  # two_moons' box prior
    assert float(capsys.readouterr().out.split("fmpe: NLL ")[1].split()[0]) <= raw  # renormalised: mass <= 1


def test_compare_marginals_prints_a_fit_beside_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    compare = study("compare_marginals")
    fit = save_tiny_fit("two_moons", tmp_path, tmp_path / "sims")
    compare.main(
        [str(fit), "--task", "two_moons", "--observations", "1", "--samples", "200"]
        + ["--quadrants", "1", "2"]
    )
    assert "reference mean" in capsys.readouterr().out


class ExactTruncatedPosterior:
    """gaussian_linear_uniform's true posterior behind the fit interface the gap studies use."""

    def __init__(self, gap: ModuleType) -> None:
        self.gap = gap

    def sample(self, n: int, x: torch.Tensor) -> torch.Tensor:
        return self.gap.true_posterior_sample("gaussian_linear_uniform", x, n, torch.Generator()).float()

    def log_prob(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -self.gap.true_nll_uniform(theta.double(), x.expand_as(theta))


def test_reverse_kl_of_the_true_posterior_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    gap = study("gaussian_linear_nll_gap")
    monkeypatch.setattr(gap, "cell_posterior", lambda *args: ExactTruncatedPosterior(gap))
    kl = gap.reverse_kl_at_observations(
        Path("unused"), "gaussian_linear_uniform", "fmpe", 200, 1, [1, 2], 500
    )
    assert kl == pytest.approx([0.0, 0.0], abs=1e-6)  # log q - log p vanishes draw by draw


def test_box_edge_c2st_finds_no_edge_effect_in_the_truth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    box = study("box_edge_c2st")
    monkeypatch.setattr(
        box, "cell_posterior", lambda *args: ExactTruncatedPosterior(study("gaussian_linear_nll_gap"))
    )
    box.main(["--out", "unused", "--methods", "fmpe", "--observations", "1", "--samples", "400"])
    printed = capsys.readouterr().out
    truth_share = float(printed.split("truth's interior share ")[1].split(",")[0])
    line = printed.split("| fmpe ")[1]
    full, inner = float(line.split()[0]), float(line.split()[2])
    fit_share = float(line.split("(share ")[1].split(")")[0])
    assert fit_share == pytest.approx(truth_share, abs=0.1)
    assert 0.4 < full < 0.6 and 0.3 < inner < 0.7  # the truth against itself: chance, up to sampling noise
    assert "fmpe: mean C2ST" in printed


def test_box_edge_c2st_says_when_a_fit_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no fmpe fit at budget 10000"):
        study("box_edge_c2st").main(["--out", str(tmp_path), "--methods", "fmpe", "--observations", "1"])


def test_equal_cost_fits_each_entrant_once_and_summarizes(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    equal = study("equal_cost")
    one = equal.ENTRANTS["fmpe_one"][1]
    assert one(1_000, get_task("two_moons")) == {
        "time_prior_exponent": 1.0,
        "conditioning": "concat",
        "batch_size": 256,
    }
    assert one(10_000, get_task("sir")) == {"time_prior_exponent": 1.0, "conditioning": "concat"}
    assert one(10_000, get_task("bernoulli_glm_raw"))["conditioning"] == "glu"  # 100 entries
    selection = equal.ENTRANTS["fmpe"][1]
    assert selection(1_000, get_task("two_moons")) == {}  # the 1e3 tier's six candidates
    (network,) = get_method("fmpe", one(10_000, get_task("sir"))).config.candidates(10_000, 2).values()
    four = get_method("fmpe", selection(10_000, get_task("sir"))).config.candidates(10_000, 2)
    assert len(four) == 4 and network.conditioning == "concat"
    tiny = {
        "npe_nsf": ("npe_nsf", lambda budget, task: {"max_num_epochs": 2}),
        "fmpe": ("fmpe", lambda budget, task: TINY),
        "fmpe_one": ("fmpe", lambda budget, task: {**TINY, **one(budget, task), "max_epochs": 2}),
    }
    monkeypatch.setattr(equal, "ENTRANTS", tiny)
    out = tmp_path / "cost.csv"
    argv = ["--tasks", "two_moons", "--budgets", "200", "--pairs", "3", "--mass-draws", "20"]
    argv += ["--sim-cache", str(tmp_path / "sims"), "--out", str(out)]
    equal.main(argv)
    written = rows(out)
    assert [r["entrant"] for r in written] == ["npe_nsf", "fmpe", "fmpe_one"]
    assert all(float(r["fit_s"]) >= 0 and r["pairs"] == "3" for r in written)  # 0.00: a tiny, warm fit
    equal.main(argv)  # every row is there: nothing is fitted again
    assert len(rows(out)) == 3
    capsys.readouterr()
    equal.main(["--summary", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| two_moons | 2e+02 | npe_nsf | 1 |" in printed and "| 1.00 |" in printed
    assert "summed fit s over its cells, fmpe_one:" in printed


def test_sir_audit_scipy_simulator_matches_ours_and_scores_a_tiny_fit(tmp_path: Path) -> None:
    audit = study("sir_audit")
    task = get_task("sir")
    theta = task.true_parameters(1).reshape(1, 2)
    assert torch.allclose(audit.scipy_sir_probs(theta), task.noise_free(theta), rtol=1e-6, atol=0)
    work = ["--work", str(tmp_path)]
    audit.main([*work, "simulate", "--impl", "scipy", "--budget", "200"])
    sims = tmp_path / "sims" / "sir_scipy_seed1_200.pt"
    tiny = ["hidden_features=8", "num_transforms=1", "num_bins=4", "max_num_epochs=2"]
    audit.main(
        [*work, "fit", "--sims", str(sims), "--budget", "200", "--tag", "tiny", "--observations", "1"]
        + ["--num-samples", "200", *[arg for s in tiny for arg in ("--set", s)]]
    )
    out = tmp_path / "c2st.csv"
    audit.main([*work, "score", "tiny", "--backends", "torch", "sbi_rf", "--out", str(out)])
    assert [r["backend"] for r in rows(out)] == ["torch", "sbi_rf"]
