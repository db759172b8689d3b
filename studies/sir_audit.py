"""Issue 44: why npe_nsf on sir scores 0.03-0.05 C2ST worse than Vetter et al. 2025's five-seed NPE.

Each subcommand isolates one part of the chain simulator -> data -> NPE -> samples -> C2ST:

- ``simulate``: the simulations of a (task, seed) from our simulator (fmbench's cache) or, for sir, from
  ``scipy_sir``, a second implementation of sbibm 1.1.0's SIR data path written here (``(S, I, R)``
  solved by scipy's ``solve_ivp`` at Julia's tolerances ``rtol = atol = 1e-8``, saved daily, float32, every
  17th day of ``I``, ``Binomial(1000, clamp(I / N, 0, 1))``) on the same parameter draws.
- ``xcompare``: both implementations for fixed parameters (the true parameters of observations 1-10):
  the noise-free binomial probabilities, and thousands of draws of ``x`` compared per coordinate and jointly.
- ``fit``: fmbench's ``npe_nsf`` (sbi 0.27) trained on a simulations file exactly as ``fmbench run`` does
  (``torch.manual_seed(seed)`` before the fit, ``seed * 1000 + i`` before observation ``i``'s samples,
  outside-prior samples rejected); writes 10,000 samples per observation.
- ``score``: the same samples scored by several C2STs: fmbench's ``torch`` and ``sklearn`` backends
  (sbibm's MLP classifier) and ``sbi_rf``, ``sbi.utils.metrics.c2st`` at its defaults (a random forest),
  the call Vetter et al. made.
- ``same``: whether two samples files hold bit-identical draws.
- ``export``: the observations and simulations as plain tensors for ``studies/sir_audit_sbi.py``, which
  trains NPE as their code did under any sbi version (0.23.3 in a throwaway environment).

Large files (simulations, samples) go under ``--work`` (default ``runs/sir_audit``, not committed); tables go
to ``studies/results/``. Findings and commands: ``studies/NOTES.md``, section "sir fidelity audit".
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fmbench.method import FitContext
from fmbench.metrics import c2st
from fmbench.registry import get_method, get_task
from fmbench.run.simulations import SimulationCache
from fmbench.run.support import sample_within_prior

RESULTS = Path(__file__).resolve().parent / "results"
#: sbibm 1.1.0's SIR constants (``sbibm/tasks/sir/task.py``).
N_POP, I0, DAYS, EVERY, COUNT = 1e6, 1.0, 160, 17, 1000


def scipy_sir_probs(theta: Tensor, rtol: float = 1e-8, atol: float = 1e-8) -> Tensor:
    """sbibm's binomial probabilities ``(N, 10)`` float32 for ``theta`` ``(N, 2)``, via scipy; NaN rows
    where the solve failed (sbibm's NaN for a Julia solve that stopped early)."""
    from scipy.integrate import solve_ivp

    def rhs(t: float, u: np.ndarray, beta: float, gamma: float) -> list[float]:
        s, i, _ = u
        return [-beta * s * i / N_POP, beta * s * i / N_POP - gamma * i, gamma * i]

    days = np.arange(0.0, DAYS + 1.0)
    out = np.full((len(theta), 3, len(days)), np.nan)
    for n, (beta, gamma) in enumerate(theta.double().tolist()):
        sol = solve_ivp(
            rhs, (0.0, DAYS), [N_POP - I0, I0, 0.0], "RK45", t_eval=days, rtol=rtol, atol=atol,
            args=(beta, gamma),
        )  # fmt: skip
        if sol.success and sol.y.shape == (3, len(days)):
            out[n] = sol.y
    us = torch.from_numpy(out).float()  # sbibm: torch.cat(us).float()
    return (us[:, 1, ::EVERY] / N_POP).clamp(0.0, 1.0)


def scipy_sir_simulate(theta: Tensor) -> Tensor:
    """``x`` ``(N, 10)``: binomial draws from torch's global generator, NaN rows where the solve failed."""
    probs = scipy_sir_probs(theta)
    ok = torch.isfinite(probs).all(-1)
    x = torch.full(probs.shape, float("nan"))
    x[ok] = torch.distributions.Binomial(COUNT, probs=probs[ok]).sample()
    return x


def _sims_path(work: Path, task: str, impl: str, seed: int, budget: int) -> Path:
    return work / "sims" / f"{task}_{impl}_seed{seed}_{budget}.pt"


def cmd_simulate(args: argparse.Namespace) -> None:
    task = get_task(args.task)
    sims = SimulationCache(args.work / "simulations").get(task, args.seed, args.budget)
    theta, x = sims.theta, sims.x
    if args.impl == "scipy":
        if args.task != "sir":
            raise SystemExit("the scipy implementation is sir's only")
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        x = scipy_sir_simulate(theta)
        print(f"scipy: {len(theta)} solves in {time.perf_counter() - start:.0f} s")
    valid = torch.isfinite(x).all(-1)
    path = _sims_path(args.work, args.task, args.impl, args.seed, args.budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"theta": theta[valid], "x": x[valid], "budget": args.budget}, path)
    print(f"{path}: {int(valid.sum())} valid of {args.budget} (our cache dropped {sims.num_invalid} before)")
    near_constant = x[valid].std(0)
    print("x std per coordinate:", [round(v, 3) for v in near_constant.tolist()])
    print("rows with x[0] > 0:", int((x[valid][:, 0] > 0).sum()))


