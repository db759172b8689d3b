"""Loading what registers tasks and methods: the built-in modules, the installed packages that declare an
entry point in the group ``fmbench.plugins``, and single files passed as ``--plugin FILE``.

A plugin registers its entries with the decorators of :mod:`fmbench.registry` when it is imported; a file
or entry point that fails to load raises :class:`PluginError` with one line naming it (and the line of
the file where it failed). A plugin file is kept in ``sys.modules`` under ``fmbench_plugin_<stem>``, so the
posteriors it defines pickle, and load again in any process that loaded the same file (worker processes
do, see :class:`fmbench.run.jobs.WorkerSetup`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

_BUILTIN_MODULES = ("fmbench.tasks", "fmbench.baselines", "fmbench.fmpe")
ENTRY_POINT_GROUP = "fmbench.plugins"


class PluginError(RuntimeError):
    """A plugin file or entry point that could not be loaded."""


@functools.cache
def load_builtins() -> None:
    """Imports the built-in task and method modules and the installed entry-point plugins (once)."""
    for module in _BUILTIN_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as err:  # a broken third-party plugin must not hide the built-ins
            raise PluginError(f"plugin entry point {ep.name!r} failed to load: {_one_line(err)}") from err


def load_plugin_files(paths: Iterable[str | Path]) -> None:
    """Executes each plugin file once, so that its decorators register its entries."""
    load_builtins()
    for path in map(Path, paths):
        _load_plugin_file(path.resolve())


@functools.cache
def _load_plugin_file(path: Path) -> None:
    if not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"fmbench_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(spec.name, None)
        raise PluginError(f"plugin file {path} failed{_line_in(path, err)}: {_one_line(err)}") from err


def _line_in(path: Path, err: Exception) -> str:
    """`` at line N``: where in the plugin file ``err`` was raised (the last frame in the file)."""
    if isinstance(err, SyntaxError) and err.filename and Path(err.filename).resolve() == path:
        return f" at line {err.lineno}"
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve() == path]
    return f" at line {frames[-1].lineno}" if frames else ""


def _one_line(err: Exception) -> str:
    text = err.msg if isinstance(err, SyntaxError) else str(err)
    return f"{type(err).__name__}: {text}".replace("\n", " ")
