"""The Method contract: a configured inference method that fits a Posterior on simulations.

Every method, in-house or wrapped, goes through this door: ``Method(config).fit(theta, x, prior, ...)``
returns a :class:`Posterior` that can ``sample(n, x_o)`` and, where the method has a tractable density,
``log_prob(theta, x_o)``. The runner never special-cases a method by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn
from torch.distributions import Distribution


class ConfigError(ValueError):
    """A method setting with a bad value or an unknown name."""


@dataclass(frozen=True)
class MethodConfig:
    """Base class of method settings: frozen dataclasses whose fields carry a ``help`` text.

    Subclasses validate their fields in ``__post_init__`` and raise :class:`ConfigError` naming the field.
    """

    #: The version of what :meth:`hash` covers. Bump it when the same settings come to mean something else
    #: (a new setting, a new entry in a table an ``"auto"`` setting resolves from) and list the committed
    #: cells' old hashes in :attr:`EARLIER_HASHES`. Version 1 hashes the settings' JSON (plus
    #: :meth:`hash_extra` under ``"__extra__"`` when there is any); from version 2 on the hash covers
    #: ``{"config_version": N, "settings": ..., "extra": ...}``, every setting included.
    CONFIG_VERSION: ClassVar[int] = 1
    #: Cells recorded under an earlier :attr:`CONFIG_VERSION`: the hash the same settings and budget have
    #: now -> the hash their cell was recorded under, which :meth:`hash` then returns so the cell resumes.
    #: ``tests/test_committed_cells.py`` checks that every committed cell gets its recorded hash.
    EARLIER_HASHES: ClassVar[Mapping[str, str]] = {}
    #: Cells made by earlier code of the method that the code of today would not reproduce (another
    #: training loop, say; :meth:`hash_extra` then changed): their hash -> where they are. They stay as
    #: records and are never resumed; a run today makes a new cell beside them.
    RETIRED_HASHES: ClassVar[Mapping[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def hash_extra(self, budget: int | None = None) -> dict[str, Any]:
        """What else decides the method's behaviour besides the settings (e.g. the table an ``"auto"``
        setting resolves from); it enters :meth:`hash`, so changing it never reuses old results. With a
        ``budget``, only what decides the behaviour at that budget (so a change for other budgets keeps
        this budget's results)."""
        return {}

    def hash(self, budget: int | None = None) -> str:
        """A short stable hash of the settings and :meth:`hash_extra` (first 12 hex digits of SHA-256 of
        sorted JSON; see :attr:`CONFIG_VERSION`); the runner passes the cell's ``budget``."""
        settings, extra = self.to_dict(), self.hash_extra(budget)
        if self.CONFIG_VERSION == 1:
            payload: dict[str, Any] = {**settings, "__extra__": extra} if extra else settings
        else:
            payload = {"config_version": self.CONFIG_VERSION, "settings": settings, "extra": extra}
        blob = json.dumps(payload, sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return self.EARLIER_HASHES.get(digest, digest)

    @classmethod
    def settings(cls) -> Iterator[tuple[str, Any, str]]:
        """Yields ``(name, default, help)`` for every setting."""
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            yield f.name, default, f.metadata.get("help", "")

    @classmethod
    def smoke(cls) -> MethodConfig:
        """The cheapest settings that still run every code path (contract tests, CI smoke runs).

        Subclasses override this; the default is the default settings.
        """
        return cls()

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> MethodConfig:
        """Builds a config from ``{name: value}``; unknown names raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        hints = typing.get_type_hints(cls)
        values = {name: cls.read_setting(name, value) for name, value in overrides.items()}
        for name, value in values.items():
            _check_type(name, value, hints.get(name))
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"{cls.__name__}: {err}") from None

    @classmethod
    def read_setting(cls, name: str, value: Any) -> Any:
        """The typed value of setting ``name`` given as text or JSON (``--set``, a row's ``method_config``);
        subclasses whose settings have a text form override this (the default keeps the value)."""
        return value


_SIMPLE_TYPES: dict[type, tuple[type, ...]] = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}


def _check_type(name: str, value: Any, expected: Any) -> None:
    """Raises :class:`ConfigError` when ``value`` is not of the setting's simple declared type
    (``int``, ``float``, ``str``, ``bool``; other annotations are left to the config's own checks)."""
    accepted = _SIMPLE_TYPES.get(expected)
    if accepted is None:
        return
    wrong_bool = isinstance(value, bool) and expected is not bool
    if wrong_bool or not isinstance(value, accepted):
        raise ConfigError(f"{name}: expected {expected.__name__}, got {value!r}")


def setting(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field with a default and a ``help`` text."""
    return dataclasses.field(default=default, metadata={"help": help})


def require(condition: bool, field: str, message: str) -> None:
    """Raises :class:`ConfigError` naming ``field`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{field}: {message}")


@dataclass(frozen=True)
class FitCost:
    """What fitting cost and what sampling will cost.

    Attributes:
        epochs: Training epochs run (``None`` if not epoch-based).
        num_parameters: Trainable parameters of the fitted network.
        passes_per_sample: Network evaluations per posterior sample (1 for a flow, the number of
            vector-field evaluations of the ODE solve for FMPE); ``None`` when unknown.
    """

    epochs: int | None = None
    num_parameters: int | None = None
    passes_per_sample: float | None = None


class Posterior(ABC):
    """An amortized posterior estimate q(theta | x).

    A subclass implements :meth:`sample`; it has a density when it overrides :meth:`log_prob`
    (``has_log_prob`` is then set on the class, unless the class sets it itself), and it reports its
    cost by overriding :attr:`cost` (default: nothing known).
    """

    #: Whether :meth:`log_prob` is available; detected per subclass (see :meth:`__init_subclass__`).
    has_log_prob: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Sets ``has_log_prob`` to whether ``cls`` overrides :meth:`log_prob`, unless ``cls`` sets it."""
        super().__init_subclass__(**kwargs)
        if "has_log_prob" not in cls.__dict__:
            cls.has_log_prob = cls.log_prob is not Posterior.log_prob

    @abstractmethod
    def sample(self, n: int, x_o: Tensor) -> Tensor:
        """Draws ``n`` samples ``(n, theta_dim)`` given one observation ``x_o`` ``(x_dim,)``.

        No support rejection here: the runner rejects samples outside the prior for every method alike.
        """

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        """Log density ``(N,)`` of ``theta`` ``(N, theta_dim)`` given ``x_o`` ``(x_dim,)``."""
        raise NotImplementedError(f"{type(self).__name__} has no tractable density")

    @property
    def cost(self) -> FitCost:
        """What fitting cost and what one sample costs (default: nothing known)."""
        return FitCost()

    @property
    def passes_per_sample(self) -> float | None:
        """Network passes per sample of the last :meth:`sample` call (defaults to the fit-time figure)."""
        return self.cost.passes_per_sample


@dataclass(frozen=True)
class FitContext:
    """What the harness tells a method besides the data.

    Attributes:
        budget: Number of simulations the method is allowed (the rows it received, before invalid ones
            were dropped).
        seed: The benchmark seed; the harness has already seeded torch with it.
        device: ``"cpu"`` or ``"cuda"``.
        show_progress: Whether the method may draw a per-fit progress bar.
    """

    budget: int
    seed: int
    device: str = "cpu"
    show_progress: bool = False


class Method(ABC):
    """An inference method with its settings.

    Subclasses set ``Config`` (a :class:`MethodConfig` subclass) and ``description``, and implement
    :meth:`fit`.
    """

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    description: ClassVar[str] = ""

    def __init__(self, config: MethodConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise ConfigError(
                f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}"
            )

    @abstractmethod
    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        """Fits on ``theta`` ``(N, theta_dim)`` and ``x`` ``(N, x_dim)`` simulated from ``prior``."""


def method_class_problem(cls: type[Method]) -> str | None:
    """Why ``cls`` cannot be registered as a method, or ``None``: checked at registration, so a plugin
    fails when it loads, not in the middle of a run."""
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        return f"{cls.__name__} does not implement {', '.join(abstract)}"
    config = cls.Config
    if not (isinstance(config, type) and issubclass(config, MethodConfig)):
        return f"{cls.__name__}.Config must be a MethodConfig subclass, got {config!r}"
    if "__dataclass_fields__" not in vars(config) or not config.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return f"{cls.__name__}.Config ({config.__name__}) must be decorated with @dataclass(frozen=True)"
    try:
        config()
    except Exception as err:  # noqa: BLE001 - reported as the registration error
        return f"{cls.__name__}.Config() failed: {type(err).__name__}: {err}"
    return None


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
