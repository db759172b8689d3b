"""Where a fitted posterior departs from the reference: per-parameter means and standard deviations.

A diagnosis of a fit the runner already made (``OUT/cells/TASK/METHOD/*.fit.pt``), for reading a C2ST
that disagrees with a published value; never a way of choosing settings (that is done on held-out
simulations, ``studies/select_fmpe.py``). For each observation it draws 10,000 samples, drops those
outside the prior as the runner does, and prints the reference's and the fit's per-parameter mean and
standard deviation, plus the share of samples in each sign quadrant of two chosen parameters (slcp's
posterior has four modes, one per sign pattern of its parameters 3 and 4). Usage::

    python studies/compare_marginals.py results/fmpe_grid/cells/slcp/fmpe/budget10000_seed1_*.fit.pt \
        --task slcp --observations 1 2 --quadrants 3 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fmbench.registry import get_task
from fmbench.run.support import within_support


def _row(label: str, values: torch.Tensor) -> str:
    return f"  {label:<14s}" + " ".join(f"{v:8.3f}" for v in values.tolist())


def _quadrant_shares(samples: torch.Tensor, i: int, j: int) -> list[float]:
    code = (samples[:, i] > 0).long() * 2 + (samples[:, j] > 0).long()
    return (torch.bincount(code, minlength=4).float() / samples.shape[0]).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit", type=Path, help="a .fit.pt file written by the runner")
    parser.add_argument("--task", required=True)
    parser.add_argument("--observations", type=int, nargs="+", default=[1])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument(
        "--quadrants", type=int, nargs=2, metavar=("I", "J"), help="1-based parameters whose signs to tally"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    posterior = torch.load(args.fit, weights_only=False).posterior
    for obs in args.observations:
        reference = task.reference_samples(obs)[: args.samples]
        torch.manual_seed(args.seed)
        samples = posterior.sample(args.samples, task.observation(obs).reshape(-1))
        samples = samples[within_support(task.prior, samples)]
        print(f"observation {obs} ({samples.shape[0]} of {args.samples} samples inside the prior)")
        print(" " * 16 + " ".join(f"{i:8d}" for i in range(1, reference.shape[1] + 1)))
        print(_row("reference mean", reference.mean(0)))
        print(_row("fit mean", samples.mean(0)))
        print(_row("reference std", reference.std(0)))
        print(_row("fit std", samples.std(0)))
        if args.quadrants:
            i, j = (k - 1 for k in args.quadrants)
            for label, s in (("reference", reference), ("fit", samples)):
                shares = " ".join(f"{v:.3f}" for v in _quadrant_shares(s, i, j))
                print(f"  {label} shares of sign quadrants (--, -+, +-, ++) of {args.quadrants}: {shares}")


if __name__ == "__main__":
    main()
