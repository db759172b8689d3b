"""How far each method's fit of a Gaussian linear task is from the true posterior, in nats, on held-out pairs.

Both tasks have a closed-form posterior. gaussian_linear: prior N(0, 0.1 I), likelihood N(theta, 0.1 I), so
p(theta | x) = N(x / 2, 0.05 I). gaussian_linear_uniform: prior uniform on [-1, 1]^10, the same likelihood,
so p(theta | x) is N(x, 0.1 I) truncated to the box, a product of truncated normals. For each method's fit
of one grid cell the script prints the mean -log q(theta | x) over held-out pairs, the true posterior's,
and their difference (the expected KL divergence from the true posterior to the fit, with its standard
error). On the bounded prior the fit is renormalised to the box as the evaluation's rejection sampling
renormalises it: its in-box mass per pair is estimated from ``--mass-draws`` of its own samples and its
-log is added, and the mean in-box mass is printed. It reads no reference samples and no C2ST: it says
whether a method's C2ST lead is the fit being closer to the truth.

The fits are the grid's own (``fmbench run ... --out OUT`` must have fitted them on this machine; fit files
are not committed); each method runs with its default settings. The held-out pairs are the first
``--pairs`` of seed 2,000,001, as in ``studies/select_fmpe.py``.

Usage:
    python studies/gaussian_linear_nll_gap.py --out results/paper --budget 1e3 --methods fmpe npe_maf npe_nsf
    python studies/gaussian_linear_nll_gap.py --task gaussian_linear_uniform --out results/paper --budget 1e3
    python studies/gaussian_linear_nll_gap.py --task gaussian_linear_uniform --out results/paper \
        --budget 1e4 --at-observations 1-10 --reverse
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch.distributions import MultivariateNormal, Normal

from fmbench.cli.arguments import parse_budget, parse_observations
from fmbench.method import Posterior
from fmbench.registry import get_method, get_task
from fmbench.run.results import Cell, load_results
from fmbench.run.simulations import SELECTION_SEED, SimulationCache

#: The true posterior's covariance on gaussian_linear is this times the identity.
POSTERIOR_VARIANCE = 0.05
#: gaussian_linear_uniform: the likelihood's variance and the prior's box [-BOUND, BOUND]^10.
NOISE_VARIANCE = 0.1
BOUND = 1.0
TASKS = ("gaussian_linear", "gaussian_linear_uniform")


def true_nll(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """gaussian_linear's ``-log p(theta | x)`` per pair, for pairs ``(N, 10)``."""
    eye = torch.eye(theta.shape[1], dtype=torch.float64)
    return -MultivariateNormal(x.double() / 2, POSTERIOR_VARIANCE * eye).log_prob(theta.double())


