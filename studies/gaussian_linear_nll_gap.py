"""How far each method's gaussian_linear fit is from the true posterior, in nats, on held-out pairs.

gaussian_linear's posterior is Gaussian in closed form: prior N(0, 0.1 I), likelihood N(theta, 0.1 I), so
p(theta | x) = N(x / 2, 0.05 I). For each method's fit of one grid cell the script prints the mean
-log q(theta | x) over held-out pairs, the true posterior's, and their difference (the expected KL
divergence from the true posterior to the fit, with its standard error). It reads no reference samples and
no C2ST: it says whether a method's C2ST lead is the fit being closer to the truth.

The fits are the grid's own (``fmbench run ... --out OUT`` must have fitted them on this machine; fit files
are not committed); each method runs with its default settings. The held-out pairs are the first
``--pairs`` of seed 2,000,001, as in ``studies/select_fmpe.py``.

Usage:
    python studies/gaussian_linear_nll_gap.py --out results/paper --budget 1e3 --methods fmpe npe_maf npe_nsf
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch.distributions import MultivariateNormal

from fmbench.arguments import parse_budget
from fmbench.registry import get_method, get_task
from fmbench.results import Cell
from fmbench.simulations import SELECTION_SEED, SimulationCache

#: The true posterior's covariance is this times the identity.
POSTERIOR_VARIANCE = 0.05


def true_nll(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log p(theta | x)`` per pair, for pairs ``(N, 10)``."""
    eye = torch.eye(theta.shape[1], dtype=torch.float64)
    return -MultivariateNormal(x.double() / 2, POSTERIOR_VARIANCE * eye).log_prob(theta.double())


def fit_nll(
    out: Path, method_name: str, budget: int, seed: int, theta: torch.Tensor, x: torch.Tensor
) -> torch.Tensor | None:
    """``-log q(theta | x)`` per pair under the grid cell's fit, or ``None`` where there is no fit."""
    method = get_method(method_name)
    path = Cell("gaussian_linear", method_name, budget, seed, method.config.hash(budget)).fit_path(out)
    if not path.exists():
        return None
    posterior = torch.load(path, weights_only=False).posterior  # our own file
    with torch.no_grad():
        return torch.stack([-posterior.log_prob(theta[i : i + 1], x[i])[0] for i in range(len(theta))])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/paper"), help="the grid's folder")
    parser.add_argument("--budget", type=parse_budget, default=1_000)
    parser.add_argument("--seed", type=int, default=1, help="the grid cell's seed")
    parser.add_argument("--methods", nargs="+", default=["fmpe", "npe_maf", "npe_nsf"])
    parser.add_argument("--sim-cache", type=Path, help="the simulation cache (default: OUT/simulations)")
    parser.add_argument("--pairs", type=int, default=300, help="held-out pairs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    held = SimulationCache(args.sim_cache or args.out / "simulations").get(
        get_task("gaussian_linear"), SELECTION_SEED, max(args.pairs, 5_000)
    )
    theta, x = held.theta[: args.pairs], held.x[: args.pairs]
    truth = true_nll(theta, x)
    print(f"gaussian_linear, budget {args.budget}, {args.pairs} held-out pairs: true NLL {truth.mean():.3f}")
    for name in args.methods:
        nll = fit_nll(args.out, name, args.budget, args.seed, theta, x)
        if nll is None:
            print(f"{name}: no fit in {args.out}")
            continue
        gap = nll.double() - truth
        print(
            f"{name}: NLL {nll.mean():.3f}, gap (expected KL) {gap.mean():.3f} +- "
            f"{gap.std() / math.sqrt(len(gap)):.3f} nats (median {gap.median():.3f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
