"""Check the FMPE accuracy grid against its acceptance criteria and print the table.

Reads a results folder written by::

    fmbench run --tasks two_moons gaussian_linear gaussian_mixture slcp bernoulli_glm \
        --methods fmpe sbi_fmpe npe_nsf --budgets 1e3 1e4 --observations 1-10 --seeds 1 \
        --out results/fmpe_grid --report

and prints, per (task, budget), the mean C2ST of fmpe, sbi_fmpe and npe_nsf over the observations and
whether

- fmpe is below sbi_fmpe (required in every cell),
- fmpe is no higher than npe_nsf (required in at least 7 of the 10 cells).

The FMPE paper publishes no numbers (its sbibm results are a figure), so there is no criterion against it.

A cell counts only with all 10 observations ``ok`` for the three methods; incomplete cells are listed as
such. Usage::

    python scripts/check_fmpe_grid.py results/fmpe_grid
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fmbench.results import load_results

TASKS = ["two_moons", "gaussian_linear", "gaussian_mixture", "slcp", "bernoulli_glm"]
BUDGETS = [1000, 10000]
METHODS = ["fmpe", "sbi_fmpe", "npe_nsf"]
OBSERVATIONS = 10
MIN_CELLS_VS_NPE = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?", default=Path("results/fmpe_grid"))
    args = parser.parse_args()
    results = load_results(args.results)
    ok = results[(results.status == "ok") & (results.seed == 1)]
    print(
        f"{'task':18s} {'budget':>6s} {'fmpe':>6s} {'sbi_fmpe':>8s} {'npe_nsf':>7s}  "
        "fmpe<sbi_fmpe  fmpe<=npe_nsf"
    )
    below_sbi, vs_npe, complete = [], [], 0
    for task in TASKS:
        for budget in BUDGETS:
            means, counts = {}, {}
            for method in METHODS:
                part = ok[(ok.task == task) & (ok.budget == budget) & (ok.method == method)]
                counts[method] = part.observation.nunique()
                means[method] = float(part.c2st.mean()) if len(part) else float("nan")
            if min(counts.values()) < OBSERVATIONS:
                have = ", ".join(f"{m} {counts[m]}/{OBSERVATIONS}" for m in METHODS)
                print(f"{task:18s} {budget:>6d} incomplete ({have})")
                continue
            complete += 1
            a = means["fmpe"] < means["sbi_fmpe"]
            b = means["fmpe"] <= means["npe_nsf"]
            below_sbi.append(a)
            vs_npe.append(b)
            print(
                f"{task:18s} {budget:>6d} {means['fmpe']:6.3f} {means['sbi_fmpe']:8.3f} "
                f"{means['npe_nsf']:7.3f}  {_yes(a):13s}  {_yes(b)}"
            )
    total = len(TASKS) * len(BUDGETS)
    print(
        f"complete cells {complete}/{total}; fmpe < sbi_fmpe in {sum(below_sbi)}/{complete} "
        f"(need all {total}); fmpe <= npe_nsf in {sum(vs_npe)}/{complete} (need {MIN_CELLS_VS_NPE})"
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


if __name__ == "__main__":
    main()
