"""Checks that fmbench's Julia-free sir and lotka_volterra simulators are the ones sbibm's references used.

Four checks, per task:

1. Solver accuracy: the fast batched solve against an independent scipy DOP853 solve at ``rtol = 1e-12``
   (:mod:`fmbench.tasks.ode_reference`), on prior draws and the 10 true parameters: max relative error
   of the noise-free solution at the summary points (entries above 1e-12).
2. sbibm's observations regenerated from sbibm's stored observation seeds (sbibm seeded torch, drew the
   true parameters from the prior, then simulated): max relative difference to the stored observation.
3. For all 10 observations, the log-likelihood of ``x_o`` at 1,000 reference posterior samples against
   1,000 prior samples.
4. For observations 1-3, posterior samples computed from our likelihood and the prior alone
   (:mod:`fmbench.tasks.likelihood_posterior`, no learned model) against sbibm's 10,000 reference
   samples: C2ST (sbibm convention), where 0.5 means indistinguishable.

Usage::

    nice python scripts/check_julia_free.py [--draws 200] [--c2st-observations 1 2 3]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from fmbench.metrics import c2st
from fmbench.registry import get_task
from fmbench.tasks import sbibm_files
from fmbench.tasks.julia_free import StoredSbibmTask
from fmbench.tasks.likelihood_posterior import sample_posterior
from fmbench.tasks.ode_reference import reference_solve

NAMES = ("sir", "lotka_volterra")


def check_accuracy(task: StoredSbibmTask, draws: int) -> None:
    """Check 1: max relative error of the solution against the scipy reference."""
    torch.manual_seed(0)
    theta = torch.cat([task.prior.sample((draws,))] + [task.true_parameters(i)[None] for i in range(1, 11)])
    ours, ref = task.solve(theta).y, reference_solve(task.name, theta)
    error = ((ours / ref - 1).abs() * (ref > 1e-12)).amax(dim=(1, 2))
    print(
        f"  1. solution vs scipy DOP853 rtol 1e-12, {len(theta)} parameters: max rel error "
        f"{error.max():.2e} (median {error.median():.2e})"
    )


def check_observations(task: StoredSbibmTask) -> None:
    """Check 2: sbibm's observations regenerated from its seeds, and how typical they are at theta_true."""
    diffs, p_values = [], []
    for i in range(1, 11):
        seed = pd.read_csv(sbibm_files.task_files(task.name, i) / "observation_seed.csv")["observation_seed"]
        torch.manual_seed(int(seed[0]))
        theta = task.prior.sample((1,))
        x, x_o = task.simulate(theta)[0], task.observation(i)
        diffs.append(float(((x - x_o).abs() / x_o.abs().clamp_min(1.0)).max()))
        sims = task.simulate(theta.expand(2000, -1))
        ll_sims = task.noise(task.noise_free(theta).expand(2000, -1)).log_prob(sims)
        p_values.append(float((ll_sims <= task.log_likelihood(theta, x_o)).double().mean()))
    print("  2. observations 1-10 regenerated from sbibm's seeds, max |x - x_o| / max(|x_o|, 1):")
    print("     " + " ".join(f"{d:.1e}" for d in diffs))
    print("     P(log p(x | theta_o) <= log p(x_o | theta_o)), x simulated at the true parameters:")
    print("     " + " ".join(f"{p:.2f}" for p in p_values))


def check_likelihood(task: StoredSbibmTask) -> None:
    """Check 3: log-likelihood of x_o at reference samples against prior samples."""
    print("  3. log p(x_o | theta) at 1000 reference samples [5%, median] and 1000 prior samples [median,")
    print("     max]; frac = prior samples above the reference 5% quantile; ok: medians differ by > 100")
    torch.manual_seed(1)
    prior = task.prior.sample((1000,))
    for i in range(1, 11):
        x_o = task.observation(i)
        at_ref = task.log_likelihood(task.reference_samples(i)[:1000], x_o)
        at_prior = task.log_likelihood(prior, x_o)
        r5, r50 = torch.quantile(at_ref, torch.tensor([0.05, 0.5])).tolist()
        p50, p_max = float(at_prior.median()), float(at_prior.max())
        frac = float((at_prior > r5).double().mean())
        print(
            f"     obs {i:2d}: reference [{r5:7.1f}, {r50:7.1f}]  prior [{p50:9.1f}, {p_max:7.1f}]  "
            f"frac {frac:.3f}  ok={r50 - p50 > 100}"
        )


def check_c2st(task: StoredSbibmTask, observations: list[int]) -> None:
    """Check 4: C2ST of likelihood-only posterior samples against sbibm's references."""
    loc, scale = task.prior.base_dist.loc, task.prior.base_dist.scale
    for i in observations:
        start = time.perf_counter()
        x_o = task.observation(i)
        result = sample_posterior(lambda theta, x_o=x_o: task.log_likelihood(theta, x_o), loc, scale, seed=i)
        score = c2st(task.reference_samples(i), result.samples)
        print(
            f"  4. obs {i}: C2ST {score:.4f}  ({result.stages} tempering stages, final ESS "
            f"{result.final_ess:.2f}, acceptance {result.acceptance:.2f}, "
            f"{result.likelihood_calls} likelihood calls, {time.perf_counter() - start:.0f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200, help="prior draws for the accuracy check")
    parser.add_argument("--c2st-observations", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--tasks", nargs="*", default=list(NAMES), choices=NAMES)
    args = parser.parse_args()
    print(f"torch {torch.__version__}")
    for name in args.tasks:
        task = get_task(name)
        print(f"{name}:")
        check_accuracy(task, args.draws)
        check_observations(task)
        check_likelihood(task)
        check_c2st(task, args.c2st_observations)


if __name__ == "__main__":
    main()
