"""``fmbench report OUT [DIR...]``: the leaderboard, summaries, timing table and figure of a results table,
or of several folders merged into one (:mod:`fmbench.report.merge`; the merged report goes into OUT).

Writes into the report folder:

- ``leaderboard.md``: C2ST per task x budget x method, the mean over seeds of seed means with its refit
  interval and (seeds x observations) (:mod:`fmbench.report.intervals`), the best per row in bold, with
  sbibm's published NPE value beside ours; only rows whose
  C2ST backend passed the agreement check (:data:`fmbench.metrics.c2st.AGREEMENT_CHECKED`) enter it;
- ``summary.csv``: the same numbers, tidy;
- ``timings.md`` and ``timings.csv``: cost per task x budget x method;
- ``costs.md`` and ``costs.csv``: cost per method over all its cells (tractable density, ``log_prob`` time
  per 1,000 thetas, network passes per sample, time per 10,000 samples, median fit time per budget);
- ``findings.md``: fmpe against each other method per cell, lower, higher or indistinguishable by a
  paired refit interval, and how close our npe_nsf is to sbibm's published NPE
  (:mod:`fmbench.report.findings`);
- ``c2st_vs_budget.png``: C2ST against budget, one panel per task, one line per method, refit intervals
  as error bars;
- ``coverage.png``: expected coverage on held-out pairs, one panel per task x budget (when the run
  computed it);
- ``site/`` with ``site=True``: the static site of the same tables (:mod:`fmbench.report.site`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from fmbench.coverage import (
    COVERAGE_DIR,
    COVERAGE_FILE,
    assemble_coverage,
    coverage_curves,
    plot_coverage_grid,
)
from fmbench.metrics.c2st import AGREEMENT_CHECKED
from fmbench.report.figures import plot_c2st_vs_budget
from fmbench.report.findings import findings_markdown
from fmbench.report.intervals import INTERVAL_NAME
from fmbench.report.merge import Merged, conflict_note, merge_results, rename_coverage, source_names
from fmbench.report.published import PUBLISHED_LABELS, published_value
from fmbench.report.site import SiteFiles, SiteInputs, write_site
from fmbench.report.summary import c2st_summary, cost_summary, method_costs, method_labels
from fmbench.run.jobs import NUM_SAMPLES
from fmbench.run.results import load_results


@dataclass(frozen=True)
class ReportFiles:
    """The files a report wrote."""

    leaderboard: Path
    summary: Path
    timings_md: Path
    timings_csv: Path
    costs_md: Path
    costs_csv: Path
    findings: Path
    figure: Path
    coverage: Path | None
    site: SiteFiles | None = None


def write_report(
    results_path: Path, report_dir: Path | None = None, include: Sequence[Path] = (), site: bool = False
) -> ReportFiles:
    """Builds every report file from the results table at ``results_path`` (a folder or a CSV), merged
    with the tables of the ``include`` folders (:mod:`fmbench.report.merge`) when there are any, and
    with ``site`` the static site in ``site/`` of the report folder."""
    results_path = Path(results_path)
    paths = [results_path, *map(Path, include)]
    merged = merge_results(paths) if include else None
    results = merged.rows if merged else load_results(results_path)
    if results.empty:
        raise ValueError(f"the results table at {results_path} has no rows")
    folder = (
        Path(report_dir) if report_dir else (results_path if results_path.is_dir() else results_path.parent)
    )
    folder.mkdir(parents=True, exist_ok=True)
    unchecked = (results.status == "ok") & ~results["c2st_backend"].isin(AGREEMENT_CHECKED)
    summary = c2st_summary(results[~unchecked])
    costs = cost_summary(results)
    coverage = _merged_coverage(paths, merged) if merged else _coverage_table(results_path)
    files = ReportFiles(
        folder / "leaderboard.md",
        folder / "summary.csv",
        folder / "timings.md",
        folder / "timings.csv",
        folder / "costs.md",
        folder / "costs.csv",
        folder / "findings.md",
        folder / "c2st_vs_budget.png",
        folder / "coverage.png" if not coverage.empty else None,
    )
    summary.to_csv(files.summary, index=False)
    costs.to_csv(files.timings_csv, index=False)
    files.leaderboard.write_text(
        leaderboard_markdown(summary, results[~unchecked])
        + _unchecked_note(results[unchecked])
        + (conflict_note(merged) if merged else "")
    )
    files.timings_md.write_text("# Cost per fit\n\n" + _markdown_table(costs.round(4)) + "\n")
    per_method = method_costs(results)
    per_method.to_csv(files.costs_csv, index=False)
    files.costs_md.write_text(_costs_markdown(per_method))
    files.findings.write_text(findings_markdown(results[~unchecked]))
    plot_c2st_vs_budget(summary, files.figure)
    if files.coverage is not None:
        plot_coverage_grid(coverage_curves(coverage), files.coverage)
    if site:
        inputs = SiteInputs(_site_rows(results[~unchecked], paths, merged), summary, coverage, paths)
        files = replace(files, site=write_site(folder / "site", inputs))
    return files


def _site_rows(results: pd.DataFrame, paths: list[Path], merged: Merged | None) -> pd.DataFrame:
    """``results`` with what the site needs to find kept draws: ``label`` (the leaderboard column),
    ``run_method`` (the method's name in its run folder) and ``folder`` (that run folder)."""
    folders = [p if p.is_dir() else p.parent for p in paths]
    if merged is None:
        return results.assign(label=method_labels(results), run_method=results.method, folder=folders[0])
    by_source = dict(zip(source_names(paths), folders, strict=True))
    original = {(source, name): method for (source, method, _), name in merged.renamed.items()}
    run_method = [original.get((s, m), m) for s, m in zip(results.source, results.method, strict=True)]
    return results.assign(
        label=method_labels(results), run_method=run_method, folder=results.source.map(by_source)
    )


def _coverage_table(results_path: Path) -> pd.DataFrame:
    folder = results_path if results_path.is_dir() else results_path.parent
    if (folder / COVERAGE_DIR).is_dir():
        return assemble_coverage(folder)
    if (folder / COVERAGE_FILE).exists():
        return pd.read_csv(folder / COVERAGE_FILE)
    return pd.DataFrame()


def _merged_coverage(paths: list[Path], merged: Merged) -> pd.DataFrame:
    tables = [
        rename_coverage(_coverage_table(path), source, merged.renamed)
        for path, source in zip(paths, source_names(paths), strict=True)
    ]
    tables = [t for t in tables if not t.empty]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def leaderboard_markdown(summary: pd.DataFrame, results: pd.DataFrame) -> str:
    """The leaderboard: one row per (task, budget), one column per method and per result."""
    methods = sorted(summary["method"].unique())
    header = ["task", "budget", *methods, *PUBLISHED_LABELS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (task, budget), part in summary.groupby(["task", "budget"]):
        cells = [task, f"{budget:,}"]
        for method in methods:
            hit = part[part.method == method]
            cells.append(_cell(hit.iloc[0]) if len(hit) else "")
        for result in PUBLISHED_LABELS:
            value = published_value(result, task, int(budget))
            cells.append(f"{value:.3f}" if value is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    backends = ", ".join(sorted(set(results["c2st_backend"].dropna().astype(str))))
    seeds = ", ".join(map(str, sorted(results["seed"].unique())))
    conventions = " | ".join(sorted(set(results["metric_conventions"].dropna().astype(str))))
    return (
        "# Leaderboard: C2ST (0.5 is best)\n\n"
        "Each cell: the mean over seeds of each seed's mean C2ST over the observations, its "
        f"{INTERVAL_NAME} in brackets (how far a refit moves the cell), and (seeds × observations); "
        "a cell fitted once has no interval and says `1 seed`. **bold** is the lowest mean of the row; "
        "a ! marks failed rows; `+k partial`: k more seeds evaluated on only some of the cell's "
        "observations (a run in progress), left out of the mean and interval until complete. "
        "sbibm's published NPE values (Lueckmann et al. 2021; gaussian_mixture's "
        "from sbibm's re-run after its 1.1.0 fix; one fit per observation, not amortized) stand beside "
        "ours; the FMPE paper publishes no numbers.\n\n"
        + "\n".join(lines)
        + f"\n\nC2ST backend(s): {backends}. Seeds: {seeds}. Conventions: {conventions}\n"
        + _sample_count_note(results)
    )


def _sample_count_note(results: pd.DataFrame) -> str:
    """The leaderboard's warning on cells whose C2ST used other than the protocol's sample count: fewer
    samples give the classifier less to learn from, so such a C2ST is not comparable with the published
    values."""
    ok = results[results.status == "ok"]
    counts = pd.to_numeric(ok["num_samples"], errors="coerce")
    other = ok[counts.notna() & (counts != NUM_SAMPLES)]  # rows older than the column say nothing
    if other.empty:
        return ""
    cells = sorted(
        {f"{r.method} on {r.task} at {int(r.budget):,} ({int(r.num_samples):,})" for r in other.itertuples()}
    )
    return (
        f"\nNot the protocol's {NUM_SAMPLES:,} samples per observation, so not comparable with the published "
        f"values: {'; '.join(cells)}.\n"
    )


def _unchecked_note(rows: pd.DataFrame) -> str:
    """The leaderboard's note on rows left out because their C2ST backend has not passed the check."""
    if rows.empty:
        return ""
    backends = ", ".join(sorted(set(rows["c2st_backend"].astype(str))))
    return (
        f"\n{len(rows)} row(s) left out: their C2ST backend ({backends}) has not passed the agreement "
        "check with sbibm's classifier (scripts/c2st_agreement.py).\n"
    )


def _cell(row: pd.Series) -> str:
    if pd.isna(row.c2st_mean):
        return f"failed ({row.n_failed})"
    size = f"{row.n_seeds}×{row.n_observations}{'!' * bool(row.n_failed)}"
    if row.n_partial:
        size += f", +{row.n_partial} partial"
    if pd.isna(row.c2st_low):
        text = f"{row.c2st_mean:.3f} ({size}, 1 seed)"
    else:
        text = f"{row.c2st_mean:.3f} [{row.c2st_low:.3f}, {row.c2st_high:.3f}] ({size})"
    return f"**{text}**" if row.best else text


def _costs_markdown(table: pd.DataFrame) -> str:
    """``costs.md``: the per-method cost table with what its columns mean."""
    return (
        "# Cost per method\n\n"
        "Medians over every cell of the method in this table (`timings.md` has each cell). density: whether "
        "the method has a tractable `log_prob`; log_prob_s_per_1000: seconds for the log density of 1,000 "
        "posterior samples; passes_per_sample: network evaluations per sample (1 for a normalizing flow, "
        "the ODE solver's function evaluations for flow matching and score models; min and max over "
        "observations beside it); sample_s_per_10000: seconds to draw 10,000 samples within the prior; "
        "fit_s_B: fit seconds at budget B. Times are the runs' own, on their device and thread count, "
        "and under whatever else the machine ran.\n\n" + _markdown_table(table.round(4)) + "\n"
    )


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "\n".join(
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    )
    return header + body
