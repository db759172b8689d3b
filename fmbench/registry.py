"""The registries of tasks and methods: :data:`TASKS`, :data:`METHODS` and the look-ups by name.

:class:`Registry` maps names to entries of one kind. Entries are registered with a decorator; a duplicate
name is an error, and so is an entry that is not of the registry's base kind or that the registry's
``check`` finds incomplete. Looking up an unknown name raises :class:`UnknownNameError`, whose message
suggests the close matches and lists every valid name.

Example:
    >>> reg = Registry("widget", base=object)
    >>> @reg.register("round")
    ... class Round: ...
    >>> reg.get("round") is Round
    True
    >>> reg.get("rond")
    Traceback (most recent call last):
    ...
    fmbench.registry.UnknownNameError: unknown widget 'rond'; did you mean 'round'? Valid widgets: round
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from fmbench.method import Method, method_class_problem
from fmbench.plugins import load_builtins
from fmbench.task import Task

T = TypeVar("T")


class RegistryError(ValueError):
    """A registration or look-up that cannot be honoured."""


class UnknownNameError(RegistryError, KeyError):
    """A name that is not registered; the message lists close matches and all valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to entries (classes or factories) of one kind.

    Args:
        kind: What the entries are, used in messages ("task", "method").
        base: Entries must be subclasses of this class (or, for factories, return instances of it).
        check: Called on each class entry at registration; returns why the entry cannot be registered,
            or ``None`` when it can.
    """

    def __init__(self, kind: str, base: type, check: Callable[[type], str | None] | None = None) -> None:
        self.kind = kind
        self.base = base
        self._check = check
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an entry under ``name``."""

        def decorator(entry: T) -> T:
            self.add(name, entry)
            return entry

        return decorator

    def add(self, name: str, entry: T) -> None:
        """Registers ``entry`` under ``name``; raises on duplicates and on entries of the wrong kind."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise RegistryError(f"duplicate {self.kind} name {name!r}: already registered")
        if isinstance(entry, type) and not issubclass(entry, self.base):
            raise RegistryError(
                f"{self.kind} {name!r}: {entry.__name__} is not a subclass of {self.base.__name__}"
            )
        if not callable(entry):
            raise RegistryError(f"{self.kind} {name!r}: entry {entry!r} is not callable")
        problem = self._check(entry) if self._check and isinstance(entry, type) else None
        if problem:
            raise RegistryError(f"{self.kind} {name!r}: {problem}")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """Returns the entry registered under ``name``."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def check(self, names: list[str]) -> None:
        """Raises :class:`UnknownNameError` for the first unknown name in ``names``."""
        for name in names:
            self.get(name)

    def _unknown_message(self, name: str) -> str:
        valid = sorted(self._entries)
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
        return f"unknown {self.kind} {name!r}{hint} Valid {self.kind}s: {', '.join(valid)}"

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


#: The tasks, by name (entries are factories or Task classes).
TASKS: Registry[Callable[[], Task]] = Registry("task", Task)
#: The methods, by name (a class is checked when it registers: :func:`fmbench.method.method_class_problem`).
METHODS: Registry[type[Method]] = Registry("method", Method, check=method_class_problem)


@functools.cache
def get_task(name: str) -> Task:
    """The task registered under ``name`` (built once and cached)."""
    load_builtins()
    return TASKS.get(name)()


def get_method(name: str, overrides: dict[str, Any] | None = None) -> Method:
    """The method registered under ``name``, configured with ``overrides`` of its default settings."""
    load_builtins()
    cls = METHODS.get(name)
    return cls(cls.Config.from_overrides(overrides or {}))


def task_names() -> list[str]:
    """All registered task names."""
    load_builtins()
    return TASKS.names()


def method_names() -> list[str]:
    """All registered method names."""
    load_builtins()
    return METHODS.names()
