"""How much one C2ST slows down when a second one runs beside it on the other core.

Runs the protocol's torch C2ST (one torch thread) on two 10-dimensional Gaussian samples, first alone, then
two copies at once in two processes, and prints the wall times and the slowdown. A slowdown well above 1
means the cores share a bottleneck (memory bandwidth, cache) and no scheduler can reach a speed-up of 2 on
C2ST-bound work:

    python scripts/bench_contention.py               # 10,000 samples per side, as in the protocol
    python scripts/bench_contention.py --dim 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import time


def one_c2st(dim: int, n: int) -> float:
    """Wall seconds of one torch C2ST of ``n`` against ``n`` samples in ``dim`` dimensions."""
    import torch

    from fmbench.metrics import c2st

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, dim, generator=generator)
    y = torch.randn(n, dim, generator=generator) + 0.1
    start = time.perf_counter()
    c2st(x, y, backend="torch")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        alone = pool.apply(one_c2st, (args.dim, args.samples))
    with context.Pool(2) as pool:
        pair = pool.starmap(one_c2st, [(args.dim, args.samples)] * 2)
    print(f"C2ST, {args.dim} dimensions, {args.samples} samples per side, one torch thread each")
    print(f"alone: {alone:.1f} s; two at once: {pair[0]:.1f} s and {pair[1]:.1f} s")
    slowdown, throughput = max(pair) / alone, 2 * alone / max(pair)
    print(f"slowdown beside a second one: {slowdown:.2f}x; throughput of two: {throughput:.2f}x")


if __name__ == "__main__":
    main()
