"""``fmbench check``: compare a run with a committed reference, cell by cell, with a noise-aware tolerance.

A cell is one fit (task, method, budget, seed) with its observations. It **fails** when

- a reference observation has no row in the run (``MISSING``) or a ``failed`` row (``FAILED``);
- the run's method settings differ from the reference's: another ``method_config_hash`` (``SETTINGS``);
- its mean C2ST over the observations is worse (higher) than the reference's by more than the tolerance
  (``WORSE``). The tolerance is ``max(absolute, standard_errors * SE)``, SE being the standard error of
  the reference's mean over its observations (std / sqrt(n), n >= 2); default ``max(0.02, 2 SE)``.

Otherwise it passes (``ok``); ``exact`` counts its rows whose C2ST, MMD and NLTP equal the reference's to
the last digit, as they do on CPU with the same versions of torch and sbi (the grid is bit-reproducible
there).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fmbench.gate.reference import CellSpec, ReferenceGrid

#: The metrics that must be equal for a row to count as reproduced exactly.
EXACT_COLUMNS = ("c2st", "mmd", "nltp")
#: Verdicts that fail the check.
FAILING = ("MISSING", "FAILED", "SETTINGS", "WORSE")


@dataclass(frozen=True)
class Tolerance:
    """How much worse a cell's mean C2ST may get: ``max(absolute, standard_errors * SE)``."""

    absolute: float = 0.02
    standard_errors: float = 2.0

    def __post_init__(self) -> None:
        for name in ("absolute", "standard_errors"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"tolerance {name} must be a non-negative number, got {value!r}")

    def of(self, reference_c2st: pd.Series) -> float:
        """The tolerance of a cell whose reference C2ST values are ``reference_c2st``."""
        n = reference_c2st.count()
        se = float(reference_c2st.std(ddof=1)) / math.sqrt(n) if n >= 2 else 0.0
        return max(self.absolute, self.standard_errors * se)


@dataclass(frozen=True)
class Comparison:
    """The verdict of every cell (one row each) and the settings that differ, per method."""

    cells: pd.DataFrame
    setting_changes: dict[str, str]

    @property
    def passed(self) -> bool:
        """Whether no cell failed."""
        return not self.cells["verdict"].isin(FAILING).any()

    @property
    def exact_rows(self) -> tuple[int, int]:
        """``(rows reproduced exactly, rows compared)``."""
        return int(self.cells["exact"].sum()), int(self.cells["n"].sum())


#: The ``method_config_hash`` each cell of the run is expected to have, by ``(task, method, budget, seed)``.
Hashes = dict[tuple[str, str, int, int], str]


def is_complete(reference: ReferenceGrid, run: pd.DataFrame, expected: Hashes | None = None) -> bool:
    """Whether ``run`` has an ``ok`` row for every observation of every reference cell (with the
    ``expected`` hash of the cell, when given)."""
    ok = run[run.status == "ok"]
    done = set(
        ok[["task", "method", "budget", "seed", "observation", "method_config_hash"]].itertuples(
            index=False, name=None
        )
    )
    done_any = {row[:5] for row in done}
    return all(
        (*cell.key, i, expected[cell.key]) in done if expected else (*cell.key, i) in done_any
        for cell in reference.cells
        for i in cell.observations
    )


def compare(
    reference: ReferenceGrid,
    reference_rows: pd.DataFrame,
    run: pd.DataFrame,
    tolerance: Tolerance,
    expected: Hashes | None = None,
) -> Comparison:
    """Compares the rows of ``run`` with ``reference_rows`` (the rows ``reference`` was read from).

    ``expected`` names the hash each cell was run with now (the run folder may also hold rows of other
    settings); without it, a cell's rows with the reference's hash are compared, else its other rows.
    """
    run = run.assign(method_config_hash=run["method_config_hash"].astype(str))
    cells = pd.DataFrame(
        [
            _cell_verdict(cell, reference_rows, run, tolerance, (expected or {}).get(cell.key))
            for cell in reference.cells
        ]
    )
    changed = cells[cells.verdict == "SETTINGS"].drop_duplicates("method")
    changes = {
        r.method: _setting_changes(_config(reference_rows, r.method), json.loads(r.now_config or "{}"))
        for r in changed.itertuples(index=False)
    }
    return Comparison(cells.drop(columns="now_config"), changes)


def _rows(frame: pd.DataFrame, cell: CellSpec) -> pd.DataFrame:
    task, method, budget, seed = cell.key
    mask = (frame.task == task) & (frame.method == method) & (frame.budget == budget) & (frame.seed == seed)
    return frame[mask & frame.observation.isin(cell.observations)]


