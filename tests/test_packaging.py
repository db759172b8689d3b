"""What a non-editable install ships: every subpackage and every library the code imports."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_dirs() -> dict[str, Path]:
    """Each listed package's source folder (``package-dir`` maps fmbench.tasks and fmbench.baselines)."""
    mapped = PROJECT["tool"]["setuptools"]["package-dir"]
    out = {}
    for name in PROJECT["tool"]["setuptools"]["packages"]:
        parent, _, leaf = name.rpartition(".")
        out[name] = ROOT / mapped[name] if name in mapped else ROOT / mapped[parent] / leaf
    return out


def test_every_subpackage_of_the_listed_packages_is_listed_too() -> None:
    listed = _package_dirs()
    assert all((folder / "__init__.py").exists() for folder in listed.values()), listed
    known = {folder.resolve() for folder in listed.values()}
    for folder in listed.values():
        for init in folder.glob("*/__init__.py"):
            assert init.parent.resolve() in known, f"{init.parent} is a package missing from pyproject.toml"


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = {
        d.split("=")[0].split(">")[0].split("<")[0].strip().replace("-", "_")
        for d in PROJECT["project"]["dependencies"]
    }
    declared |= {"sbibm"}  # installed separately with --no-deps (scripts/install.sh)
    aliases = {"sklearn": "scikit_learn", "pyro": "pyro_ppl"}
    imported: set[str] = set()
    for folder in _package_dirs().values():
        for source in folder.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "fmbench"}
    missing = {name for name in third_party if aliases.get(name, name) not in declared}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {sorted(missing)}"
