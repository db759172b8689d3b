"""Side by side: fmpe and sbi_fmpe fitted on the same simulations, timed drawing posterior samples.

Fits both methods on the first BUDGET simulations of the runner's cache (task, seed 1), then for each
draws NUM samples given observation 1 (best of REPEATS, no support rejection, so only the sampler is
timed), reports network passes per sample and the C2ST (torch backend) of the samples against sbibm's
reference, and prints the speed ratio. It also measures fmpe's solver error without any reference
posterior: the same base draws are transported by the default solver and by dopri5 at the paper's
atol = rtol = 1e-7, and the RMS difference (in posterior standard deviations) and the C2ST between the
two sample sets are printed. Usage::

    python scripts/bench_fmpe_sampling.py --task two_moons --budget 1000 --threads 2 \
        [--solver midpoint --steps 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from fmbench.fmpe.method import FlowPosterior
from fmbench.fmpe.ode import OdeSettings
from fmbench.method import FitContext
from fmbench.metrics import c2st
from fmbench.registry import get_method, get_task
from fmbench.run.simulations import SimulationCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="two_moons")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--num", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--solver", default=None, help="fmpe's sampling solver (default: the method's)")
    parser.add_argument("--steps", type=int, default=None, help="steps of a fixed-step fmpe solver")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    sims = SimulationCache(tempfile.mkdtemp()).get(task, seed=1, budget=args.budget)
    x_o, reference = task.observation(1), task.reference_samples(1)
    times = {}
    overrides = {k: v for k, v in (("solver", args.solver), ("steps", args.steps)) if v is not None}
    for name in ("fmpe", "sbi_fmpe"):
        torch.manual_seed(1)
        start = time.perf_counter()
        posterior = get_method(name, overrides if name == "fmpe" else None).fit(
            sims.theta, sims.x, task.prior, FitContext(budget=args.budget, seed=1)
        )
        fit_s = time.perf_counter() - start
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            samples = posterior.sample(args.num, x_o)
            best = min(best, time.perf_counter() - start)
        n = min(len(reference), len(samples))
        score = c2st(reference[:n], samples[:n], backend="torch")
        times[name] = best
        print(
            f"{name:<9} fit {fit_s:7.1f} s  sample {args.num} in {best:6.2f} s (best of {args.repeats})  "
            f"passes/sample {posterior.passes_per_sample}  C2ST obs 1 {score:.3f}"
        )
        if isinstance(posterior, FlowPosterior):
            solver_error(posterior, x_o, args.num)
    print(
        f"sampling speed-up fmpe vs sbi_fmpe: {times['sbi_fmpe'] / times['fmpe']:.1f}x "
        f"({args.task}, budget {args.budget}, {args.threads} threads)"
    )


def solver_error(posterior: FlowPosterior, x_o: torch.Tensor, num: int) -> None:
    """Default solver against dopri5 at 1e-7 on the same base draws (no reference posterior involved)."""
    default = posterior.sample_ode

    def draw(settings: OdeSettings) -> torch.Tensor:
        posterior.sample_ode = settings
        torch.manual_seed(7)  # the same theta_0 for both solvers
        return posterior.sample(num, x_o)

    ours = draw(default)
    tight = draw(OdeSettings("dopri5", default.steps, 1e-7, 1e-7))
    posterior.sample_ode = default
    rms = float(((ours - tight) / tight.std(dim=0)).pow(2).mean().sqrt())
    print(
        f"          solver error of {_describe(default)} vs dopri5 1e-7: "
        f"RMS {rms:.4f} posterior std, C2ST between the two {c2st(tight, ours, backend='torch'):.3f}"
    )


def _describe(settings: OdeSettings) -> str:
    if settings.solver == "dopri5":
        return f"dopri5 atol {settings.atol:g} rtol {settings.rtol:g}"
    return f"{settings.solver} {settings.steps} steps"


if __name__ == "__main__":
    main()
