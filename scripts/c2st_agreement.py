"""Agreement of the torch C2ST backend with the sklearn reference on a panel of sample pairs.

DESIGN.md requires any faster C2ST to be shown to agree with sbibm's sklearn classifier before its
numbers are published. This script runs both backends through :func:`fmbench.metrics.c2st` on:

- Gaussian pairs in 2, 3, 5, 10 and 100 dimensions: the same distribution, a slight shift, and a clearly
  different distribution;
- sbibm reference posteriors (observation 1): a perturbed copy (the first half of the samples against
  the second half scaled by 1.1 about the mean) and the reference posterior of observation 2;
- real posterior samples from the runner: 10,000 samples of a posterior the runner fitted (its saved
  ``.fit.pt`` under ``--runs``, default ``results/fmpe_grid``) given observation 1, drawn inside the
  prior's support as the runner does, against sbibm's reference samples. A fit that is not there is
  skipped with a note (``fmbench run`` on that grid writes it).

Sample sizes: ``--n`` per side (default 10,000) everywhere except the 100-dimensional pairs, which use
``--n-100d`` per side (default 2,000; sklearn needs hours for 100-D pairs at 10,000), and the perturbed
sbibm copies, which have 5,000 per side (the halves of the 10,000 reference samples).

Acceptance: mean |diff| <= 0.01 and max |diff| <= 0.03. Rows are appended to the CSV as they finish,
and pairs already in the CSV are skipped, so an interrupted run resumes and new pairs are added without
re-running the old ones (``--fresh`` starts over); ``--summary-only`` prints the table and summary.

Usage:
    nice python scripts/c2st_agreement.py --out results/c2st_agreement.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

FIELDS = ["pair", "kind", "dim", "n_per_side", "sklearn", "torch", "abs_diff", "sklearn_s", "torch_s"]
MEAN_TOLERANCE, MAX_TOLERANCE = 0.01, 0.03
SBIBM_PANEL = [
    "two_moons",
    "gaussian_mixture",
    "sir",
    "lotka_volterra",
    "slcp",
    "gaussian_linear",
    "bernoulli_glm",
    "gaussian_linear_uniform",
]


#: Runner fits whose samples enter the panel: (task, method, budget), seed 1, observation 1.
RUNNER_PANEL = [
    ("two_moons", "npe_nsf", 1000),
    ("two_moons", "fmpe", 1000),
    ("two_moons", "sbi_fmpe", 1000),
    ("gaussian_mixture", "npe_nsf", 1000),
    ("slcp", "npe_nsf", 1000),
    ("slcp", "sbi_fmpe", 10000),
    ("gaussian_linear", "npe_nsf", 1000),
    ("bernoulli_glm", "npe_nsf", 1000),
]


@dataclass(frozen=True)
class Pair:
    """One panel entry: a name, a kind and a function drawing ``(reference, samples)``."""

    name: str
    kind: str
    draw: Callable[[], tuple[Tensor, Tensor]]


def _gaussian(dim: int, n: int, shift: float, scale: float, seed: int) -> Callable[[], tuple[Tensor, Tensor]]:
    def draw() -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed)
        reference = torch.randn(n, dim, generator=g)
        samples = torch.randn(n, dim, generator=g) * scale + shift / dim**0.5
        return reference, samples

    return draw


def _perturbed(task: str) -> Callable[[], tuple[Tensor, Tensor]]:
    def draw() -> tuple[Tensor, Tensor]:
        from fmbench.tasks.sbibm_files import reference_samples

        ref = reference_samples(task, 1)
        half = ref.shape[0] // 2
        other = ref[half:]
        return ref[:half], other.mean(0) + 1.1 * (other - other.mean(0))

    return draw


def _other_observation(task: str) -> Callable[[], tuple[Tensor, Tensor]]:
    def draw() -> tuple[Tensor, Tensor]:
        from fmbench.tasks.sbibm_files import reference_samples

        return reference_samples(task, 1), reference_samples(task, 2)

    return draw


def _runner_fit(runs: Path, task: str, method: str, budget: int) -> Path | None:
    """The saved fit of seed 1 of ``(task, method, budget)`` under ``runs``, if the runner left one."""
    fits = sorted((runs / "cells" / task / method).glob(f"budget{budget}_seed1_*.fit.pt"))
    return fits[-1] if fits else None


def _runner_samples(fit_path: Path, task_name: str, n: int) -> Callable[[], tuple[Tensor, Tensor]]:
    def draw() -> tuple[Tensor, Tensor]:
        from fmbench.registry import get_task
        from fmbench.run.support import sample_within_prior

        task = get_task(task_name)
        fit = torch.load(fit_path, weights_only=False)  # our own file, written by the runner
        torch.manual_seed(1001)
        drawn = sample_within_prior(fit.posterior, task.prior, n, task.observation(1))
        return task.reference_samples(1)[:n], drawn.samples

    return draw


def runner_pairs(runs: Path, n: int) -> Iterator[Pair]:
    """Runner posteriors against the reference, for each entry of RUNNER_PANEL that has a saved fit."""
    for task, method, budget in RUNNER_PANEL:
        path = _runner_fit(runs, task, method, budget)
        if path is None:
            print(f"skipped {task} {method} {budget}: no fit under {runs} (run the grid first)")
            continue
        yield Pair(f"{task}_{method}_{budget}_runner", "runner_posterior", _runner_samples(path, task, n))


def panel(n: int, n_100d: int, runs: Path) -> Iterator[Pair]:
    """The panel, cheap pairs first; the shift is a total mean displacement (spread over the dims)."""
    kinds = {"same": (0.0, 1.0), "slight": (0.15, 1.0), "different": (1.5, 1.3)}

    def gaussians(dim: int, size: int) -> Iterator[Pair]:
        for kind, (shift, scale) in kinds.items():
            yield Pair(f"gauss{dim}d_{kind}", kind, _gaussian(dim, size, shift, scale, seed=dim))

    def posteriors(tasks: list[str]) -> Iterator[Pair]:
        for task in tasks:
            yield Pair(f"{task}_perturbed", "posterior_perturbed", _perturbed(task))
            yield Pair(f"{task}_obs1_vs_obs2", "posterior_other_obs", _other_observation(task))

    for dim in (2, 3, 5):
        yield from gaussians(dim, n)
    yield from posteriors(SBIBM_PANEL[:5])
    yield from gaussians(10, n)
    yield from posteriors(SBIBM_PANEL[5:])
    yield from gaussians(100, n_100d)
    yield from runner_pairs(runs, n)


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run_pair(pair: Pair) -> dict[str, object]:
    """Both backends on one pair (sklearn with one BLAS thread, torch with one thread)."""
    from threadpoolctl import threadpool_limits

    from fmbench.metrics import c2st

    reference, samples = pair.draw()
    with threadpool_limits(limits=1):
        sk, sk_s = _timed(lambda: c2st(reference, samples, backend="sklearn"))
    to, to_s = _timed(lambda: c2st(reference, samples, backend="torch"))
    return {
        "pair": pair.name,
        "kind": pair.kind,
        "dim": reference.shape[1],
        "n_per_side": reference.shape[0],
        "sklearn": f"{sk:.4f}",
        "torch": f"{to:.4f}",
        "abs_diff": f"{abs(sk - to):.4f}",
        "sklearn_s": f"{sk_s:.1f}",
        "torch_s": f"{to_s:.1f}",
    }


def summarize(rows: list[dict[str, str]]) -> str:
    """The per-pair table and the acceptance summary."""
    lines = [
        f"{'pair':34s} {'dim':>4s} {'n':>6s} {'sklearn':>8s} {'torch':>8s} {'|diff|':>7s} "
        f"{'sk s':>7s} {'to s':>7s}"
    ]
    for r in rows:
        lines.append(
            f"{r['pair']:34s} {r['dim']:>4s} {r['n_per_side']:>6s} {r['sklearn']:>8s} {r['torch']:>8s} "
            f"{r['abs_diff']:>7s} {r['sklearn_s']:>7s} {r['torch_s']:>7s}"
        )
    if not rows:
        return "\n".join(lines + ["no pairs yet"])
    diffs = [float(r["abs_diff"]) for r in rows]
    mean, worst = sum(diffs) / len(diffs), max(diffs)
    sk_time = sum(float(r["sklearn_s"]) for r in rows)
    to_time = sum(float(r["torch_s"]) for r in rows)
    ok = mean <= MEAN_TOLERANCE and worst <= MAX_TOLERANCE
    lines.append(
        f"pairs {len(rows)}  mean |diff| {mean:.4f} (<= {MEAN_TOLERANCE})  max |diff| {worst:.4f} "
        f"(<= {MAX_TOLERANCE})  -> {'PASS' if ok else 'FAIL'}; "
        f"time sklearn {sk_time:.0f} s, torch {to_time:.0f} s"
    )
    return "\n".join(lines)


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/c2st_agreement.csv"))
    parser.add_argument("--n", type=int, default=10_000, help="samples per side (not the 100-D pairs)")
    parser.add_argument("--n-100d", type=int, default=2_000, help="samples per side of the 100-D pairs")
    parser.add_argument("--only", default="", help="comma-separated substrings of pair names to run")
    parser.add_argument("--runs", type=Path, default=Path("results/fmpe_grid"), help="runner output")
    parser.add_argument("--fresh", action="store_true", help="start a new CSV instead of resuming")
    parser.add_argument("--summary-only", action="store_true", help="print the CSV's table and summary")
    args = parser.parse_args()
    if args.summary_only:
        print(summarize(_read(args.out)))
        return
    torch.set_num_threads(1)
    os.makedirs(args.out.parent, exist_ok=True)
    if args.fresh or not args.out.exists():
        with args.out.open("w", newline="") as f:
            csv.DictWriter(f, FIELDS).writeheader()
    done = {r["pair"] for r in _read(args.out)}
    wanted = [s for s in args.only.split(",") if s]
    for pair in panel(args.n, args.n_100d, args.runs):
        if pair.name in done or (wanted and not any(w in pair.name for w in wanted)):
            continue
        row = run_pair(pair)
        with args.out.open("a", newline="") as f:
            csv.DictWriter(f, FIELDS).writerow(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print(summarize(_read(args.out)))


if __name__ == "__main__":
    main()
