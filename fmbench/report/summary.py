"""Summaries of a results table: C2ST per cell over observations, and cost per cell."""

from __future__ import annotations

import hashlib

import pandas as pd

from fmbench.report.intervals import cell_intervals, complete_seeds
from fmbench.run.evaluation import LOG_PROB_BATCH


def method_labels(results: pd.DataFrame) -> pd.Series:
    """The method's name, suffixed with a short hash of its settings where one method ran with several.

    The settings (``method_config``) decide, not the cell's ``method_config_hash``: that hash also covers
    what ``"auto"`` settings resolve to at the cell's budget (fmpe's tiers), so one method run with one
    set of settings has one hash per budget tier. Rows without recorded settings fall back to the hash.
    Where one set of settings has several hashes in one cell (task, budget, seed), the method's code
    changed between them (fmpe's retired cells beside new ones): those rows are told apart by hash.
    """
    hashes = results["method_config_hash"].astype(str)
    if "method_config" in results:
        settings = results["method_config"].fillna("").astype(str)
        key = settings.where(settings != "", hashes)
    else:
        key = hashes
    cell = [results["method"], key, results["task"], results["budget"], results["seed"]]
    changed_code = hashes.groupby(cell).transform("nunique") > 1
    key = key.where(~changed_code, key + "|" + hashes)
    several = key.groupby(results["method"]).transform("nunique") > 1
    suffix = key.map(lambda k: hashlib.sha256(k.encode()).hexdigest()[:6])
    return results["method"].where(~several, results["method"] + "[" + suffix + "]")


def c2st_summary(results: pd.DataFrame) -> pd.DataFrame:
    """C2ST per task, budget and method, with its refit interval (:mod:`fmbench.report.intervals`).

    Columns: ``task, budget, method``; ``c2st_mean`` (the mean over seeds of each seed's mean over
    observations), ``c2st_low`` and ``c2st_high`` (its 95% t-interval over seed means; NaN with one
    seed), ``n_seeds``, ``n_observations`` (the most any seed has); ``n_partial`` (seeds left out of the
    mean and interval because they lack some of the cell's observations, e.g. a grid still running:
    :func:`fmbench.report.intervals.complete_seeds`); ``c2st_std`` (standard deviation over the rows of
    the counted seeds), ``n_ok``, ``c2st_backend``, ``mmd_mean``, ``nltp_mean``, ``n_failed``; ``best``
    marks the lowest ``c2st_mean`` of each (task, budget).
    """
    frame = results.assign(method=method_labels(results))
    keys = ["task", "budget", "method"]
    counted, partial = complete_seeds(frame, keys)  # a failed row still counts as evaluated
    ok = counted[(counted.status == "ok") & counted.c2st.notna()]
    stats = ok.groupby(keys).agg(
        c2st_std=("c2st", "std"),
        n_ok=("c2st", "size"),
        c2st_backend=("c2st_backend", lambda s: "+".join(sorted(set(map(str, s))))),
        **{f"{m}_mean": (m, "mean") for m in ("mmd", "nltp") if m in ok.columns},
    )
    intervals = cell_intervals(ok, keys).set_index(keys) if len(ok) else None
    if intervals is not None:
        stats = intervals.join(stats)
    failed = counted[counted.status != "ok"].groupby(keys).size().rename("n_failed")
    left_out = partial.groupby(keys).size().rename("n_partial")
    table = stats.join(failed, how="outer").join(left_out, how="outer").reset_index()
    for column in ("n_ok", "n_failed", "n_seeds", "n_observations", "n_partial"):
        table[column] = table.get(column, pd.Series(dtype=float)).fillna(0).astype(int)
    for column in ("c2st_mean", "c2st_low", "c2st_high"):
        if column not in table:
            table[column] = float("nan")
    best = table.groupby(["task", "budget"])["c2st_mean"].transform("min")
    table["best"] = table["c2st_mean"].notna() & (table["c2st_mean"] == best)
    return table.sort_values(keys).reset_index(drop=True)


def _with_cell_fit_time(ok: pd.DataFrame) -> pd.DataFrame:
    """``ok`` with each row's ``fit_s`` replaced by its cell's (task, budget, method, seed): the median
    over the cell's rows. A cell refitted after its fit file was lost carries the old fit's time on the
    rows evaluated before; the median is the fit most rows were evaluated with."""
    if not {"fit_s", "seed"} <= set(ok.columns):
        return ok
    return ok.assign(fit_s=ok.groupby(["task", "budget", "method", "seed"])["fit_s"].transform("median"))