def cmd_xcompare(args: argparse.Namespace) -> None:
    """Both implementations at the true parameters of observations 1-10.

    Given theta the 10 coordinates are independent binomials, so the noise-free probabilities define the
    joint law of ``x``: ``TV(Bin(n, p), Bin(n, q)) <= n |p - q|`` and the total variation of the product is
    at most the sum over coordinates (``tv_bound``). Empirically: ``draws`` of ``x`` from each
    implementation, per coordinate a chi-square test of homogeneity (sparse counts pooled), and the share of
    draws that come out identical when both draw from the same generator state (``same_seed_equal``).
    """
    from scipy.stats import chi2_contingency

    task = get_task("sir")
    rows = []
    for i in range(1, 11):
        theta = task.true_parameters(i).reshape(1, 2)
        ours, theirs = task.noise_free(theta), scipy_sir_probs(theta)
        rel = ((ours - theirs).abs() / theirs.clamp_min(1e-30)).max().item()
        torch.manual_seed(i)
        x_ours = task.simulate(theta.expand(args.draws, 2))
        torch.manual_seed(i)
        x_same = torch.distributions.Binomial(COUNT, probs=theirs.expand(args.draws, 10)).sample()
        x_scipy = torch.distributions.Binomial(COUNT, probs=theirs.expand(args.draws, 10)).sample()
        p_values = []
        for k in range(10):
            a, b = x_ours[:, k].long(), x_scipy[:, k].long()
            values = torch.unique(torch.cat([a, b]))
            table = _pool_sparse(np.array([[(s == v).sum().item() for v in values] for s in (a, b)]))
            p_values.append(float(chi2_contingency(table)[1]) if table.shape[1] > 1 else 1.0)
        rows.append(
            {
                "observation": i,
                "max_rel_diff_probs": f"{rel:.2e}",
                "tv_bound": f"{(COUNT * (ours - theirs).abs().sum()).item():.2e}",
                "min_chi2_p": f"{min(p_values):.3f}",
                "coords_p_below_0.01": sum(p < 0.01 for p in p_values),
                "same_seed_equal": f"{(x_ours == x_same).all(-1).float().mean().item():.4f}",
            }
        )
        print(rows[-1], flush=True)
    _write(RESULTS / "sir_audit_x.csv", rows)


def _pool_sparse(table: np.ndarray, min_count: int = 5) -> np.ndarray:
    """Merges adjacent columns until each has at least ``min_count`` in both rows (chi-square validity)."""
    cols, acc = [], np.zeros(2, dtype=int)
    for col in table.T:
        acc = acc + col
        if acc.min() >= min_count:
            cols.append(acc)
            acc = np.zeros(2, dtype=int)
    if acc.sum() and cols:
        cols[-1] = cols[-1] + acc
    elif acc.sum():
        cols.append(acc)
    return np.array(cols).T


