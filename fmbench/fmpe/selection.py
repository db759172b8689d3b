"""Several candidate values of a setting: one fit each on one split, keep the lowest validation NLL.

A selectable setting (:data:`SELECTABLE`) may hold :class:`Candidates` instead of one value. A fit then
trains one network per combination of the listed values, all on the same train/validation split, and keeps
the one whose negative log-likelihood on that validation split is lowest (:mod:`fmbench.fmpe.method`). Only
the budget's own simulations enter the choice; the fit's cost is the sum over every candidate. Why the budget
tiers list several values: ``studies/NOTES.md``.

>>> combinations({"time_prior_exponent": Candidates((1.0, 4.0)), "batch_size": 64})
{'time_prior_exponent=1.0': {'time_prior_exponent': 1.0, 'batch_size': 64}, \
'time_prior_exponent=4.0': {'time_prior_exponent': 4.0, 'batch_size': 64}}
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", int, float, str)

#: The settings that may hold :class:`Candidates`, in the order of a candidate's label.
SELECTABLE = ("time_prior_exponent", "batch_size", "conditioning")


@dataclass(frozen=True)
class Candidates(Generic[T]):
    """Several values of one setting, each fitted; the fit keeps the lowest validation NLL.

    Attributes:
        values: The values, in the order they are fitted (at least one; validated by the config).
    """

    values: tuple[T, ...]

    def __str__(self) -> str:
        return ",".join(map(str, self.values))


def options(value: T | Candidates[T]) -> tuple[T, ...]:
    """The values a fit tries for one setting: the candidates, or the one value."""
    return value.values if isinstance(value, Candidates) else (value,)


def combinations(
    settings: Mapping[str, int | float | str | Candidates[int] | Candidates[float] | Candidates[str]],
) -> dict[str, dict[str, int | float | str]]:
    """Every combination of ``settings``' options, by a label naming the values of the settings that have
    several (``""`` when none has)."""
    names = list(settings)
    varying = [name for name in names if isinstance(settings[name], Candidates)]
    out: dict[str, dict[str, int | float | str]] = {}
    for combo in itertools.product(*(options(settings[name]) for name in names)):
        chosen = dict(zip(names, combo, strict=True))
        out[" ".join(f"{name}={chosen[name]}" for name in varying)] = chosen
    return out