def cost_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Cost per task, budget, method: fit time, time per ``num_samples`` samples, epochs, parameters,
    network passes per sample, rejected fraction, log_prob time per 1,000 thetas, the evaluation's C2ST,
    MMD and NLTP seconds per observation (where the rows record them), peak fit memory.

    Over seeds, every column is a mean; within one seed's cell the fit time is as in
    :func:`_with_cell_fit_time`."""
    frame = results.assign(method=method_labels(results))
    ok = _with_cell_fit_time(frame[frame.status == "ok"])
    keys = ["task", "budget", "method"]
    columns = {
        "fit_s": ("fit_s", "mean"),
        "sample_s": ("sample_s", "mean"),
        "epochs": ("epochs", "mean"),
        "num_parameters": ("num_parameters", "max"),
        "passes_per_sample": ("passes_per_sample", "mean"),
        "rejected_fraction": ("rejected_fraction", "mean"),
        "log_prob_s": ("log_prob_s", "mean"),
        "c2st_s": ("c2st_s", "mean"),
        "mmd_s": ("mmd_s", "mean"),
        "nltp_s": ("nltp_s", "mean"),
        "peak_memory_mb": ("peak_memory_mb", "max"),
    }
    present = {k: v for k, v in columns.items() if v[0] in ok.columns}
    return ok.groupby(keys).agg(**present).reset_index().sort_values(keys).reset_index(drop=True)


#: Samples per ``sample_s`` in :func:`method_costs` (the protocol's sample size).
SAMPLES_PER_TIMING = 10_000


def method_costs(results: pd.DataFrame) -> pd.DataFrame:
    """What each method costs, one row per method over every cell it ran (the poster's Table 1, measured).

    Columns: ``method``; ``density`` (``yes`` when its rows time a ``log_prob``, ``no`` when the method
    has no tractable density); ``log_prob_s_per_1000`` (median time of ``log_prob`` on 1,000 thetas);
    ``passes_per_sample`` (median network passes per sample, and ``passes_min`` / ``passes_max``);
    ``sample_s_per_10000`` (median time to draw 10,000 samples, rescaled from each row's
    ``num_samples``); ``cells``; and ``fit_s_<budget>`` per budget, the median fit time over the tasks
    at that budget (each cell counted once, with its fit time as in :func:`_with_cell_fit_time`).
    Medians over tasks hide which task is slow: ``timings.md`` has every cell.
    """
    needed = ["fit_s", "sample_s", "passes_per_sample", "log_prob_s", "num_samples"]
    frame = results.reindex(columns=[*results.columns, *(c for c in needed if c not in results)])
    frame = frame.assign(method=method_labels(frame))
    ok = _with_cell_fit_time(frame[frame.status == "ok"])
    cell = ["task", "budget", "seed", "method"]
    per_cell = ok.groupby(cell).agg(fit_s=("fit_s", "first")).reset_index()
    samples = pd.to_numeric(ok["num_samples"], errors="coerce").fillna(SAMPLES_PER_TIMING)
    scaled = ok.assign(
        sample_10k=ok["sample_s"] * SAMPLES_PER_TIMING / samples,
        log_prob_1k=ok["log_prob_s"] * 1000 / samples.clip(upper=LOG_PROB_BATCH),
    )
    table = scaled.groupby("method").agg(
        density=("log_prob_s", lambda s: "yes" if s.notna().any() else "no"),
        log_prob_s_per_1000=("log_prob_1k", "median"),
        passes_per_sample=("passes_per_sample", "median"),
        passes_min=("passes_per_sample", "min"),
        passes_max=("passes_per_sample", "max"),
        sample_s_per_10000=("sample_10k", "median"),
    )
    table["cells"] = per_cell.groupby("method").size()
    fits = per_cell.pivot_table(index="method", columns="budget", values="fit_s", aggfunc="median")
    fits.columns = [f"fit_s_{int(b)}" for b in fits.columns]
    return table.join(fits).reset_index().sort_values("method").reset_index(drop=True)
