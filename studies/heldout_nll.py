"""Which of two grid fits is closer to the true posterior, on any task: their paired held-out NLL.

For held-out pairs (theta, x) of the prior predictive, E[-log q(theta | x)] is the expected KL divergence from
the true posterior to q plus a constant that does not depend on q, so the difference of two fits' mean
held-out NLL is the difference of their expected KLs, with no reference posterior needed. The script prints
each fit's mean NLL and every method's paired difference to the first, with its standard error and the
share of pairs where it is lower. The pairs are the first ``--pairs`` of seed 2,000,001, as in
``studies/select_fmpe.py``. On a prior with bounded support each fit is renormalised to it, as the
evaluation's rejection sampling renormalises it: its in-support mass at each pair is estimated from
``--mass-draws`` of its own samples (``fmbench.run.support.within_support``) and its log added
(:func:`renormalised_nll`).

The fits are the grid's own (``fmbench run ... --out OUT`` must have fitted them on this machine; fit files
are not committed); each method runs with its default settings.

Usage:
    python studies/heldout_nll.py --task slcp_distractors --budget 1e3 --methods fmpe npe_nsf npe_maf
"""

from __future__ import annotations

import argparse
import math

import torch
from gaussian_linear_nll_gap import add_cell_arguments, cell_posterior, pairwise_nll

from fmbench.method import Posterior
from fmbench.registry import get_task
from fmbench.run.simulations import SELECTION_SEED, SimulationCache
from fmbench.run.support import within_support
from fmbench.task import Task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    add_cell_arguments(parser, ["fmpe", "npe_nsf", "npe_maf"])
    parser.add_argument(
        "--mass-draws", type=int, default=1000, help="samples per pair for a fit's in-support mass (0: none)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    held = SimulationCache(args.sim_cache or args.out / "simulations").get(
        task, SELECTION_SEED, max(args.pairs, 5_000)
    )
    theta, x = held.theta[: args.pairs], held.x[: args.pairs]
    print(f"{args.task}, budget {args.budget}, {len(theta)} held-out pairs")
    first: tuple[str, torch.Tensor] | None = None
    for name in args.methods:
        posterior = cell_posterior(args.out, args.task, name, args.budget, args.seed)
        if posterior is None:
            print(f"{name}: no fit in {args.out}")
            continue
        nll = renormalised_nll(posterior, task, theta, x, args.mass_draws)
        text = f"{name}: NLL {nll.mean():.3f} +- {nll.std() / math.sqrt(len(nll)):.3f}"
        if first is None:
            first = (name, nll)
        else:
            diff = nll - first[1]
            text += (
                f"; minus {first[0]}'s: {diff.mean():+.3f} +- {diff.std() / math.sqrt(len(diff)):.3f} nats, "
                f"lower on {(diff < 0).sum().item()} of {len(diff)} pairs"
            )
        print(text, flush=True)


def renormalised_nll(
    posterior: Posterior, task: Task, theta: torch.Tensor, x: torch.Tensor, mass_draws: int
) -> torch.Tensor:
    """-log q(theta_i | x_i) per pair (float64), plus the log of the fit's mass inside the prior's support at
    each x_i from ``mass_draws`` of its samples (nothing where the support is all of R^D or ``mass_draws`` is
    0)."""
    nll = pairwise_nll(posterior, theta, x).double()
    far = torch.full((2, task.theta_dim), 1e6) * torch.tensor([[1.0], [-1.0]])
    if mass_draws == 0 or within_support(task.prior, far).all():
        return nll
    with torch.no_grad():
        mass = torch.stack(
            [within_support(task.prior, posterior.sample(mass_draws, xi)).double().mean() for xi in x]
        )
    return nll + mass.clamp_min(1.0 / mass_draws).log()


if __name__ == "__main__":
    main()
