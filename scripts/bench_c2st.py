"""Time the torch C2ST backend against the sklearn reference on the 10-D same-distribution case.

Both backends classify 10,000 reference against 10,000 samples of N(0, I_10) (sbibm convention, seed 1)
through :func:`fmbench.metrics.c2st`. Each backend gets one CPU thread: torch by the backend's default
``num_threads=1``, sklearn's BLAS through threadpoolctl (``--threads`` changes sklearn's). On a machine
shared with other jobs one thread is the fastest setting for both; with more threads than free cores both
slow down by orders of magnitude. The load average is printed because the times depend on it.

Usage:
    nice python scripts/bench_c2st.py [--device cuda] [--threads 2] [--n 10000] [--dim 10]
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per side")
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads of the sklearn backend")
    parser.add_argument("--device", default="cpu", help="device of the torch backend")
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from fmbench.metrics import c2st

    g = torch.Generator().manual_seed(0)
    reference, samples = (
        torch.randn(args.n, args.dim, generator=g),
        torch.randn(args.n, args.dim, generator=g),
    )
    print(
        f"{args.n} vs {args.n} samples, dim {args.dim}, threads {args.threads}, cores {os.cpu_count()}, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    start = time.perf_counter()
    value = c2st(reference, samples, backend="torch", device=args.device)
    torch_s = time.perf_counter() - start
    print(f"torch   ({args.device}): c2st {value:.4f}  {torch_s:8.1f} s")
    if args.skip_sklearn:
        return
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        reference_value = c2st(reference, samples, backend="sklearn")
    sklearn_s = time.perf_counter() - start
    print(f"sklearn (cpu): c2st {reference_value:.4f}  {sklearn_s:8.1f} s")
    print(
        f"speed-up torch / sklearn: {sklearn_s / torch_s:.1f}x   |diff| {abs(value - reference_value):.4f}   "
        f"load average at end {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