def cmd_fit(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    task = get_task(args.task)
    data = torch.load(args.sims)
    theta, x = data["theta"][: args.budget], data["x"][: args.budget]
    overrides = {name: json.loads(value) for name, value in (kv.split("=", 1) for kv in args.set)}
    method = get_method("npe_nsf", overrides)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    posterior = method.fit(theta, x, task.prior, FitContext(budget=args.budget, seed=args.seed))
    fit_s = time.perf_counter() - start
    samples, rejected = {}, {}
    for i in args.observations:
        torch.manual_seed(args.seed * 1000 + i)
        drawn = sample_within_prior(posterior, task.prior, args.num_samples, task.observation(i))
        samples[i], rejected[i] = drawn.samples, drawn.rejected_fraction
    out = args.work / "samples" / f"{args.tag}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"epochs": posterior.cost.epochs, "fit_s": fit_s, "n_train": len(theta), "sims": str(args.sims)}
    torch.save({"task": args.task, "samples": samples, "rejected": rejected, "meta": meta}, out)
    print(f"{out}: {meta}, rejected {max(rejected.values()):.4f} at most")


def sbi_rf_c2st(reference: Tensor, samples: Tensor) -> float:
    """``sbi.utils.metrics.c2st(reference, samples)`` at its defaults, as Vetter et al. called it."""
    from sbi.utils.metrics import c2st as sbi_c2st

    return float(sbi_c2st(reference, samples))


def cmd_score(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    rows = []
    for tag in args.tags:
        data = torch.load(args.work / "samples" / f"{tag}.pt")
        task = get_task(data["task"])
        for i in sorted(data["samples"]):
            if args.observations and i not in args.observations:
                continue
            reference, samples = task.reference_samples(i), data["samples"][i]
            n = min(len(reference), len(samples))
            for backend in args.backends:
                start = time.perf_counter()
                if backend == "sbi_rf":
                    value = sbi_rf_c2st(reference[:n], samples[:n])
                else:
                    value = c2st(reference[:n], samples[:n], backend=backend)
                row = {"tag": tag, "observation": i, "backend": backend, "c2st": f"{value:.5f}"}
                rows.append({**row, "seconds": f"{time.perf_counter() - start:.1f}"})
                print(rows[-1], flush=True)
    _write(args.out, rows, append=True)


def cmd_same(args: argparse.Namespace) -> None:
    """Whether two samples files hold the same draws, observation by observation."""
    a, b = (torch.load(args.work / "samples" / f"{tag}.pt") for tag in (args.a, args.b))
    for i in sorted(a["samples"]):
        x, y = a["samples"][i], b["samples"][i]
        gap = (x - y).abs().max().item() if x.shape == y.shape else float("nan")
        print(f"observation {i}: equal {torch.equal(x, y)}, largest difference {gap:.3g}")
    print(a["meta"], b["meta"], sep="\n")


def cmd_export(args: argparse.Namespace) -> None:
    task = get_task(args.task)
    observations = torch.stack([task.observation(i) for i in range(1, 11)])
    path = args.work / f"observations_{args.task}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"observations": observations, "prior_loc": torch.tensor(task._prior_loc),
                "prior_scale": torch.tensor(task._prior_scale)}, path)  # fmt: skip
    print(path)


def _write(path: Path, rows: list[dict], append: bool = False) -> None:
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not (append and path.exists())
    with path.open("w" if new else "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


def _budget(text: str) -> int:
    return int(float(text))


def _observations(text: str) -> list[int]:
    if "-" in text:
        lo, hi = map(int, text.split("-"))
        return list(range(lo, hi + 1))
    return [int(t) for t in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/sir_audit"))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("simulate")
    p.add_argument("--task", default="sir")
    p.add_argument("--impl", choices=["ours", "scipy"], default="ours")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--budget", type=_budget, default=10_000)
    p.set_defaults(run=cmd_simulate)
    p = sub.add_parser("xcompare")
    p.add_argument("--draws", type=int, default=5000)
    p.set_defaults(run=cmd_xcompare)
    p = sub.add_parser("fit")
    p.add_argument("--task", default="sir")
    p.add_argument("--sims", type=Path, required=True)
    p.add_argument("--budget", type=_budget, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tag", required=True)
    p.add_argument("--observations", type=_observations, default=list(range(1, 11)))
    p.add_argument("--num-samples", type=int, default=10_000)
    p.add_argument("--set", action="append", default=[], help="npe_nsf setting NAME=JSON, e.g. num_bins=4")
    p.set_defaults(run=cmd_fit)
    p = sub.add_parser("score")
    p.add_argument("tags", nargs="+")
    p.add_argument("--backends", nargs="+", default=["torch", "sbi_rf"])
    p.add_argument("--observations", type=_observations, default=None)
    p.add_argument("--out", type=Path, default=RESULTS / "sir_audit_c2st.csv")
    p.set_defaults(run=cmd_score)
    p = sub.add_parser("same")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(run=cmd_same)
    p = sub.add_parser("export")
    p.add_argument("--task", default="sir")
    p.set_defaults(run=cmd_export)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
