"""How far a fitted slcp posterior is from the true one, in nats, on held-out pairs (no reference samples).

slcp's likelihood is Gaussian in closed form (four 2-D draws with mean ``theta[:2]``, scales
``theta[2:4] ** 2`` and correlation ``tanh(theta[4])``), so the true posterior's density at a held-out pair
is ``log p(x | theta) + log p(theta) - log p(x)``. The evidence ``p(x)`` is estimated by importance sampling
from the prior, ``--prior-draws`` per pair (2^21 by default; the script prints the effective sample sizes),
so it depends on no fit. Its logarithm is biased low when the effective sample size is small, which would
make the true NLL come out too low and the printed gap too large; so the gap is printed for all pairs and
for the pairs whose evidence has an effective sample size of at least ``--min-ess``.

The gap ``E[-log q(theta | x)] - E[-log p(theta | x)]`` over held-out pairs is the expected KL divergence
from the true posterior to the fit, the quantity the fits' validation NLL ranks candidates by. The fit is
the grid cell's (``fmbench run ... --out results/fmpe_grid`` must have fitted it on this machine; fit
files are not committed). The held-out pairs are the first ``--pairs`` of ``studies/select_fmpe.py``'s
(seed 2,000,001), so the fit NLL is comparable with its ``heldout_nll`` column.

Usage:
    nice python studies/slcp_nll_gap.py --method fmpe --budget 1e4 --pairs 300
    nice python studies/slcp_nll_gap.py --method fmpe --budget 1e4 --pairs 300 --set fmpe.dropout=0.3 \
        --out results/fmpe_dropout_1e4 --sim-cache results/fmpe_grid/simulations
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor
from torch.distributions import Distribution, MultivariateNormal

from fmbench.cli.arguments import add_settings_option, parse_budget, settings_by_method
from fmbench.registry import get_method, get_task
from fmbench.run.results import Cell
from fmbench.run.simulations import SELECTION_SEED, SimulationCache

#: Diagonal jitter of sbibm's slcp simulator.
EPS = 1e-6


def slcp_log_likelihood(theta: Tensor, x: Tensor) -> Tensor:
    """``log p(x | theta)`` of slcp for parameters ``(N, 5)`` and one observation ``(8,)``."""
    s1, s2, rho = theta[:, 2] ** 2, theta[:, 3] ** 2, torch.tanh(theta[:, 4])
    cov = torch.stack(
        [torch.stack([s1**2 + EPS, rho * s1 * s2], -1), torch.stack([rho * s1 * s2, s2**2 + EPS], -1)], -2
    )
    dist = MultivariateNormal(theta[:, :2].double(), cov.double())
    points = x.reshape(4, 1, 2).double()  # four draws, broadcast over the parameters
    return dist.log_prob(points).sum(0)


def _log_evidence(prior: Distribution, x: Tensor, draws: int, chunk: int = 2**19) -> tuple[float, float]:
    """``log p(x)`` by importance sampling from the prior, and the effective sample size of the weights."""
    log_w = torch.cat(
        [
            slcp_log_likelihood(prior.sample((min(chunk, draws - start),)), x)
            for start in range(0, draws, chunk)
        ]
    )
    weights = torch.softmax(log_w, 0)
    return float(torch.logsumexp(log_w, 0) - math.log(draws)), float(1 / (weights**2).sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="fmpe")
    parser.add_argument("--budget", type=parse_budget, default=10_000)
    parser.add_argument("--seed", type=int, default=1, help="the grid cell's seed")
    parser.add_argument("--out", type=Path, default=Path("results/fmpe_grid"), help="the grid's folder")
    add_settings_option(
        parser, "the settings the cell was run with (they decide its hash), as for fmbench run"
    )
    parser.add_argument(
        "--sim-cache", type=Path, help="the run's simulation cache (default: OUT/simulations)"
    )
    parser.add_argument("--pairs", type=int, default=100, help="held-out pairs")
    parser.add_argument("--prior-draws", type=int, default=2**21, help="prior draws per pair (evidence)")
    parser.add_argument("--heldout-seed", type=int, default=SELECTION_SEED)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", type=Path, help="also write the per-pair figures here")
    parser.add_argument(
        "--min-ess", type=float, default=100, help="also summarize the pairs whose evidence has this ESS"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task("slcp")
    settings = settings_by_method(args.set)
    if set(settings) - {args.method}:
        parser.error(f"--set takes settings of --method: {args.method}.NAME=VALUE")
    method = get_method(args.method, settings.get(args.method))
    cell = Cell("slcp", args.method, args.budget, args.seed, method.config.hash(args.budget))
    fit_path = cell.fit_path(args.out)
    if not fit_path.exists():
        parser.error(f"no fit at {fit_path}; run the grid cell first (fmbench run --tasks slcp ...)")
    posterior = torch.load(fit_path, weights_only=False).posterior  # our own file
    held = SimulationCache(args.sim_cache or args.out / "simulations").get(
        task, args.heldout_seed, max(args.pairs, 5_000)
    )
    torch.manual_seed(args.heldout_seed)
    fit_nll, true_nll, ess = [], [], []
    with torch.no_grad():
        for i in range(args.pairs):
            theta_i, x_i = held.theta[i : i + 1], held.x[i]
            log_evidence, ess_i = _log_evidence(task.prior, x_i, args.prior_draws)
            log_true = slcp_log_likelihood(theta_i, x_i)[0] + task.prior.log_prob(theta_i)[0] - log_evidence
            fit_nll.append(-float(posterior.log_prob(theta_i, x_i)[0]))
            true_nll.append(-float(log_true))
            ess.append(ess_i)
            if (i + 1) % 25 == 0:
                print(f"{i + 1}/{args.pairs} pairs", flush=True)
    fit_t, true_t, ess_t = torch.tensor(fit_nll), torch.tensor(true_nll), torch.tensor(ess)
    print(
        f"slcp {args.method} budget {args.budget} seed {args.seed}, {args.pairs} held-out pairs, "
        f"evidence from {args.prior_draws} prior draws each (effective sample size: min {ess_t.min():.0f}, "
        f"median {ess_t.median():.0f})"
    )
    for label, keep in (("all pairs", ess_t > 0), (f"ESS >= {args.min_ess:g}", ess_t >= args.min_ess)):
        gap = (fit_t - true_t)[keep]
        print(
            f"{label} ({int(keep.sum())}): fit NLL {fit_t[keep].mean():.3f}, true-posterior NLL "
            f"{true_t[keep].mean():.3f}, gap (expected KL) {gap.mean():.3f} +- "
            f"{gap.std() / math.sqrt(len(gap)):.3f} nats (median {gap.median():.3f})"
        )
    if args.csv:
        rows = {"pair": range(args.pairs), "fit_nll": fit_nll, "true_nll": true_nll, "ess": ess}
        theta = held.theta[: args.pairs]
        rows |= {f"theta{j + 1}": theta[:, j].tolist() for j in range(theta.shape[1])}
        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
