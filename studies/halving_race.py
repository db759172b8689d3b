"""What a successive-halving race sees: each candidate's likelihood as training goes on, at checkpoints.

A diagnosis, not a setting. It trains the candidates of one fmpe fit (the tier's, or as ``--set`` says) on
one task's training simulations exactly as a fit sets them up (torch seeded with ``--seed``, the fit's own
95/5 split, the candidates that differ only in the time prior trained together), but every candidate to its
early stopping, pausing at ``--checkpoints`` epochs. At each checkpoint and at the end it prints every
candidate's NLL on the fit's validation split (what ``halving_epochs`` races on) and on ``--nll-pairs``
held-out pairs (seed 2,000,001, as ``studies/select_fmpe.py``), each of the weights of its best validation
epoch so far. A race is sound where the early ranking on the validation NLL is the final one.

    python studies/halving_race.py --task two_moons --budget 1e3 --checkpoints 20 40 80 160 \\
        --out studies/results/halving_race_1e3_two_moons.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from fmbench.cli.arguments import parse_budget, parse_setting, settings_by_method
from fmbench.fmpe.method import FlowPosterior, validation_nll
from fmbench.fmpe.network import VectorField
from fmbench.fmpe.train import Standardizer, TrainingGroup, split_indices
from fmbench.registry import get_method, get_task
from fmbench.run.simulations import SELECTION_SEED, SimulationCache

FIELDS = ["task", "budget", "seed", "candidate", "epoch", "trained_epochs", "val_nll", "heldout_nll"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="two_moons")
    parser.add_argument("--budget", type=parse_budget, default=1_000)
    parser.add_argument("--seed", type=int, default=1, help="seed of the training simulations and the fit")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[20, 40, 80, 160])
    parser.add_argument("--heldout", type=parse_budget, default=5_000, help="held-out simulations drawn")
    parser.add_argument("--nll-pairs", type=int, default=1000, help="held-out pairs of the NLL (the first)")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="fmpe.NAME=VALUE")
    parser.add_argument("--sim-cache", type=Path, default=Path("results/fmpe_grid/simulations"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="CSV to append the rows to")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    cache = SimulationCache(args.sim_cache)
    sims = cache.get(task, args.seed, args.budget)
    held = cache.get(task, SELECTION_SEED, args.heldout)
    method = get_method("fmpe", settings_by_method(args.set).get("fmpe", {}))
    candidates = method.config.candidates(args.budget, task.x_dim)  # type: ignore[attr-defined]
    theta, x = sims.theta.float(), sims.x.float()
    theta_scale, x_scale = Standardizer.fit(theta), Standardizer.fit(x)
    torch.manual_seed(args.seed)  # as a fit: the split first, then the networks in the candidates' order
    split = split_indices(theta.shape[0], method.config.validation_fraction, theta.device)  # type: ignore[attr-defined]
    labels, chosen = list(candidates), list(candidates.values())
    nets = [
        VectorField(theta.shape[1], x.shape[1], c.hidden_features, c.conditioning, c.activation, c.dropout)
        for c in chosen
    ]
    groups: dict[tuple[object, ...], list[int]] = {}  # trained together: the same but for the time prior
    for i, c in enumerate(chosen):
        groups.setdefault((c.train.batch_size, c.conditioning), []).append(i)
    training = [
        (
            TrainingGroup(
                [nets[i] for i in members],
                chosen[members[0]].path,
                theta_scale(theta),
                x_scale(x),
                [chosen[i].train for i in members],
                split,
            ),
            members,
        )
        for members in groups.values()
    ]
    theta_h, x_h = held.theta[: args.nll_pairs].float(), held.x[: args.nll_pairs].float()
    rows = []
    for until in [*args.checkpoints, None]:
        for group, members in training:
            group.run(until)
            for k, i in enumerate(members):
                c = chosen[i]
                trained = group.trained_epochs(k)
                posterior = FlowPosterior(
                    group.best_net(k),
                    c.path,
                    theta_scale,
                    x_scale,
                    c.sample_ode,
                    c.log_prob_ode,
                    c.divergence,
                    epochs=trained,
                )
                row = {
                    "task": args.task,
                    "budget": args.budget,
                    "seed": args.seed,
                    "candidate": labels[i],
                    "epoch": until if until is not None else "end",
                    "trained_epochs": trained,
                    "val_nll": f"{validation_nll(posterior, theta[split[1]], x[split[1]]):.4f}",
                    "heldout_nll": f"{validation_nll(posterior, theta_h, x_h):.4f}",
                }
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.out:
        new = not args.out.exists()
        with args.out.open("a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            if new:
                writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
