"""How much of an fmpe fit's error is variance between networks: vector fields averaged over init seeds.

A study, not a setting of the method. It trains ``--networks`` K vector fields with one fmpe
configuration on one task's training simulations: the same train/validation split (drawn after seeding
torch with ``--seed``, as a fit does) and weights started from seeds 101, ..., 100 + K. Each network is
saved to ``--net-dir``, named by task, budget, seed and the settings' hash; a rerun skips the ones already
there, so ``--only`` lets two processes share the members. It then scores on held-out simulations (the
set ``studies/select_fmpe.py`` uses) the NLL of each network alone and of the field averaged over the
first k networks, k = 2..K. The averaged field :math:`\\bar v = \\frac1K \\sum_k v_k` is itself a vector
field, so it samples and has a density through the same ODEs. If the averaged field's NLL is far below
every member's, much of a single fit's error is variance between networks rather than a bias they share.

``--c2st-observations`` also reads the C2ST of the first network alone and of the K-average on those
observations: a reading of the result, never a way of choosing K or any setting. Usage (slcp at 1e4,
the GLU, alpha 4 network its 1e4 fit keeps)::

    python studies/fmpe_ensemble.py --task slcp --budget 1e4 --set fmpe.conditioning=glu \\
        --set fmpe.time_prior_exponent=4 --networks 8 --net-dir /tmp/fmpe_ens --only 1 2 3 4   # and 5 6 7 8
    python studies/fmpe_ensemble.py --task slcp --budget 1e4 --set fmpe.conditioning=glu \\
        --set fmpe.time_prior_exponent=4 --networks 8 --net-dir /tmp/fmpe_ens --threads 2 \\
        --c2st-observations 1-10 --out studies/results/fmpe_ensemble_1e4_slcp.csv
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from fmbench.cli.arguments import parse_budget, parse_observations, parse_setting, settings_by_method
from fmbench.fmpe.config import Candidate
from fmbench.fmpe.method import FlowPosterior, Fmpe, validation_nll
from fmbench.fmpe.network import VectorField
from fmbench.fmpe.train import Standardizer, split_indices
from fmbench.method import FitContext
from fmbench.registry import get_method, get_task
from fmbench.run.evaluation import evaluate
from fmbench.run.simulations import SELECTION_SEED, SimulationCache

#: Network k starts from this seed plus k.
INIT_SEED = 100


class AveragedField(nn.Module):
    """The mean of several vector fields' velocities, usable wherever one :class:`VectorField` is."""

    def __init__(self, nets: list[VectorField]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.theta_dim, self.x_dim = nets[0].theta_dim, nets[0].x_dim

    def forward(self, t: Tensor, theta: Tensor, x: Tensor) -> Tensor:
        return torch.stack([net(t, theta, x) for net in self.nets]).mean(dim=0)


def _posterior(net: nn.Module, like: FlowPosterior) -> FlowPosterior:
    """``net`` with the z-scoring, path and solvers of ``like``."""
    return FlowPosterior(
        net,  # type: ignore[arg-type]  # an AveragedField is used like a VectorField
        like.path,
        like.theta_scale,
        like.x_scale,
        like.sample_ode,
        like.log_prob_ode,
        like.divergence,
        epochs=0,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="slcp")
    parser.add_argument("--budget", type=parse_budget, default=10_000)
    parser.add_argument("--seed", type=int, default=1, help="seed of the training simulations and split")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="fmpe.NAME=VALUE")
    parser.add_argument("--networks", type=int, default=8, help="K, the networks averaged")
    parser.add_argument("--only", type=int, nargs="+", help="fit only these networks (1..K), then stop")
    parser.add_argument(
        "--net-dir", type=Path, required=True, help="where the networks are kept (named by task and settings)"
    )
    parser.add_argument("--sim-cache", type=Path, default=Path("results/fmpe_grid/simulations"))
    parser.add_argument("--heldout-seed", type=int, default=SELECTION_SEED)
    parser.add_argument("--nll-pairs", type=int, default=1000, help="held-out pairs of the NLL")
    parser.add_argument("--c2st-observations", type=parse_observations, default=())
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="CSV of the scores")
    args = parser.parse_args(argv)
    settings_of = settings_by_method(args.set)
    if set(settings_of) - {"fmpe"}:
        parser.error("--set takes fmpe settings: fmpe.NAME=VALUE")
    settings = settings_of.get("fmpe", {})
    if args.networks < 1 or any(not 1 <= k <= args.networks for k in args.only or []):
        parser.error(f"--networks must be positive and --only within 1..{args.networks}")
    torch.set_num_threads(args.threads)

    task = get_task(args.task)
    method = get_method("fmpe", settings)
    assert isinstance(method, Fmpe)
    candidates = method.config.candidates(args.budget, task.x_dim)
    if len(candidates) != 1:
        parser.error(f"--set one value of each selectable setting; these settings give {list(candidates)}")
    config: Candidate = next(iter(candidates.values()))
    cache = SimulationCache(args.sim_cache)
    sims = cache.get(task, args.seed, args.budget)
    theta, x = sims.theta.float(), sims.x.float()
    theta_scale, x_scale = Standardizer.fit(theta), Standardizer.fit(x)
    torch.manual_seed(args.seed)
    split = split_indices(theta.shape[0], config.train.validation_fraction, torch.device("cpu"))

    args.net_dir.mkdir(parents=True, exist_ok=True)
    fits: dict[int, FlowPosterior] = {}
    stem = f"{args.task}_budget{args.budget}_seed{args.seed}_{method.config.hash(args.budget)}"
    context = FitContext(args.budget, args.seed)
    for k in args.only or range(1, args.networks + 1):
        path = args.net_dir / f"{stem}_network{k}.pt"
        if path.exists():
            fits[k] = torch.load(path, weights_only=False)  # our own file
            continue
        torch.manual_seed(INIT_SEED + k)
        fits[k] = Fmpe.fit_candidates([config], theta, x, theta_scale, x_scale, split, context)[0]
        torch.save(fits[k], path)
        print(f"network {k}: {fits[k].cost.epochs} epochs", flush=True)
    if args.only:
        return

    held = cache.get(task, args.heldout_seed, max(args.nll_pairs, 5_000))
    theta_h, x_h = held.theta[: args.nll_pairs].float(), held.x[: args.nll_pairs].float()
    nets = [fits[k].net for k in range(1, args.networks + 1)]
    rows = []
    for k in range(1, args.networks + 1):
        nll = validation_nll(fits[k], theta_h, x_h)
        rows.append({"networks": 1, "members": str(k), "heldout_nll": nll})
        print(f"network {k} alone: held-out NLL {nll:.3f}", flush=True)
    for k in range(2, args.networks + 1):
        nll = validation_nll(_posterior(AveragedField(nets[:k]), fits[1]), theta_h, x_h)
        rows.append({"networks": k, "members": f"1-{k}", "heldout_nll": nll})
        print(f"average of networks 1-{k}: held-out NLL {nll:.3f}", flush=True)

    if args.c2st_observations:
        averaged = _posterior(AveragedField(nets), fits[1])
        for label, posterior, row in (("1", fits[1], rows[0]), (f"1-{args.networks}", averaged, rows[-1])):
            scores = [
                evaluate(task, posterior, i, 10_000, "torch", "cpu").c2st for i in args.c2st_observations
            ]
            row["c2st_mean"] = statistics.fmean(scores)
            row["c2st_per_observation"] = " ".join(f"{s:.4f}" for s in scores)
            print(f"C2ST of networks {label}: {row['c2st_mean']:.3f} ({row['c2st_per_observation']})")
    if args.out:
        table = pd.DataFrame(rows)
        table.insert(0, "settings", " ".join(f"{name}={value}" for name, value in settings.items()))
        table.insert(0, "seed", args.seed)
        table.insert(0, "budget", args.budget)
        table.insert(0, "task", args.task)
        table.to_csv(args.out, index=False, float_format="%.6f")


if __name__ == "__main__":
    main()
