"""``fmbench check``: compare a run with a committed reference, cell by cell, with a tolerance calibrated
on refit noise.

A cell is (task, method, budget) with the seeds checked and their observations. It **fails** when

- a reference observation has no row in the run (``MISSING``) or a ``failed`` row (``FAILED``);
- the run's method settings differ from the reference's: another ``method_config_hash`` (``SETTINGS``);
- its mean C2ST is worse (higher) than the reference's, seed by seed and averaged over the seeds checked,
  by more than the tolerance (``WORSE``). Where the reference holds at least
  :data:`~fmbench.gate.noise.MIN_REFITS` seeds of the cell, the tolerance comes from the reference's refit
  noise (:mod:`fmbench.gate.noise`), for a chance ``false_alarm_rate`` (default 1%) that an unchanged run
  fails any cell; otherwise it is ``max(absolute, standard_errors * SE)``, SE being the standard error of
  the reference's mean over its rows (default ``max(0.02, 2 SE)``), which knows nothing of refit noise.
  A ``fixed`` tolerance, when given, replaces both.

Otherwise it passes (``ok``); ``exact`` counts its rows whose C2ST, MMD and NLTP equal the reference's to
the last digit, as they do on CPU with the same versions of torch and sbi and one thread (the grid is
bit-reproducible there).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fmbench.gate.noise import CELL_KEYS, FALSE_ALARM_RATE, MIN_REFITS, RefitNoise, refit_noise
from fmbench.gate.reference import CellSpec, ReferenceGrid

#: The metrics that must be equal for a row to count as reproduced exactly.
EXACT_COLUMNS = ("c2st", "mmd", "nltp")
#: Verdicts that fail the check.
FAILING = ("MISSING", "FAILED", "SETTINGS", "WORSE")


@dataclass(frozen=True)
class Tolerance:
    """How much worse a cell's mean C2ST may get (see the module's docstring for the rules).

    Attributes:
        fixed: A tolerance given outright; replaces both rules when set.
        false_alarm_rate: The refit-noise rule's chance that an unchanged run fails any cell.
        absolute: The floor of the rule for cells without refits.
        standard_errors: The multiple of the standard error in the rule for cells without refits.
    """

    fixed: float | None = None
    false_alarm_rate: float = FALSE_ALARM_RATE
    absolute: float = 0.02
    standard_errors: float = 2.0

    def __post_init__(self) -> None:
        for name in ("fixed", "absolute", "standard_errors"):
            value = getattr(self, name)
            if value is None and name == "fixed":
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"tolerance {name} must be a non-negative number, got {value!r}")
        rate = self.false_alarm_rate
        if not (isinstance(rate, int | float) and 0 < rate < 1):
            raise ValueError(f"the false-alarm rate must lie strictly between 0 and 1, got {rate!r}")

    def of(
        self,
        reference_c2st: pd.Series,
        noise: RefitNoise | None = None,
        seeds_checked: int = 1,
        cells_checked: int = 1,
    ) -> float:
        """The tolerance of a cell whose reference C2ST values (every seed checked, every observation)
        are ``reference_c2st``; ``noise`` is the reference's refit noise where the cell has refits."""
        if self.fixed is not None:
            return float(self.fixed)
        if noise is not None:
            return noise.tolerance(seeds_checked, cells_checked, self.false_alarm_rate)
        n = reference_c2st.count()
        se = float(reference_c2st.std(ddof=1)) / math.sqrt(n) if n >= 2 else 0.0
        return max(self.absolute, self.standard_errors * se)


@dataclass(frozen=True)
class Comparison:
    """The verdict of every cell (one row each), the settings that differ per method, and a line saying
    how the tolerance was set."""

    cells: pd.DataFrame
    setting_changes: dict[str, str]
    basis: str = ""

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
    """Compares the rows of ``run`` with ``reference_rows`` (the rows ``reference`` was read from; every
    seed of them measures the refit noise, the seeds of ``reference.cells`` are the ones checked).

    ``expected`` names the hash each cell was run with now (the run folder may also hold rows of other
    settings); without it, a cell's rows with the reference's hash are compared, else its other rows.
    """
    run = run.assign(method_config_hash=run["method_config_hash"].astype(str))
    noise = refit_noise(reference_rows) if tolerance.fixed is None else None
    refits = _refits_per_cell(reference_rows)
    groups: dict[tuple[str, str, int], list[CellSpec]] = {}
    for cell in reference.cells:
        groups.setdefault(cell.key[:3], []).append(cell)
    cells, calibrated = [], 0
    for key, seeds in groups.items():
        cell_noise = noise if refits.get(key, 0) >= MIN_REFITS else None
        calibrated += cell_noise is not None
        compared = [_seed_comparison(c, reference_rows, run, (expected or {}).get(c.key)) for c in seeds]
        cells.append(_cell_verdict(key, compared, tolerance, cell_noise, len(groups)))
    table = pd.DataFrame(cells)
    changed = table[table.verdict == "SETTINGS"].drop_duplicates("method")
    changes = {
        r.method: _setting_changes(_config(reference_rows, r.method), json.loads(r.now_config or "{}"))
        for r in changed.itertuples(index=False)
    }
    basis = _basis(tolerance, noise, calibrated, len(groups))
    return Comparison(table.drop(columns="now_config"), changes, basis)


def _refits_per_cell(rows: pd.DataFrame) -> dict[tuple[str, str, int], int]:
    ok = rows[rows.status == "ok"]
    counts = ok.groupby(CELL_KEYS)["seed"].nunique()
    return {(str(t), str(m), int(b)): int(n) for (t, m, b), n in counts.items()}


