"""fmpe's settings read from text and JSON (``--set fmpe.NAME=VALUE``, a row's ``method_config``) and written
back to JSON.

``"auto"`` is :data:`~fmbench.fmpe.tiers.BY_BUDGET`; a selectable setting given as ``"a,b"`` or a list of
several values is :class:`~fmbench.fmpe.selection.Candidates`; widths are ``"64,128,64"`` or a list. A value
of another type passes through unchanged, for the config's validation to reject with the field's name.

>>> read_setting("batch_size", "64,256")
Candidates(values=(64, 256))
>>> read_setting("hidden_features", [64, 64]), read_setting("max_epochs", "auto")
((64, 64), auto)
>>> to_json(Candidates((1.0, 4.0))), to_json(BY_BUDGET)
([1.0, 4.0], 'auto')
"""

from __future__ import annotations

from collections.abc import Callable

from fmbench.fmpe.selection import Candidates
from fmbench.fmpe.tiers import BY_BUDGET, ByBudget
from fmbench.method import ConfigError

#: How ``auto`` is written.
AUTO = "auto"

#: The type of one value of each selectable setting.
_SELECTABLE_TYPES: dict[str, Callable[[str], int | float | str]] = {
    "time_prior_exponent": float,
    "batch_size": int,
    "conditioning": str,
}
#: Settings that take ``auto`` or one value.
_BY_BUDGET = ("max_epochs", "lr_patience", "early_stopping_patience", "halving_epochs")


def read_setting(name: str, value: object) -> object:
    """The typed value of setting ``name`` given as text or JSON (other settings pass through)."""
    if name in _BY_BUDGET or name in _SELECTABLE_TYPES or name == "hidden_features":
        if value == AUTO:
            return BY_BUDGET
    if name == "hidden_features":
        return _read_widths(value)
    if name in _SELECTABLE_TYPES:
        return _read_options(name, value, _SELECTABLE_TYPES[name])
    return value


def _read_widths(value: object) -> object:
    if isinstance(value, str):
        try:
            return tuple(int(v) for v in value.split(","))
        except ValueError:
            raise ConfigError(f"hidden_features: cannot read {value!r} as comma-separated integers") from None
    return tuple(value) if isinstance(value, list) else value


def _read_options(name: str, value: object, kind: Callable[[str], int | float | str]) -> object:
    if isinstance(value, str):
        try:
            items: list[object] = [kind(v.strip()) for v in value.split(",")]
        except ValueError:
            raise ConfigError(
                f"{name}: cannot read {value!r} as 'auto', one value or comma-separated values"
            ) from None
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return value
    return items[0] if len(items) == 1 else Candidates(tuple(items))


def to_json(value: object) -> object:
    """A setting's value as JSON: ``"auto"``, a list of candidates or of widths, or the value."""
    if isinstance(value, ByBudget):
        return AUTO
    if isinstance(value, Candidates):
        return list(value.values)
    if isinstance(value, tuple):
        return list(value)
    return value
