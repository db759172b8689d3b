"""Third-party output of a job, captured and said once in fmbench's words.

Libraries print into the terminal a run draws its progress bar on: sbi prints "Neural network
successfully converged after N epochs." after every fit, and imports of some flows libraries warn about
deprecations. :func:`quiet` runs a job with its standard output captured and its warnings recorded;
what matters is returned as :attr:`Captured.notes`, each distinct warning once, so that the runner can
say it in one line (``note: fit two_moons npe_nsf 1000 seed 1: warned: ...``). Deprecation and future
warnings, and any warning that says something is deprecated, concern library versions, not results, and
are dropped.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

#: Warning categories about library versions, never about a result: dropped.
_DROPPED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)


@dataclass
class Captured:
    """What a job printed and warned.

    Attributes:
        stdout: The text written to standard output (dropped by the caller unless it fails).
        notes: Each distinct warning that may bear on the result, its message on one line.
    """

    stdout: str = ""
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def quiet() -> Iterator[Captured]:
    """Captures standard output and warnings for the duration of the block."""
    captured, buffer = Captured(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(buffer):
        warnings.simplefilter("always")
        try:
            yield captured
        finally:
            captured.stdout = buffer.getvalue()
            captured.notes = _distinct(caught)


def _distinct(caught: list[warnings.WarningMessage]) -> list[str]:
    notes: list[str] = []
    for w in caught:
        if issubclass(w.category, _DROPPED):
            continue
        text = " ".join(str(w.message).split())
        if "deprecated" in text.lower():  # a library's API notice (torch warns so as a UserWarning)
            continue
        if text not in notes:
            notes.append(text)
    return notes
