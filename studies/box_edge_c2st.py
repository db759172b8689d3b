"""How much of a fit's C2ST on gaussian_linear_uniform comes from the edges of the prior's box.

gaussian_linear_uniform's posterior is N(x, 0.1 I) truncated to [-1, 1]^10: its density stops sharply at the
box. For each observation the script draws the fit's samples (those outside the box rejected, as the
evaluation does) and exact posterior draws (``gaussian_linear_nll_gap.true_posterior_sample``), and prints
two C2STs of the runner's convention (torch backend, seed 1, 5 folds): on all of them, and on the draws of
both whose every coordinate lies in the interior ``|theta_i| < --interior``, with the same number of draws
from the fit and from the truth. A fit whose C2ST falls to the others' in the interior differs from the
truth mostly at the box's edges. Also printed: the share of each set's draws in the interior.

It explains a grid result after the fact and chooses nothing. The fits are the grid's own
(``fmbench run ... --out OUT`` must have fitted them on this machine; fit files are not committed).

Usage:
    python studies/box_edge_c2st.py --out results/paper --budget 1e4 --methods fmpe npe_nsf \
        --observations 1-10 --interior 0.9
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from gaussian_linear_nll_gap import BOUND, cell_posterior, true_posterior_sample

from fmbench.cli.arguments import parse_budget, parse_observations
from fmbench.method import Posterior
from fmbench.metrics.c2st import c2st
from fmbench.registry import get_task

TASK = "gaussian_linear_uniform"


def interior(samples: torch.Tensor, bound: float) -> torch.Tensor:
    """The rows of ``samples`` ``(N, D)`` whose every coordinate is strictly inside ``(-bound, bound)``."""
    return samples[(samples.abs() < bound).all(-1)]


def fit_draws(posterior: Posterior, x_o: torch.Tensor, n: int, o: int) -> torch.Tensor:
    """``n`` of the fit's draws at ``x_o`` inside the prior's box (seeded by the observation ``o``)."""
    torch.manual_seed(o)
    kept: list[torch.Tensor] = []
    with torch.no_grad():
        while sum(len(k) for k in kept) < n:
            draws = posterior.sample(n, x_o)
            kept.append(draws[(draws.abs() <= BOUND).all(-1)])
    return torch.cat(kept)[:n]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/paper"), help="the grid's folder")
    parser.add_argument("--budget", type=parse_budget, default=10_000)
    parser.add_argument("--seed", type=int, default=1, help="the grid cell's seed")
    parser.add_argument("--methods", nargs="+", default=["fmpe", "npe_nsf"])
    parser.add_argument("--observations", type=parse_observations, default=parse_observations("1-10"))
    parser.add_argument("--interior", type=float, default=0.9, help="the interior is |theta_i| < this")
    parser.add_argument("--samples", type=int, default=10_000, help="draws per set for the full C2ST")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{TASK}, budget {args.budget}: C2ST on all draws / on the interior |theta_i| < {args.interior}")
    posteriors: dict[str, Posterior] = {}
    for m in args.methods:
        posterior = cell_posterior(args.out, TASK, m, args.budget, args.seed)
        if posterior is None:
            raise SystemExit(f"box_edge_c2st: no {m} fit at budget {args.budget} in {args.out}")
        posteriors[m] = posterior
    totals: dict[str, list[tuple[float, float]]] = {m: [] for m in args.methods}
    for o in args.observations:
        x_o = get_task(TASK).observation(o).reshape(-1)
        truth = true_posterior_sample(TASK, x_o, 2 * args.samples, torch.Generator().manual_seed(100 + o))
        truth = truth.float()
        fits = {m: fit_draws(p, x_o, args.samples, o) for m, p in posteriors.items()}
        inner_truth = interior(truth, args.interior)
        inner_fits = {m: interior(d, args.interior) for m, d in fits.items()}
        n = min(len(inner_truth), *(len(d) for d in inner_fits.values()))
        parts = [f"observation {o}: truth's interior share {len(inner_truth) / len(truth):.3f}, n = {n}"]
        for m, draws in fits.items():
            full = c2st(truth[: args.samples], draws, backend="torch")
            inner = c2st(inner_truth[:n], inner_fits[m][:n], backend="torch")
            totals[m].append((full, inner))
            parts.append(f"{m} {full:.3f} / {inner:.3f} (share {len(inner_fits[m]) / len(draws):.3f})")
        print(" | ".join(parts), flush=True)
    for m, values in totals.items():
        full = sum(v[0] for v in values) / len(values)
        inner = sum(v[1] for v in values) / len(values)
        print(f"{m}: mean C2ST {full:.3f} on all draws, {inner:.3f} on the interior")


if __name__ == "__main__":
    main()