def true_nll_uniform(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """gaussian_linear_uniform's ``-log p(theta | x)`` per pair: N(x, 0.1 I) truncated to the box, one
    truncated normal per coordinate."""
    normal = Normal(x.double(), math.sqrt(NOISE_VARIANCE))
    mass = normal.cdf(torch.full_like(x.double(), BOUND)) - normal.cdf(torch.full_like(x.double(), -BOUND))
    return -(normal.log_prob(theta.double()) - mass.log()).sum(-1)


def true_nll_of(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The task's ``-log p(theta | x)`` function: :func:`true_nll` or :func:`true_nll_uniform`."""
    return true_nll if task == "gaussian_linear" else true_nll_uniform


def true_posterior_sample(task: str, x_o: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` exact draws ``(n, 10)`` of the true posterior at ``x_o`` ``(10,)``, in float64."""
    x_o = x_o.double()
    if task == "gaussian_linear":
        noise = torch.randn(n, len(x_o), generator=generator, dtype=torch.float64)
        return x_o / 2 + math.sqrt(POSTERIOR_VARIANCE) * noise
    # truncated normals by the inverse CDF, on the side where x_o >= 0 (the box is symmetric), so that
    # neither CDF bound rounds to 1
    sign = torch.where(x_o < 0, -1.0, 1.0).double()
    centre, scale = sign * x_o, math.sqrt(NOISE_VARIANCE)
    unit = Normal(torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64))
    low, high = unit.cdf((-BOUND - centre) / scale), unit.cdf((BOUND - centre) / scale)
    u = low + (high - low) * torch.rand(n, len(x_o), generator=generator, dtype=torch.float64)
    return sign * (centre + scale * unit.icdf(u))


def kl_at_observations(
    out: Path,
    task: str,
    method_name: str,
    budget: int,
    seed: int,
    observations: list[int],
    samples: int,
    mass_draws: int,
) -> list[float] | None:
    """KL(p || q) at each observation, by ``samples`` exact posterior draws: the mean of log p - log q,
    with q renormalised to the prior's box on gaussian_linear_uniform; ``None`` where there is no fit."""
    posterior = cell_posterior(out, task, method_name, budget, seed)
    if posterior is None:
        return None
    out_kl = []
    for number in observations:
        x_o = get_task(task).observation(number).reshape(-1)
        theta = true_posterior_sample(task, x_o, samples, torch.Generator().manual_seed(number))
        log_p = -true_nll_of(task)(theta, x_o.expand_as(theta))
        with torch.no_grad():
            log_q = posterior.log_prob(theta.float(), x_o).double()
            if task != "gaussian_linear":
                inside = (posterior.sample(mass_draws, x_o).abs() <= BOUND).all(-1).double().mean()
                log_q = log_q - inside.clamp_min(1.0 / mass_draws).log()
        out_kl.append((log_p - log_q).mean().item())
    return out_kl


def reverse_kl_at_observations(
    out: Path, task: str, method_name: str, budget: int, seed: int, observations: list[int], samples: int
) -> list[float] | None:
    """KL(q || p) at each observation, from ``samples`` of the fit's own draws: the mean of log q - log p
    over the draws inside the prior's box, with q renormalised to the box by the share of its draws inside
    it (the rejection the evaluation applies); ``None`` where there is no fit. Unlike KL(p || q), this
    charges a fit for mass where the true posterior has little."""
    posterior = cell_posterior(out, task, method_name, budget, seed)
    if posterior is None:
        return None
    out_kl = []
    for number in observations:
        x_o = get_task(task).observation(number).reshape(-1)
        torch.manual_seed(number)
        with torch.no_grad():
            draws = posterior.sample(samples, x_o)
            inside = (draws.abs() <= BOUND).all(-1) | (task == "gaussian_linear")  # its prior is unbounded
            theta = draws[inside]
            log_q = posterior.log_prob(theta, x_o).double() - inside.double().mean().log()
        log_p = -true_nll_of(task)(theta, x_o.expand_as(theta))
        out_kl.append((log_q - log_p).mean().item())
    return out_kl


def fit_nll(
    out: Path, task: str, method_name: str, budget: int, seed: int, theta: torch.Tensor, x: torch.Tensor
) -> torch.Tensor | None:
    """``-log q(theta | x)`` per pair under the grid cell's fit, or ``None`` where there is no fit."""
    posterior = cell_posterior(out, task, method_name, budget, seed)
    return None if posterior is None else pairwise_nll(posterior, theta, x)


def pairwise_nll(posterior: Posterior, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log q(theta_i | x_i)`` per pair, each pair on its own observation."""
    with torch.no_grad():
        return torch.stack([-posterior.log_prob(theta[i : i + 1], x[i])[0] for i in range(len(theta))])


def in_box_mass(
    out: Path, method_name: str, budget: int, seed: int, x: torch.Tensor, draws: int
) -> torch.Tensor:
    """The fraction of ``draws`` samples of gaussian_linear_uniform's fit inside the prior's box, per x."""
    posterior = cell_posterior(out, "gaussian_linear_uniform", method_name, budget, seed)
    assert posterior is not None
    with torch.no_grad():
        return torch.stack(
            [(posterior.sample(draws, x[i]).abs() <= BOUND).all(-1).double().mean() for i in range(len(x))]
        )


def cell_posterior(out: Path, task: str, method_name: str, budget: int, seed: int) -> Posterior | None:
    """The posterior of the grid cell's fit (default settings) in ``out``, or ``None`` where there is none."""
    method = get_method(method_name)
    path = Cell(task, method_name, budget, seed, method.config.hash(budget)).fit_path(out)
    if not path.exists():
        return None
    return torch.load(path, weights_only=False).posterior  # our own file


def add_cell_arguments(parser: argparse.ArgumentParser, methods: list[str]) -> None:
    """The options the studies that read grid fits share: which cells, which simulations, threads."""
    parser.add_argument("--out", type=Path, default=Path("results/paper"), help="the grid's folder")
    parser.add_argument("--budget", type=parse_budget, default=1_000)
    parser.add_argument("--seed", type=int, default=1, help="the grid cell's seed")
    parser.add_argument("--methods", nargs="+", default=methods)
    parser.add_argument("--sim-cache", type=Path, help="the simulation cache (default: OUT/simulations)")
    parser.add_argument("--pairs", type=int, default=300, help="held-out pairs")
    parser.add_argument("--threads", type=int, default=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="gaussian_linear")
    add_cell_arguments(parser, ["fmpe", "npe_maf", "npe_nsf"])
    parser.add_argument(
        "--mass-draws",
        type=int,
        default=1000,
        help="samples per pair for a fit's in-box mass (uniform prior)",
    )
    parser.add_argument(
        "--at-observations",
        type=parse_observations,
        help="instead of held-out pairs: KL(p || q) at these sbibm observations (e.g. 1-10), from exact "
        "draws of their true posteriors, beside each fit's C2ST rows in OUT",
    )
    parser.add_argument("--samples", type=int, default=2000, help="exact posterior draws per observation")
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="with --at-observations: KL(q || p) from each fit's own draws instead of KL(p || q)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.at_observations:
        _print_observation_kl(args)
        return
    held = SimulationCache(args.sim_cache or args.out / "simulations").get(
        get_task(args.task), SELECTION_SEED, max(args.pairs, 5_000)
    )
    theta, x = held.theta[: args.pairs], held.x[: args.pairs]
    bounded = args.task == "gaussian_linear_uniform"
    truth = true_nll_of(args.task)(theta, x)
    print(f"{args.task}, budget {args.budget}, {args.pairs} held-out pairs: true NLL {truth.mean():.3f}")
    for name in args.methods:
        nll = fit_nll(args.out, args.task, name, args.budget, args.seed, theta, x)
        if nll is None:
            print(f"{name}: no fit in {args.out}")
            continue
        nll, mass_text = nll.double(), ""
        if bounded:  # the evaluation's rejection renormalises the fit to the box
            mass = in_box_mass(args.out, name, args.budget, args.seed, x, args.mass_draws)
            nll = nll + mass.clamp_min(1.0 / args.mass_draws).log()
            mass_text = f", in-box mass {mass.mean():.3f}"
        gap = nll - truth
        print(
            f"{name}: NLL {nll.mean():.3f}, gap (expected KL) {gap.mean():.3f} +- "
            f"{gap.std() / math.sqrt(len(gap)):.3f} nats (median {gap.median():.3f}){mass_text}",
            flush=True,
        )


def _print_observation_kl(args: argparse.Namespace) -> None:
    observations = list(args.at_observations)
    has_rows = (args.out / "cells").is_dir() or (args.out / "results.csv").exists()
    # from the cell files (under the store's lock, so a grid may be writing the folder meanwhile)
    rows = load_results(args.out) if has_rows else pd.DataFrame(columns=["task", "method", "budget"])
    direction = "KL(q || p)" if args.reverse else "KL(p || q)"
    print(
        f"{args.task}, budget {args.budget}: {direction} in nats at observations {observations}, "
        "C2ST in brackets"
    )
    for name in args.methods:
        if args.reverse:
            kl = reverse_kl_at_observations(
                args.out, args.task, name, args.budget, args.seed, observations, args.samples
            )
        else:
            kl = kl_at_observations(
                args.out, args.task, name, args.budget, args.seed, observations, args.samples, args.mass_draws
            )
        if kl is None:
            print(f"{name}: no fit in {args.out}")
            continue
        mine = rows[(rows.task == args.task) & (rows.method == name) & (rows.budget == args.budget)]
        c2st = {int(r.observation): r.c2st for r in mine.itertuples() if r.status == "ok"}
        cells = " ".join(
            f"{k:.2f} ({c2st.get(i, math.nan):.3f})" for i, k in zip(observations, kl, strict=True)
        )
        mean = sum(kl) / len(kl)
        spread = math.sqrt(sum((k - mean) ** 2 for k in kl) / max(len(kl) - 1, 1) / len(kl))
        print(f"{name}: mean {mean:.3f} +- {spread:.3f} | {cells}", flush=True)


if __name__ == "__main__":
    main()
