"""What a results table says about fmpe: in how many cells it is at or below each other method, and how
close our npe_nsf is to sbibm's published NPE (the two counts issue 17 asks of the paper grid).

Two methods are compared in a cell (task, budget) on the (seed, observation) pairs both evaluated ``ok``,
so a cell one method has only partly evaluated is compared on the observations they share and says how
many those are. A method is *at or below* another where its mean C2ST over the shared pairs, rounded to
three decimals as the leaderboard prints it, is not larger. Our npe_nsf *agrees* with sbibm's published
NPE (a mean over observations 1-10) where the two means differ by at most :data:`PUBLISHED_TOLERANCE`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fmbench.published import PUBLISHED_LABELS, published_value
from fmbench.summary import method_labels

#: The method the findings are about (with every label the leaderboard gives it, ``fmpe[hash]`` where one
#: table holds several of its settings).
SUBJECT = "fmpe"
#: Our method set beside sbibm's published NPE, and the published result it is set beside.
PUBLISHED_PAIR = ("npe_nsf", "sbibm_npe")
#: How far our npe_nsf may be from the published NPE and still agree (issue 17: ±0.05).
PUBLISHED_TOLERANCE = 0.05

CELL = ["task", "budget"]
PAIRS = ["seed", "observation"]


def paired_cells(results: pd.DataFrame, method: str, other: str) -> pd.DataFrame:
    """``method`` against ``other`` per cell, on the pairs both evaluated ok.

    Returns one row per cell both have: ``task, budget, n_pairs, c2st, other_c2st, difference``
    (``c2st - other_c2st``, of the rounded means), ``at_or_below``, ``standard_error`` (of the mean
    paired difference over the shared pairs; NaN from one pair: how far the difference stands above the
    spread between observations, not between fits) and ``pairs_below`` (pairs where ``method`` is lower).
    """
    ok = _ok(results)
    mine = ok[ok.label == method][[*CELL, *PAIRS, "c2st"]]
    theirs = ok[ok.label == other][[*CELL, *PAIRS, "c2st"]].rename(columns={"c2st": "other_c2st"})
    both = mine.merge(theirs, on=[*CELL, *PAIRS])
    both["paired"] = both.c2st - both.other_c2st
    table = both.groupby(CELL).agg(
        n_pairs=("c2st", "size"),
        c2st=("c2st", "mean"),
        other_c2st=("other_c2st", "mean"),
        standard_error=("paired", "sem"),
        pairs_below=("paired", lambda d: int((d < 0).sum())),
    )
    table = table.round({"c2st": 3, "other_c2st": 3}).reset_index()
    table["difference"] = (table.c2st - table.other_c2st).round(3)
    table["at_or_below"] = table.c2st <= table.other_c2st
    return table


def published_agreement(results: pd.DataFrame) -> pd.DataFrame:
    """Our :data:`PUBLISHED_PAIR` method's mean C2ST per cell beside the published value, where there is
    one: ``task, budget, n_ok, c2st, published, difference, agrees``."""
    method, result = PUBLISHED_PAIR
    ok = _ok(results)
    ours = (
        ok[ok.label == method].groupby(CELL).agg(n_ok=("c2st", "size"), c2st=("c2st", "mean")).reset_index()
    )
    ours["published"] = [
        published_value(result, t, int(b)) for t, b in zip(ours.task, ours.budget, strict=True)
    ]
    ours = ours.dropna(subset=["published"]).round({"c2st": 3})
    ours["difference"] = (ours.c2st - ours.published).round(3)
    ours["agrees"] = ours.difference.abs() <= PUBLISHED_TOLERANCE
    return ours.reset_index(drop=True)


def findings_markdown(results: pd.DataFrame) -> str:
    """``findings.md``: the counts, and every cell that breaks them with its difference."""
    labels = sorted(set(_ok(results).label))
    sections = [
        "# What the table says\n\n"
        "Two methods are compared in a cell (task, budget) on the observations both evaluated; a method is "
        "at or below another where its mean C2ST over those, rounded to three decimals as the leaderboard "
        f"prints it, is not larger. Our {PUBLISHED_PAIR[0]} agrees with "
        f"{PUBLISHED_LABELS[PUBLISHED_PAIR[1]]} where the two differ by at most {PUBLISHED_TOLERANCE} "
        "(ours trains with sbi 0.27's defaults, batches of 200 among them; sbibm's NPE trained with batches "
        "of 10,000).\n"
    ]
    for subject in [m for m in labels if m == SUBJECT or m.startswith(SUBJECT + "[")]:
        sections.append(_subject_section(results, subject, [m for m in labels if m != subject]))
    agreement = published_agreement(results)
    if len(agreement):
        sections.append(_published_section(agreement))
    return "\n".join(sections)


def _subject_section(results: pd.DataFrame, subject: str, others: list[str]) -> str:
    lines = [
        f"## {subject} against each method\n",
        f"| method | cells compared | {subject} at or below | mean difference "
        f"| cells where {subject} is above (difference ± paired standard error; observations where "
        f"{subject} is lower) |",
        "|---|---|---|---|---|",
    ]
    tables = {other: paired_cells(results, subject, other) for other in others}
    for other, table in tables.items():
        if table.empty:
            continue
        above = table[~table.at_or_below]
        listed = ", ".join(f"{_name(r)} ({_difference(r)})" for r in above.itertuples()) or "none"
        lines.append(
            f"| {other} | {len(table)} | {int(table.at_or_below.sum())} | "
            f"{table.difference.mean():+.3f} | {listed} |"
        )
    partial = _partial_note(results, subject, tables)
    return "\n".join(lines) + "\n" + partial


def _published_section(agreement: pd.DataFrame) -> str:
    method, result = PUBLISHED_PAIR
    outside = agreement[~agreement.agrees]
    listed = ", ".join(f"{_name(r)} ({r.difference:+.3f})" for r in outside.itertuples()) or "none"
    return (
        f"## {method} against {PUBLISHED_LABELS[result]}\n\n"
        f"Within ±{PUBLISHED_TOLERANCE} in {int(agreement.agrees.sum())} of {len(agreement)} cells "
        f"(mean difference {agreement.difference.mean():+.3f}). Outside: {listed}.\n"
    )


def _partial_note(results: pd.DataFrame, subject: str, tables: dict[str, pd.DataFrame]) -> str:
    """Names the comparisons (``tables``: :func:`paired_cells` per other method) made on fewer pairs than
    one of the two methods has."""
    sizes = _ok(results).groupby(["label", *CELL]).size()
    notes = []
    for other, table in tables.items():
        for r in table.itertuples():
            most = max(sizes.get((m, r.task, r.budget), 0) for m in (subject, other))
            if r.n_pairs < most:
                notes.append(f"{other} {_name(r)} on {r.n_pairs} of {most} observations")
    return ("\nCompared on the shared observations only: " + "; ".join(notes) + ".\n") if notes else ""


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    frame = results.assign(label=method_labels(results))
    return frame[(frame.status == "ok") & frame.c2st.notna()]


def _difference(row: Any) -> str:
    """A :func:`paired_cells` row's difference, its standard error where there is one, and its lower pairs."""
    error = "" if pd.isna(row.standard_error) else f" ± {row.standard_error:.3f}"
    return f"{row.difference:+.3f}{error}; {row.pairs_below} of {row.n_pairs}"


def _name(row: object) -> str:
    return f"{row.task} {int(row.budget):,}"  # type: ignore[attr-defined]