def _cell_verdict(
    cell: CellSpec,
    reference_rows: pd.DataFrame,
    run: pd.DataFrame,
    tolerance: Tolerance,
    expected: str | None,
) -> dict[str, Any]:
    ref = _rows(reference_rows, cell)
    ref = ref[ref.status == "ok"].set_index("observation").sort_index()
    now = _rows(run, cell)
    ref_hash = str(ref.method_config_hash.iloc[0]) if len(ref) else ""
    if expected is not None:
        now, settings_differ = now[now.method_config_hash == expected], expected != ref_hash
    else:
        same = now[now.method_config_hash == ref_hash]
        settings_differ = len(now) > 0 and len(same) == 0
        now = now if settings_differ else same
    now = now.drop_duplicates("observation", keep="last")
    now = now.set_index("observation").reindex(ref.index)
    ok = now.status == "ok"
    ref_mean = float(ref.c2st.mean())
    now_mean = float(now.c2st[ok].mean()) if ok.any() else math.nan
    tol = tolerance.of(ref.c2st)
    verdict, note = _verdict(now, ok, settings_differ, now_mean - ref_mean, tol)
    exact = sum(_equal(ref.loc[i], now.loc[i]) for i in ref.index[ok.to_numpy()])
    return {
        "task": cell.task,
        "method": cell.method,
        "budget": cell.budget,
        "seed": cell.seed,
        "n": len(ref),
        "reference": ref_mean,
        "now": now_mean,
        "difference": now_mean - ref_mean,
        "tolerance": tol,
        "exact": exact,
        "verdict": verdict,
        "note": note,
        "now_config": str(now.method_config.dropna().iloc[0]) if now.method_config.notna().any() else "",
    }


def _verdict(
    now: pd.DataFrame, ok: pd.Series, settings_differ: bool, difference: float, tol: float
) -> tuple[str, str]:
    """The first failing verdict of ``FAILING`` order (or ``ok``) and a note giving every reason."""
    reasons: dict[str, str] = {}
    missing = now.index[now.status.isna()].tolist()
    failed = now[now.status.notna() & ~ok]
    if missing:
        reasons["MISSING"] = f"no row for observation(s) {', '.join(map(str, missing))}"
    if len(failed):
        reasons["FAILED"] = f"observation {failed.index[0]}: {str(failed.iloc[0].error)[:120]}"
    if settings_differ:
        hashes = now.method_config_hash.dropna()
        reasons["SETTINGS"] = f"method_config_hash {hashes.iloc[0] if len(hashes) else '?'}"
    if difference > tol:
        reasons["WORSE"] = f"worse by {difference:.3f} > {tol:.3f}"
    verdict = next((v for v in FAILING if v in reasons), "ok")
    return verdict, "; ".join(reasons.values())


def _equal(ref: pd.Series, now: pd.Series) -> bool:
    for column in EXACT_COLUMNS:
        a, b = ref.get(column), now.get(column)
        if pd.isna(a) and pd.isna(b):
            continue
        if pd.isna(a) or pd.isna(b) or float(a) != float(b):
            return False
    return True


def _setting_changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """``name: reference -> now`` for each setting that differs (else the hashes differ through what
    ``"auto"`` settings resolve to, e.g. fmpe's budget tiers)."""
    names = sorted(set(before) | set(after))
    diffs = [
        f"{n}: {before.get(n, '-')!r} -> {after.get(n, '-')!r}"
        for n in names
        if before.get(n) != after.get(n)
    ]
    return "; ".join(diffs) or "same settings; what they resolve to (the method's hash_extra) changed"


def _config(rows: pd.DataFrame, method: str) -> dict[str, Any]:
    recorded = rows.loc[rows.method == method, "method_config"].dropna()
    return json.loads(recorded.iloc[-1]) if len(recorded) else {}


def format_comparison(comparison: Comparison) -> str:
    """The comparison as a plain-text table with a closing summary line."""
    header = f"{'task':<24} {'method':<14} {'budget':>7} {'seed':>4} {'n':>3} "
    header += f"{'reference':>9} {'now':>7} {'diff':>7} {'tol':>6} {'exact':>5}  verdict"
    lines = [header]
    for r in comparison.cells.itertuples(index=False):
        lines.append(
            f"{r.task:<24} {r.method:<14} {r.budget:>7} {r.seed:>4} {r.n:>3} {r.reference:>9.3f} "
            f"{_num(r.now):>7} {_num(r.difference, '+'):>7} {r.tolerance:>6.3f} {r.exact:>5}  "
            f"{r.verdict}{'  ' + r.note if r.note else ''}"
        )
    for method, change in comparison.setting_changes.items():
        lines.append(f"settings of {method} differ from the reference: {change}")
    exact, total = comparison.exact_rows
    failed = int(comparison.cells.verdict.isin(FAILING).sum())
    lines.append(
        f"{len(comparison.cells) - failed} of {len(comparison.cells)} cell(s) pass; "
        f"{exact} of {total} row(s) reproduce the reference exactly"
    )
    return "\n".join(lines)


def _num(value: float, sign: str = "") -> str:
    return "-" if math.isnan(value) else f"{value:{sign}.3f}"