def _basis(tolerance: Tolerance, noise: RefitNoise | None, calibrated: int, cells: int) -> str:
    if tolerance.fixed is not None:
        return f"tolerance: {tolerance.fixed:g}, as given"
    rule = f"max({tolerance.absolute:g}, {tolerance.standard_errors:g} SE over the reference's rows)"
    if noise is None or calibrated == 0:
        return (
            f"tolerance: {rule}; not calibrated on refit noise, the reference has fewer than "
            f"{MIN_REFITS} seeds per cell"
        )
    line = noise.describe(tolerance.false_alarm_rate)
    if calibrated < cells:
        line += f"; {cells - calibrated} cell(s) with fewer than {MIN_REFITS} seeds: {rule}"
    return line


def _rows(frame: pd.DataFrame, cell: CellSpec) -> pd.DataFrame:
    task, method, budget, seed = cell.key
    mask = (frame.task == task) & (frame.method == method) & (frame.budget == budget) & (frame.seed == seed)
    return frame[mask & frame.observation.isin(cell.observations)]


@dataclass(frozen=True)
class _SeedComparison:
    """One seed of a cell: the reference's rows and the run's, by observation."""

    seed: int
    ref: pd.DataFrame
    now: pd.DataFrame
    ok: pd.Series
    settings_differ: bool


def _seed_comparison(
    cell: CellSpec, reference_rows: pd.DataFrame, run: pd.DataFrame, expected: str | None
) -> _SeedComparison:
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
    return _SeedComparison(cell.seed, ref, now, now.status == "ok", settings_differ)


def _cell_verdict(
    key: tuple[str, str, int],
    seeds: list[_SeedComparison],
    tolerance: Tolerance,
    noise: RefitNoise | None,
    cells_checked: int,
) -> dict[str, Any]:
    ref_means = [float(s.ref.c2st.mean()) for s in seeds]
    now_means = [float(s.now.c2st[s.ok].mean()) if s.ok.any() else math.nan for s in seeds]
    differences = [b - a for a, b in zip(ref_means, now_means, strict=True) if math.isfinite(b)]
    difference = sum(differences) / len(differences) if differences else math.nan
    reference_c2st = pd.concat([s.ref.c2st for s in seeds], ignore_index=True)
    tol = tolerance.of(reference_c2st, noise, len(seeds), cells_checked)
    verdict, note = _verdict(seeds, difference, tol)
    configs = [s.now.method_config.dropna() for s in seeds]
    now_config = next((str(c.iloc[0]) for c in configs if len(c)), "")
    return {
        "task": key[0],
        "method": key[1],
        "budget": key[2],
        "seeds": _seed_list([s.seed for s in seeds]),
        "n": sum(len(s.ref) for s in seeds),
        "reference": sum(ref_means) / len(ref_means),
        "now": sum(now_means) / len(now_means) if len(differences) == len(seeds) else math.nan,
        "difference": difference,
        "tolerance": tol,
        "exact": sum(_equal(s.ref.loc[i], s.now.loc[i]) for s in seeds for i in s.ref.index[s.ok.to_numpy()]),
        "verdict": verdict,
        "note": note,
        "now_config": now_config,
    }


def _seed_list(seeds: list[int]) -> str:
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))


def _verdict(seeds: list[_SeedComparison], difference: float, tol: float) -> tuple[str, str]:
    """The first failing verdict of ``FAILING`` order (or ``ok``) and a note giving every reason."""
    reasons: dict[str, str] = {}
    several = len(seeds) > 1
    for s in seeds:
        where = f"seed {s.seed}, " if several else ""
        missing = s.now.index[s.now.status.isna()].tolist()
        failed = s.now[s.now.status.notna() & ~s.ok]
        if missing and "MISSING" not in reasons:
            reasons["MISSING"] = f"no row for {where}observation(s) {', '.join(map(str, missing))}"
        if len(failed) and "FAILED" not in reasons:
            reasons["FAILED"] = f"{where}observation {failed.index[0]}: {str(failed.iloc[0].error)[:120]}"
        if s.settings_differ and "SETTINGS" not in reasons:
            hashes = s.now.method_config_hash.dropna()
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
    """The comparison as a plain-text table with the tolerance's basis and a closing summary line."""
    header = f"{'task':<24} {'method':<14} {'budget':>7} {'seeds':>5} {'n':>3} "
    header += f"{'reference':>9} {'now':>7} {'diff':>7} {'tol':>6} {'exact':>5}  verdict"
    lines = [header]
    for r in comparison.cells.itertuples(index=False):
        lines.append(
            f"{r.task:<24} {r.method:<14} {r.budget:>7} {r.seeds:>5} {r.n:>3} {r.reference:>9.3f} "
            f"{_num(r.now):>7} {_num(r.difference, '+'):>7} {r.tolerance:>6.3f} {r.exact:>5}  "
            f"{r.verdict}{'  ' + r.note if r.note else ''}"
        )
    for method, change in comparison.setting_changes.items():
        lines.append(f"settings of {method} differ from the reference: {change}")
    if comparison.basis:
        lines.append(comparison.basis)
    exact, total = comparison.exact_rows
    failed = int(comparison.cells.verdict.isin(FAILING).sum())
    lines.append(
        f"{len(comparison.cells) - failed} of {len(comparison.cells)} cell(s) pass; "
        f"{exact} of {total} row(s) reproduce the reference exactly"
    )
    return "\n".join(lines)


def _num(value: float, sign: str = "") -> str:
    return "-" if math.isnan(value) else f"{value:{sign}.3f}"
