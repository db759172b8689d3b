"""What a results table says about fmpe: per cell, whether it is lower, higher or indistinguishable from
each other method by a paired refit interval, and how close our npe_nsf is to sbibm's published NPE.

Two methods are compared in a cell (task, budget) on the (seed, observation) pairs both evaluated ``ok``
(:func:`fmbench.report.intervals.paired_differences`): the same seed gives both methods the same
simulations, the difference is averaged per seed, and the 95% t-interval over seeds decides. A cell with
fewer than :data:`~fmbench.report.intervals.MIN_SEEDS` shared seeds is *not counted*, neither a win nor a
loss. Our npe_nsf *agrees* with sbibm's published NPE (a mean over observations 1-10 of one fit per
observation) where its cell mean differs by at most :data:`PUBLISHED_TOLERANCE`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from fmbench.report.intervals import (
    HIGHER,
    INTERVAL_NAME,
    LOWER,
    MIN_SEEDS,
    NOT_COUNTED,
    TIED,
    complete_seeds,
    paired_differences,
    seed_means,
)
from fmbench.report.published import PUBLISHED_LABELS, published_value
from fmbench.report.summary import method_labels

#: The method the findings are about (with every label the leaderboard gives it, ``fmpe[hash]`` where one
#: table holds several of its settings).
SUBJECT = "fmpe"
#: The methods fmpe is compared with first (the paper's question); the others follow by name.
BASELINES = ("npe_nsf", "npe_maf")
#: Our method set beside sbibm's published NPE, and the published result it is set beside.
PUBLISHED_PAIR = ("npe_nsf", "sbibm_npe")
#: Why a published amortized NPE with seeds is not set beside ours (issue 44's audit).
OTHER_C2ST_NOTE = (
    "Vetter et al. 2025's five-seed amortized NPE (sir, lotka_volterra; mackelab/npe-pfn) is not set "
    "beside ours: their C2ST is sbi's `c2st` at its defaults, a random forest, which on our own samples "
    "reads 0.01-0.04 lower than sbibm's MLP C2ST (sir 0.715 against 0.747 at 1e3, 0.550 against 0.590 "
    "at 1e4, seed 1; 0.512 against 0.535 at 1e5, a refit of seed 1; lotka_volterra 0.961 against 0.971 "
    "at 1e4, 0.872 against 0.890 at 1e5); scored their way our fits fall inside or just beside their "
    "seed ranges. Measured in studies/NOTES.md (sir fidelity audit); docs/anchors.md has the table."
)
#: How far our npe_nsf may be from the published NPE and still agree (issue 17: ±0.05).
PUBLISHED_TOLERANCE = 0.05

CELL = ["task", "budget"]
PAIRS = ["seed", "observation"]


def paired_cells(results: pd.DataFrame, method: str, other: str) -> pd.DataFrame:
    """``method`` against ``other`` per cell, on the (seed, observation) pairs both evaluated ok.

    Returns one row per cell both have (:func:`fmbench.report.intervals.paired_differences`): ``task,
    budget, n_seeds, n_pairs, c2st, other_c2st, difference`` (``c2st - other_c2st``, means of seed means),
    ``low, high`` (the difference's refit interval), ``verdict`` and ``pairs_below``.
    """
    ok = _ok(results)
    mine = ok[ok.label == method][[*CELL, *PAIRS, "c2st"]]
    theirs = ok[ok.label == other][[*CELL, *PAIRS, "c2st"]].rename(columns={"c2st": "other_c2st"})
    return paired_differences(mine.merge(theirs, on=[*CELL, *PAIRS]), CELL)


def published_agreement(results: pd.DataFrame) -> pd.DataFrame:
    """Our :data:`PUBLISHED_PAIR` method's C2ST per cell (mean of seed means) beside the published value,
    where there is one: ``task, budget, n_seeds, c2st, published, difference, agrees``; partial seeds
    wait outside (:func:`fmbench.report.intervals.complete_seeds`)."""
    method, result = PUBLISHED_PAIR
    ok = _ok(results)
    ours = seed_means(complete_seeds(ok[ok.label == method], CELL)[0], CELL)
    ours = ours.groupby(CELL).agg(n_seeds=("seed", "size"), c2st=("c2st", "mean")).reset_index()
    ours["published"] = [
        published_value(result, t, int(b)) for t, b in zip(ours.task, ours.budget, strict=True)
    ]
    ours = ours.dropna(subset=["published"]).round({"c2st": 3})
    ours["difference"] = (ours.c2st - ours.published).round(3)
    ours["agrees"] = ours.difference.abs() <= PUBLISHED_TOLERANCE
    return ours.reset_index(drop=True)


def refit_spread(results: pd.DataFrame) -> pd.DataFrame:
    """How far a cell's mean C2ST moves from one fit to the next, per method and budget, over the cells
    with at least :data:`~fmbench.report.intervals.MIN_SEEDS` complete seeds.

    Returns ``method, budget, n_cells``, ``pooled_sd`` (the root of the mean over those cells of the
    variance of their seed means), ``largest_sd`` and ``largest_cell`` (the task where it is largest).
    """
    ok = _ok(results)
    keys = ["label", *CELL]
    means = seed_means(complete_seeds(ok, keys)[0], keys)
    per_cell = means.groupby(keys)["c2st"].agg(n_seeds="size", sd="std").reset_index()
    per_cell = per_cell[per_cell.n_seeds >= MIN_SEEDS]
    rows = []
    for (label, budget), part in per_cell.groupby(["label", "budget"]):
        largest = part.loc[part.sd.idxmax()]
        pooled = float((part.sd**2).mean() ** 0.5)
        rows.append((label, int(budget), len(part), pooled, float(largest.sd), largest.task))
    columns = ["method", "budget", "n_cells", "pooled_sd", "largest_sd", "largest_cell"]
    return pd.DataFrame(rows, columns=columns)


def findings_markdown(results: pd.DataFrame) -> str:
    """``findings.md``: the three counts per method, every counted cell with its interval, how far refits
    move a cell, and npe_nsf beside the published NPE."""
    labels = sorted(set(_ok(results).label))
    sections = [
        "# What the table says\n\n"
        "Two methods are compared in a cell (task, budget) on the (seed, observation) pairs both "
        "evaluated. Seed s gives both the same simulations, so the difference is taken per pair and "
        f"averaged per seed; its {INTERVAL_NAME} (refit noise included) decides: *{LOWER}* or *{HIGHER}* "
        f"where it excludes zero, *{TIED}* where it does not. A cell with fewer than {MIN_SEEDS} shared "
        f"seeds is *{NOT_COUNTED}*: one or two fits cannot tell a method from its refit noise. Our "
        f"{PUBLISHED_PAIR[0]} agrees with {PUBLISHED_LABELS[PUBLISHED_PAIR[1]]} where the two differ by "
        f"at most {PUBLISHED_TOLERANCE} (ours trains with sbi 0.27's defaults, batches of 200 among them; "
        "sbibm's NPE trained one network per observation with batches of 10,000).\n"
    ]
    for subject in [m for m in labels if m == SUBJECT or m.startswith(SUBJECT + "[")]:
        others = sorted((m for m in labels if m != subject), key=_baselines_first)
        sections.append(_subject_section(results, subject, others))
    spread = refit_spread(results)
    if len(spread):
        sections.append(_spread_section(spread))
    agreement = published_agreement(results)
    if len(agreement):
        sections.append(_published_section(agreement))
    return "\n".join(sections)


def _subject_section(results: pd.DataFrame, subject: str, others: list[str]) -> str:
    tables = {other: paired_cells(results, subject, other) for other in others}
    tables = {other: table for other, table in tables.items() if not table.empty}
    lines = [
        f"## {subject} against each method\n",
        f"| method | cells compared | {subject} {LOWER} | {subject} {HIGHER} | {TIED} | {NOT_COUNTED} "
        f"(< {MIN_SEEDS} seeds) | mean difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for other, table in tables.items():
        count = table.verdict.value_counts()
        lines.append(
            f"| {other} | {len(table)} | {count.get(LOWER, 0)} | {count.get(HIGHER, 0)} | "
            f"{count.get(TIED, 0)} | {count.get(NOT_COUNTED, 0)} | {table.difference.mean():+.3f} |"
        )
    details = [_detail(subject, other, table) for other, table in tables.items()]
    return "\n".join(lines) + "\n" + "".join(details) + _partial_note(results, subject, tables)


def _baselines_first(method: str) -> tuple[int, str]:
    return (BASELINES.index(method) if method in BASELINES else len(BASELINES), method)


def _detail(subject: str, other: str, table: pd.DataFrame) -> str:
    """Every cell of one comparison: the difference, its interval, seeds and pairs, the verdict."""
    rows = [
        f"| {_name(r)} | {r.c2st:.3f} | {r.other_c2st:.3f} | {r.difference:+.3f} | {_interval(r)} | "
        f"{r.n_seeds} | {r.pairs_below} of {r.n_pairs} | {r.verdict} |"
        for r in table.itertuples()
    ]
    return (
        f"\n### {subject} against {other}\n\n"
        f"| cell | {subject} | {other} | difference | 95% interval | seeds | pairs {subject} lower "
        "| verdict |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _spread_section(spread: pd.DataFrame) -> str:
    rows = [
        f"| {r.method} | {r.budget:,} | {r.n_cells} | {r.pooled_sd:.3f} | {r.largest_sd:.3f} "
        f"({r.largest_cell}) |"
        for r in spread.sort_values(["budget", "method"], key=_method_order).itertuples()
    ]
    return (
        "## How far a refit moves a cell\n\n"
        "The standard deviation of a cell's seed means (each the mean over the cell's observations), "
        f"pooled over the cells with at least {MIN_SEEDS} complete seeds: how far one fit of a method "
        "(new simulations, a new network) typically lies from the method's mean over refits. Two fits "
        "differ by about 1.4 times as much.\n\n"
        "| method | budget | cells | pooled SD | largest SD (task) |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def _method_order(column: pd.Series) -> pd.Series:
    if column.name != "method":
        return column
    return column.map(lambda m: (m != SUBJECT, *_baselines_first(m)))


def _published_section(agreement: pd.DataFrame) -> str:
    method, result = PUBLISHED_PAIR
    outside = agreement[~agreement.agrees]
    listed = ", ".join(f"{_name(r)} ({r.difference:+.3f})" for r in outside.itertuples()) or "none"
    return (
        f"## {method} against {PUBLISHED_LABELS[result]}\n\n"
        f"Our cell means (over {_seed_counts(agreement)}) are within ±{PUBLISHED_TOLERANCE} of the "
        f"published values in {int(agreement.agrees.sum())} of {len(agreement)} cells (mean difference "
        f"{agreement.difference.mean():+.3f}). Outside: {listed}.\n\n{OTHER_C2ST_NOTE}\n"
    )


def _seed_counts(agreement: pd.DataFrame) -> str:
    counts = agreement.n_seeds.value_counts().sort_index()
    return ", ".join(
        f"{n} seed{'s' * (k > 1)} in {n_cells} cell{'s' * (n_cells > 1)}"
        for k, n_cells in counts.items()
        for n in [k]
    )


def _partial_note(results: pd.DataFrame, subject: str, tables: dict[str, pd.DataFrame]) -> str:
    """Names, per other method and budget, the comparisons (``tables``: :func:`paired_cells` per other
    method) made on fewer pairs than one of the two methods has in its complete seeds (partial seeds wait
    outside every comparison and are not counted here)."""
    kept = complete_seeds(_ok(results), ["label", *CELL])[0]
    sizes = kept.groupby(["label", *CELL]).size()
    groups: Counter[tuple[str, int, int, int]] = Counter()
    for other, table in tables.items():
        for r in table.itertuples():
            most = max(sizes.get((m, r.task, r.budget), 0) for m in (subject, other))
            if r.n_pairs < most:
                groups[(other, int(r.budget), int(r.n_pairs), int(most))] += 1
    notes = [
        f"{other} at {budget:,}: {cells} cell{'s' * (cells > 1)} on {pairs} of {most} "
        "(seed, observation) pairs"
        for (other, budget, pairs, most), cells in groups.items()
    ]
    return ("\nCompared on the shared pairs only: " + "; ".join(notes) + ".\n") if notes else ""


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    frame = results.assign(label=method_labels(results))
    return frame[(frame.status == "ok") & frame.c2st.notna()]


def _interval(row: Any) -> str:
    return "one seed" if pd.isna(row.low) else f"[{row.low:+.3f}, {row.high:+.3f}]"


def _name(row: object) -> str:
    return f"{row.task} {int(row.budget):,}"  # type: ignore[attr-defined]
