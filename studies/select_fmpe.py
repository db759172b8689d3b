"""Choose fmpe's budget-tier network and time prior on held-out simulations, never on reference posteriors.

For each task and budget, every candidate network is fitted exactly as the runner fits ``fmpe`` (the
first ``budget`` simulations of seed ``--seed``, the method's own 95/5 early-stopping split), then scored
by its flow-matching loss on ``--heldout`` fresh simulations of seed ``--heldout-seed`` (a seed no
benchmark cell or calibration uses). The noise of that loss (times from the time prior and the
``theta_0`` draws, ``--repeats`` per simulation) is drawn once per task and shared by every candidate, so
the candidates are compared on the same numbers. Lower is better: flow matching's loss is minimised by
the vector field of the true posterior, so on held-out data it ranks estimators without any reference
posterior. Losses are in the z-scored units of the training set, the same for every candidate of a
(task, budget).

Two losses are recorded. ``heldout_loss`` draws times from the paper's time prior (alpha 4), the
weighting the network study was run with; it ranks networks trained with that prior.
``heldout_loss_uniform_t`` draws times uniformly on [0, 1], the measure over which the sampling ODE
integrates the field's error (the transport error is bounded by the time integral of the field error,
errors at early times weighing more, not less), so it is the fair criterion between candidates trained
with different time priors.

Rows are appended to ``--out`` as they finish; ``--summary-only`` prints the table of the CSV.

``--set fmpe.NAME=VALUE`` changes a setting of every candidate (a candidate's own settings win); the
studies never used it, the smoke test does (``tests/test_studies.py``). What each study ran and found:
``studies/NOTES.md``.

Usage (from the repository root; the held-out and training simulations are cached in ``--sim-cache``):
    nice python studies/select_fmpe.py --tasks two_moons,gaussian_linear --budgets 1e3,1e4 \
        --out studies/results/fmpe_selection.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from fmbench.cli.arguments import add_settings_option, parse_budget, settings_by_method
from fmbench.fmpe.method import FlowPosterior, validation_nll
from fmbench.fmpe.train import fixed_noise_loss, sample_time, split_indices
from fmbench.method import FitContext
from fmbench.registry import get_method, get_task
from fmbench.run.simulations import SELECTION_SEED, SimulationCache

#: The larger candidate network: the widths of the tier above 3e4 today, written out so the studies that
#: name it keep their meaning if that tier changes.
LARGE = (64, 128, 256, 256, 256, 128, 64)
#: The paper's two_moons network and training (ANCHORS.md): 8.9M parameters on slcp, batch 64, lr 2e-4, up
#: to 100 epochs, plateau factor 0.2 with patience 1, early stopping after 7 epochs without improvement.
PAPER: dict[str, object] = {
    "hidden_features": (32, 64, 128, 256, 512, 1024, 1024, 1024, 512, 128, 64, 32),
    "batch_size": 64,
    "learning_rate": 2e-4,
    "max_epochs": 100,
    "lr_patience": 1,
    "early_stopping_patience": 7,
    "time_prior_exponent": 4.0,
}
#: Candidate name -> ``fmpe`` setting overrides. ``tier`` is the shipped default (``fmbench.fmpe.tiers``);
#: at 1e4 that was the selection ``tier_four`` names until 2026-12 (``NOTES.md``, "One network at 1e4"), so
#: the 1e4 studies that name ``tier`` are remade with ``tier_four``.
CANDIDATES: dict[str, dict[str, object]] = {
    "small": {"hidden_features": (64, 64, 64, 64)},
    "tier": {},
    "tier_four": {"time_prior_exponent": (1.0, 4.0), "conditioning": ("concat", "glu")},
    "large": {"hidden_features": LARGE},
    "alpha0": {"time_prior_exponent": 0.0},
    "alpha1": {"time_prior_exponent": 1.0},
    "alpha4": {"time_prior_exponent": 4.0},
    "lr3e-4": {"learning_rate": 3e-4},
    "batch32": {"batch_size": 32},
    "batch64": {"batch_size": 64},
    "batch256": {"batch_size": 256},
    "large_alpha4": {"hidden_features": LARGE, "time_prior_exponent": 4.0},
    "batch64_alpha4": {"batch_size": 64, "time_prior_exponent": 4.0},
    "glu_alpha4": {"conditioning": "glu", "time_prior_exponent": 4.0},
    "glu_alpha4_batch64_lr3e-4": {
        "conditioning": "glu",
        "time_prior_exponent": 4.0,
        "batch_size": 64,
        "learning_rate": 3e-4,
    },
    "glu_large_alpha4_batch64_lr2e-4": {
        "conditioning": "glu",
        "hidden_features": LARGE,
        "time_prior_exponent": 4.0,
        "batch_size": 64,
        "learning_rate": 2e-4,
    },
    "glu_alpha4_batch256": {"conditioning": "glu", "time_prior_exponent": 4.0, "batch_size": 256},
    "glu_alpha8": {"conditioning": "glu", "time_prior_exponent": 8.0},
    "glu_large_alpha4": {
        "conditioning": "glu",
        "hidden_features": LARGE,
        "time_prior_exponent": 4.0,
    },
    **{
        f"alpha{alpha}_batch{batch}": {"time_prior_exponent": float(alpha), "batch_size": batch}
        for alpha in (0, 1, 4)
        for batch in (64, 256)
    },
    "batch256_alpha1_patient": {
        "batch_size": 256,
        "time_prior_exponent": 1.0,
        "lr_patience": 100,
        "early_stopping_patience": 300,
    },
    "batch256_alpha1_lr3e-4": {"batch_size": 256, "time_prior_exponent": 1.0, "learning_rate": 3e-4},
    "patient_alpha4": {"time_prior_exponent": 4.0, "lr_patience": 40, "early_stopping_patience": 120},
    "glu_theta_alpha1": {"conditioning": "glu_theta", "time_prior_exponent": 1.0},
    "glu_theta_alpha4": {"conditioning": "glu_theta", "time_prior_exponent": 4.0},
    "glu_theta_large_alpha4": {
        "conditioning": "glu_theta",
        "hidden_features": LARGE,
        "time_prior_exponent": 4.0,
    },
    "paper_glu": {**PAPER, "conditioning": "glu"},
    "paper_glu_theta": {**PAPER, "conditioning": "glu_theta"},
    # The paper's network and optimiser with the 1e4 tier's patience (with its plateau patience 1 the two
    # fits above stopped after 46 and 57 epochs).
    "paper_glu_theta_tier_patience": {
        **PAPER,
        "conditioning": "glu_theta",
        "lr_patience": "auto",
        "early_stopping_patience": "auto",
    },
    # Dropout inside the residual blocks (dingo's ``dropout``), a regulariser; studied on slcp at 1e4.
    **{
        f"glu_alpha4_dropout{p}": {"conditioning": "glu", "time_prior_exponent": 4.0, "dropout": p}
        for p in (0.1, 0.3, 0.5)
    },
    "tier_dropout0.3": {"dropout": 0.3},
    "glu_large_alpha4_dropout0.2": {
        "conditioning": "glu",
        "hidden_features": LARGE,
        "time_prior_exponent": 4.0,
        "dropout": 0.2,
    },
    # Shorter patience (plateau / early stopping, in epochs) than the 1e3 tier's 30 / 100: the cost study.
    "patience15_50": {"lr_patience": 15, "early_stopping_patience": 50},
    "patience10_30": {"lr_patience": 10, "early_stopping_patience": 30},
    # The tier's candidates racing by successive halving from R epochs on (``halving_epochs``).
    **{f"halving{r}": {"halving_epochs": r} for r in (20, 40)},
    "glu_patient_alpha4": {
        "conditioning": "glu",
        "time_prior_exponent": 4.0,
        "lr_patience": 40,
        "early_stopping_patience": 120,
    },
}
#: The time prior of the ``heldout_loss`` column: the paper's alpha.
PAPER_ALPHA = 4.0
FIELDS = [
    "task",
    "budget",
    "seed",
    "candidate",
    "hidden_features",
    "time_prior_exponent",
    "heldout_loss",
    "heldout_loss_uniform_t",
    "heldout_nll",
    "val_nll",
    "epochs",
    "fit_s",
]


def heldout_loss(
    posterior: FlowPosterior, theta: torch.Tensor, x: torch.Tensor, times: torch.Tensor, theta_0: torch.Tensor
) -> float:
    """Flow-matching loss of ``posterior``'s network on held-out ``(theta, x)`` with fixed noise.

    Args:
        posterior: A fitted ``fmpe`` posterior.
        theta: Held-out parameters ``(R * N, D)`` (already repeated ``R`` times).
        x: Their simulations ``(R * N, x_dim)``.
        times: Times ``(R * N, 1)`` from the time prior on ``[0, 1]`` (scaled here to the path's end).
        theta_0: Base draws ``(R * N, D)``.
    """
    posterior.net.eval()
    path = posterior.path
    z_theta, z_x = posterior.theta_scale(theta), posterior.x_scale(x)
    return fixed_noise_loss(posterior.net, path, z_theta, z_x, times * path.t_end, theta_0)


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def summarize(rows: list[dict[str, str]], rank_by: str = "heldout_loss") -> str:
    """One line per candidate, the lowest ``rank_by`` loss of each (task, budget) marked."""
    best: dict[tuple[str, str, str], float] = {}

    def key(r: dict[str, str]) -> tuple[str, str, str]:
        return r["task"], r["budget"], r.get("seed") or ""

    for r in rows:
        best[key(r)] = min(best.get(key(r), float("inf")), float(r[rank_by]))
    header = f"{'task':18s} {'budget':>7s} {'seed':>4s} {'candidate':9s} {'held-out loss':>13s} "
    header += f"{'uniform t':>9s} {'NLL':>9s} {'val NLL':>9s} {'epochs':>6s} {'fit s':>7s}"
    lines = [header]
    for r in rows:
        mark = " <- lowest" if float(r[rank_by]) == best[key(r)] else ""
        lines.append(
            f"{r['task']:18s} {r['budget']:>7s} {r.get('seed') or '':>4s} {r['candidate']:9s} "
            f"{float(r['heldout_loss']):13.5f} {r.get('heldout_loss_uniform_t') or '':>9s} "
            f"{r.get('heldout_nll') or '':>9s} {r.get('val_nll') or '':>9s} "
            f"{r['epochs']:>6s} {float(r['fit_s']):7.1f}{mark}"
        )
    return "\n".join(lines)


def selection_outcome(rows: list[dict[str, str]], candidates: list[str]) -> str:
    """What per-fit selection among ``candidates`` keeps: per (task, budget, seed), the candidate with the
    lowest NLL on the fit's own validation split and its held-out NLL; then the mean held-out NLL per
    (task, budget)."""
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in rows:
        if r["candidate"] in candidates and r.get("val_nll"):
            groups.setdefault((r["task"], r["budget"], r.get("seed") or ""), []).append(r)
    lines = [f"per-fit selection among {', '.join(candidates)}:"]
    kept: dict[tuple[str, str], list[float]] = {}
    for (task, budget, seed), group in groups.items():
        chosen = min(group, key=lambda r: float(r["val_nll"]))
        best = min(group, key=lambda r: float(r["heldout_nll"]))
        kept.setdefault((task, budget), []).append(float(chosen["heldout_nll"]))
        lines.append(
            f"  {task:18s} {budget:>7s} seed {seed:>2s}: keeps {chosen['candidate']} "
            f"(held-out NLL {float(chosen['heldout_nll']):.3f}; lowest {best['candidate']} "
            f"{float(best['heldout_nll']):.3f})"
        )
    for (task, budget), values in kept.items():
        lines.append(f"  {task:18s} {budget:>7s} mean held-out NLL kept: {sum(values) / len(values):.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="two_moons,gaussian_linear")
    parser.add_argument("--budgets", default="1e3,1e4")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="names in CANDIDATES")
    parser.add_argument("--seed", type=int, default=1, help="seed of the training simulations")
    parser.add_argument("--heldout-seed", type=int, default=SELECTION_SEED, help="seed of the held-out ones")
    parser.add_argument("--heldout", type=parse_budget, default=5_000, help="held-out simulations")
    parser.add_argument("--repeats", type=int, default=4, help="noise draws per held-out simulation")
    parser.add_argument("--sim-cache", type=Path, default=Path("results/fmpe_grid/simulations"))
    parser.add_argument("--out", type=Path, default=Path("studies/results/fmpe_selection.csv"))
    add_settings_option(parser, "a setting of every candidate (the candidate's own win)", "fmpe.NAME=VALUE")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nll-pairs", type=int, default=1000, help="held-out pairs of the NLL")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument(
        "--rank-by",
        choices=["heldout_loss", "heldout_loss_uniform_t", "heldout_nll"],
        default="heldout_loss",
        help="the loss that marks the lowest candidate (uniform t between different time priors)",
    )
    parser.add_argument(
        "--selection",
        action="append",
        default=[],
        metavar="NAMES",
        help="with --summary-only: what per-fit selection among these comma-separated candidates keeps "
        "(repeatable)",
    )
    args = parser.parse_args(argv)
    base = settings_by_method(args.set)
    if set(base) - {"fmpe"}:
        parser.error("--set takes fmpe settings: fmpe.NAME=VALUE")
    if args.summary_only:
        print(summarize(_read(args.out), args.rank_by))
        for names in args.selection:
            print(selection_outcome(_read(args.out), names.split(",")))
        return
    unknown = [c for c in args.candidates.split(",") if c not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {', '.join(unknown)}; valid: {', '.join(CANDIDATES)}")
    torch.set_num_threads(args.threads)
    cache = SimulationCache(args.sim_cache)
    if not args.out.exists():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            csv.DictWriter(f, FIELDS).writeheader()
    with args.out.open() as f:
        header = next(csv.reader(f), [])
    if header != FIELDS:
        parser.error(f"{args.out} has the columns of an older version of this script; write to a new --out")
    for task_name in args.tasks.split(","):
        task = get_task(task_name)
        held = cache.get(task, args.heldout_seed, args.heldout)
        theta_h, x_h = held.theta.repeat(args.repeats, 1), held.x.repeat(args.repeats, 1)
        g = torch.Generator().manual_seed(args.heldout_seed)
        theta_0 = torch.randn(theta_h.shape, generator=g)
        times = sample_time(theta_h.shape[0], PAPER_ALPHA, 1.0, like=theta_h, generator=g)
        uniform = sample_time(theta_h.shape[0], 0.0, 1.0, like=theta_h, generator=g)
        for budget in (parse_budget(b) for b in args.budgets.split(",")):
            sims = cache.get(task, args.seed, budget)
            for name in args.candidates.split(","):
                method = get_method("fmpe", {**base.get("fmpe", {}), **CANDIDATES[name]})
                resolved = method.config.resolved(budget, task.x_dim)  # type: ignore[attr-defined]
                # The fit draws its train/validation split first after seeding: the same split here.
                torch.manual_seed(args.seed)
                _, val = split_indices(budget, resolved.validation_fraction, torch.device("cpu"))
                torch.manual_seed(args.seed)
                start = time.perf_counter()
                posterior = method.fit(sims.theta, sims.x, task.prior, FitContext(budget, args.seed))
                fit_s = time.perf_counter() - start
                assert isinstance(posterior, FlowPosterior)
                loss = heldout_loss(posterior, theta_h, x_h, times, theta_0)
                loss_uniform = heldout_loss(posterior, theta_h, x_h, uniform, theta_0)
                nll = validation_nll(posterior, held.theta[: args.nll_pairs], held.x[: args.nll_pairs])
                val_nll = validation_nll(posterior, sims.theta[val].float(), sims.x[val].float())
                row = {
                    "task": task_name,
                    "budget": budget,
                    "seed": args.seed,
                    "candidate": name,
                    "hidden_features": ",".join(map(str, resolved.hidden_features)),
                    "time_prior_exponent": resolved.time_prior_exponent,
                    "heldout_loss": f"{loss:.6f}",
                    "heldout_loss_uniform_t": f"{loss_uniform:.6f}",
                    "heldout_nll": f"{nll:.6f}",
                    "val_nll": f"{val_nll:.6f}",
                    "epochs": posterior.cost.epochs,
                    "fit_s": f"{fit_s:.1f}",
                }
                with args.out.open("a", newline="") as f:
                    csv.DictWriter(f, FIELDS).writerow(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print(summarize(_read(args.out), args.rank_by))


if __name__ == "__main__":
    main()
