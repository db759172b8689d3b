"""Every committed cell resumes, its recorded settings still hashing to the name its file was written under,
or is listed as made by code that is gone (``RETIRED_HASHES``: a record, not resumed).

A cell's rows live in ``OUT/cells/TASK/METHOD/budgetB_seedS_HASH.csv`` and the runner finds them by
``Config.hash(budget)``; a change of what the hash covers must bump the config's ``CONFIG_VERSION`` and list
the committed cells' old hashes in its ``EARLIER_HASHES`` (see ``fmbench.method.MethodConfig``).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from fmbench.registry import get_method

ROOT = Path(__file__).resolve().parents[1]
CELLS = sorted(p for folder in ("results", "studies") for p in (ROOT / folder).glob("**/cells/*/*/*.csv"))
NAME = re.compile(r"budget(?P<budget>\d+)_seed(?P<seed>\d+)_(?P<hash>[0-9a-f]{12})\.csv")


def test_the_committed_cells_are_found() -> None:
    methods = {p.parent.name for p in CELLS}
    assert len(CELLS) >= 35 and {"fmpe", "npe_nsf", "npe_maf", "sbi_fmpe"} <= methods


@pytest.mark.parametrize("path", CELLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_committed_cell_keeps_its_hash(path: Path) -> None:
    match = NAME.fullmatch(path.name)
    assert match, f"{path.name} is not a cell file name"
    with path.open(newline="") as f:
        configs = {row["method_config"] for row in csv.DictReader(f)}
    assert len(configs) == 1, f"{path}: one cell, one set of settings"
    method = get_method(path.parent.name, json.loads(configs.pop()))
    if match["hash"] in type(method.config).RETIRED_HASHES:
        return
    assert method.config.hash(int(match["budget"])) == match["hash"], (
        f"{path.relative_to(ROOT)} would not resume: bump {type(method.config).__name__}.CONFIG_VERSION and "
        f"map {method.config.hash(int(match['budget']))!r} to {match['hash']!r} in its EARLIER_HASHES"
    )
