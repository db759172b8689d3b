"""fmbench: Flow Matching Posterior Estimation against Neural Posterior Estimation on the sbibm tasks.

What a plugin needs is one import away::

    from fmbench import METHODS, FitContext, FitCost, Method, MethodConfig, Posterior, setting

The names are resolved on first use, so ``import fmbench`` itself stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Method": "fmbench.method",
    "MethodConfig": "fmbench.method",
    "Posterior": "fmbench.method",
    "FitContext": "fmbench.method",
    "FitCost": "fmbench.method",
    "ConfigError": "fmbench.method",
    "setting": "fmbench.method",
    "require": "fmbench.method",
    "count_parameters": "fmbench.method",
    "Task": "fmbench.task",
    "METHODS": "fmbench.registry",
    "TASKS": "fmbench.registry",
    "get_method": "fmbench.registry",
    "get_task": "fmbench.registry",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Imports the module of an exported name on first access (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fmbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
