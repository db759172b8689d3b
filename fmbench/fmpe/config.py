"""Settings of the in-house FMPE: one frozen, typed, self-validating config per path.

:class:`FmpeConfig` (Gaussian OT path, ``fmpe``) and :class:`FmpeVpConfig` (variance-preserving path,
``fmpe_vp``) share every setting of :class:`FlowConfig` and add their path's own. A setting may be left to
the budget (:data:`~fmbench.fmpe.tiers.BY_BUDGET`, ``auto`` in text; values in :mod:`fmbench.fmpe.tiers`),
and a selectable one may list :class:`~fmbench.fmpe.selection.Candidates` (one fit each, the lowest validation
NLL kept; :mod:`fmbench.fmpe.selection`). :meth:`FlowConfig.candidates` turns a config into the
:class:`Candidate` networks a fit trains, each with one plain value per setting. Text and JSON are read in
:mod:`fmbench.fmpe.parsing`. Where the defaults and the tier values were chosen: ``studies/NOTES.md``.

Hashes (:meth:`~fmbench.method.MethodConfig.hash`): config version 2 covers every setting, the budget's
tier and the version of the training code (:data:`~fmbench.fmpe.train.TRAINING_VERSION`). The fmpe cells
committed before the candidates trained together are records of the earlier code
(:data:`TRAINING_1_HASHES`), not resumed.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from fmbench.fmpe import tiers
from fmbench.fmpe.network import ACTIVATIONS, CONDITIONINGS
from fmbench.fmpe.ode import DIVERGENCES, SOLVERS, OdeSettings
from fmbench.fmpe.parsing import read_setting, to_json
from fmbench.fmpe.path import OTPath, ProbPath, VPPath
from fmbench.fmpe.selection import SELECTABLE, Candidates, combinations
from fmbench.fmpe.tiers import BY_BUDGET, BudgetTier, ByBudget, ByObservationLength, tier_for
from fmbench.fmpe.train import TRAINING_VERSION, TrainSettings
from fmbench.method import MethodConfig, require, setting

#: The committed fmpe cells made by earlier training code (:data:`~fmbench.fmpe.train.TRAINING_VERSION`
#: 1, candidates trained one after another), by their hash: records that a run today does not resume (it
#: makes a new cell beside them). ``tests/test_committed_cells.py`` checks every committed cell.
TRAINING_1_HASHES = {
    "de25bcd4658a": "results/fmpe_grid at 1e3",
    "4927c226d4f4": "results/fmpe_grid at 1e4",
    "7424868ce4b6": "results/fmpe_1e5",
    "b19f2cb89ff5": "results/fmpe_dropout_1e4 (dropout=0.3)",
}


@dataclass(frozen=True)
class Candidate:
    """One network a fit trains: every setting with one value (budget and candidates resolved)."""

    hidden_features: tuple[int, ...]
    conditioning: str
    activation: str
    dropout: float
    train: TrainSettings
    path: ProbPath
    sample_ode: OdeSettings
    log_prob_ode: OdeSettings
    divergence: str


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _alpha(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > -1


def _require_options(value: object, name: str, valid: Callable[[object], bool], what: str) -> None:
    """Raises naming ``name`` unless ``value`` is :data:`BY_BUDGET`, one valid value or candidates of them."""
    if isinstance(value, ByBudget):
        return
    values = value.values if isinstance(value, Candidates) else (value,)
    shown = ",".join(map(str, values)) if isinstance(value, Candidates) else value  # as it was written
    require(
        len(values) > 0 and all(map(valid, values)),
        name,
        f"must be 'auto', {what} or several of them, got {shown!r}",
    )


@dataclass(frozen=True)
class FlowConfig(MethodConfig, ABC):
    """Settings shared by every path (network, time prior, training, ODE); a subclass adds its path's."""

    hidden_features: tuple[int, ...] | ByBudget = setting(
        BY_BUDGET, "residual block widths, e.g. '64,128,64'; auto: by budget"
    )
    conditioning: str | Candidates[str] | ByBudget = setting(
        BY_BUDGET,
        "how the inputs enter: concat (all at the input) | glu ([t, x] gates every block) | glu_theta "
        "(x is the input, [theta_t, t] gates every block: dingo's theta_with_glu); several, 'concat,glu': "
        "one fit each, keep the lowest validation NLL; auto: by budget, else glu when x_dim >= 50",
    )
    activation: str = setting("gelu", f"activation: {' | '.join(ACTIVATIONS)}")
    dropout: float = setting(
        0.0, "dropout probability inside every residual block, in [0, 1) (dingo's dropout); 0: none"
    )
    time_prior_exponent: float | Candidates[float] | ByBudget = setting(
        BY_BUDGET,
        "alpha of the time prior p(t) ~ t^alpha (> -1; 0 is uniform); several, e.g. '1,4': one fit each, "
        "keep the lowest validation NLL; auto: by budget",
    )
    batch_size: int | Candidates[int] | ByBudget = setting(
        BY_BUDGET,
        "minibatch size; several, e.g. '64,256': one fit each (with every alpha), keep the lowest "
        "validation NLL; auto: by budget",
    )
    learning_rate: float = setting(1e-3, "initial Adam learning rate")
    max_epochs: int | ByBudget = setting(BY_BUDGET, "upper bound on training epochs; auto: by budget")
    validation_fraction: float = setting(0.05, "fraction of the simulations held out for early stopping")
    validation_repeats: int = setting(
        10, "fixed noise draws per validation point (a deterministic validation loss)"
    )
    lr_decay_factor: float = setting(0.2, "learning-rate factor of the plateau schedule")
    lr_patience: int | ByBudget = setting(
        BY_BUDGET, "epochs without improvement before the learning rate decays; auto: by budget"
    )
    early_stopping_patience: int | ByBudget = setting(
        BY_BUDGET, "epochs without improvement before training stops; auto: by budget"
    )
    halving_epochs: int | ByBudget = setting(
        BY_BUDGET,
        "successive halving among candidates that differ only in alpha: all train this many epochs, the "
        "better half by validation NLL trains on to twice as many, and so on until one is left; 0: every "
        "candidate trains to its early stopping; auto: by budget",
    )
    solver: str = setting("dopri5", f"sampling ODE solver: {' | '.join(SOLVERS)}")
    steps: int = setting(16, "steps of a fixed-step solver (sampling and log_prob)")
    atol: float = setting(1e-5, "absolute tolerance of dopri5")
    rtol: float = setting(1e-5, "relative tolerance of dopri5")
    log_prob_solver: str = setting("dopri5", f"log_prob ODE solver: {' | '.join(SOLVERS)}")
    divergence: str = setting("exact", f"divergence in log_prob: {' | '.join(DIVERGENCES)}")

    CONFIG_VERSION: ClassVar[int] = 2

    def __post_init__(self) -> None:
        widths = self.hidden_features
        require(
            isinstance(widths, ByBudget)
            or (isinstance(widths, tuple) and len(widths) > 0 and all(map(_positive_int, widths))),
            "hidden_features",
            f"must be 'auto' or a non-empty tuple of positive integers, got {widths!r}",
        )
        conditionings = ", ".join(CONDITIONINGS)
        _require_options(
            self.conditioning, "conditioning", CONDITIONINGS.__contains__, f"one of {conditionings}"
        )
        require(self.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)}")
        require(_number(self.dropout), "dropout", f"must be a number in [0, 1), got {self.dropout!r}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout!r}")
        _require_options(self.time_prior_exponent, "time_prior_exponent", _alpha, "a number > -1")
        _require_options(self.batch_size, "batch_size", _positive_int, "a positive integer")
        for name in ("max_epochs", "lr_patience", "early_stopping_patience", "halving_epochs"):
            value = getattr(self, name)
            valid = _positive_int if name == "max_epochs" else _non_negative_int
            what = "a positive integer" if name == "max_epochs" else "a non-negative integer"
            require(
                isinstance(value, ByBudget) or valid(value), name, f"must be 'auto' or {what}, got {value!r}"
            )
        require(_number(self.learning_rate) and self.learning_rate > 0, "learning_rate", "must be positive")
        require(0 < self.validation_fraction < 1, "validation_fraction", "must be in (0, 1)")
        for name in ("validation_repeats", "steps"):
            require(_positive_int(getattr(self, name)), name, "must be a positive integer")
        require(0 < self.lr_decay_factor < 1, "lr_decay_factor", "must be in (0, 1)")
        for name in ("solver", "log_prob_solver"):
            require(getattr(self, name) in SOLVERS, name, f"must be one of {', '.join(SOLVERS)}")
        require(self.atol > 0, "atol", "must be positive")
        require(self.rtol > 0, "rtol", "must be positive")
        require(self.divergence in DIVERGENCES, "divergence", f"must be one of {', '.join(DIVERGENCES)}")
        # numbers as floats, so 4 and 4.0 are one setting (one hash, one label)
        object.__setattr__(self, "dropout", float(self.dropout))
        alpha = self.time_prior_exponent
        if isinstance(alpha, Candidates):
            object.__setattr__(self, "time_prior_exponent", Candidates(tuple(float(v) for v in alpha.values)))
        elif not isinstance(alpha, ByBudget):
            object.__setattr__(self, "time_prior_exponent", float(alpha))

    @classmethod
    def smoke(cls) -> FlowConfig:
        return cls(hidden_features=(16, 16), max_epochs=2, solver="rk4", steps=4, log_prob_solver="rk4")

    @classmethod
    def read_setting(cls, name: str, value: object) -> object:
        return read_setting(name, value)

    def to_dict(self) -> dict[str, object]:
        """The settings as JSON: ``"auto"`` where left to the budget, lists for candidates and widths."""
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def hash_extra(self, budget: int | None = None) -> dict[str, object]:
        """The tier table ``auto`` resolves from, so a change of a tier value changes the hash (with a
        ``budget``, only that budget's tier: changing another tier keeps this budget's results), and the
        version of the training code."""
        table = [tier_for(budget)] if budget is not None else list(tiers.BUDGET_TIERS)
        return {"budget_tiers": [_tier_json(tier) for tier in table], "training": TRAINING_VERSION}

    def resolved(self, budget: int, x_dim: int) -> FlowConfig:
        """The same settings with every ``auto`` replaced by its value for ``budget`` and ``x_dim``."""
        tier = tier_for(budget)
        by_budget = {
            "hidden_features": tier.hidden_features,
            "batch_size": tier.batch_size,
            "max_epochs": tier.max_epochs,
            "lr_patience": tier.lr_patience,
            "early_stopping_patience": tier.early_stopping_patience,
            "halving_epochs": tier.halving_epochs,
            "time_prior_exponent": tier.time_prior_exponent,
            "conditioning": tier.conditioning_for(x_dim),
        }
        left = {name: value for name, value in by_budget.items() if isinstance(getattr(self, name), ByBudget)}
        return dataclasses.replace(self, **left)

    def candidates(self, budget: int, x_dim: int) -> dict[str, Candidate]:
        """The networks a fit on ``budget`` simulations of ``x_dim``-long observations trains: one per
        combination of the selectable settings' candidates, by a label naming the values that vary
        (``""`` for a single network).

        >>> list(FmpeConfig(time_prior_exponent=Candidates((1.0, 4.0))).candidates(10_000, 2))
        ['time_prior_exponent=1.0', 'time_prior_exponent=4.0']
        """
        r = self.resolved(budget, x_dim)
        hidden, epochs = r.hidden_features, r.max_epochs
        lr_patience, stop_patience = r.lr_patience, r.early_stopping_patience
        assert not isinstance(hidden, ByBudget) and not isinstance(epochs, ByBudget)
        assert not isinstance(lr_patience, ByBudget) and not isinstance(stop_patience, ByBudget)
        selectable = {name: getattr(r, name) for name in SELECTABLE}
        out: dict[str, Candidate] = {}
        for label, chosen in combinations(selectable).items():
            train = TrainSettings(
                batch_size=int(chosen["batch_size"]),
                learning_rate=r.learning_rate,
                max_epochs=epochs,
                validation_fraction=r.validation_fraction,
                validation_repeats=r.validation_repeats,
                lr_decay_factor=r.lr_decay_factor,
                lr_patience=lr_patience,
                early_stopping_patience=stop_patience,
                time_prior_exponent=float(chosen["time_prior_exponent"]),
            )
            out[label] = Candidate(
                hidden_features=hidden,
                conditioning=str(chosen["conditioning"]),
                activation=r.activation,
                dropout=r.dropout,
                train=train,
                path=r.build_path(),
                sample_ode=OdeSettings(r.solver, r.steps, r.atol, r.rtol),
                log_prob_ode=OdeSettings(r.log_prob_solver, r.steps, r.atol, r.rtol),
                divergence=r.divergence,
            )
        return out

    @abstractmethod
    def build_path(self) -> ProbPath:
        """The conditional probability path."""


def _tier_json(tier: BudgetTier) -> dict[str, object]:
    """A tier as JSON for the hash: every field, candidates as lists."""
    out = {f.name: to_json(getattr(tier, f.name)) for f in dataclasses.fields(tier)}
    if isinstance(tier.conditioning, ByObservationLength):
        out["conditioning"] = {"glu_from_x_dim": tier.conditioning.min_x_dim}
    return out


@dataclass(frozen=True)
class FmpeConfig(FlowConfig):
    """FMPE on the Gaussian optimal-transport path (Dax et al. 2023)."""

    sigma_min: float = setting(1e-4, "width of the OT path at t = 1")

    RETIRED_HASHES: ClassVar[dict[str, str]] = TRAINING_1_HASHES

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.sigma_min < 1, "sigma_min", "must be in [0, 1)")

    def build_path(self) -> ProbPath:
        return OTPath(self.sigma_min)


@dataclass(frozen=True)
class FmpeVpConfig(FlowConfig):
    """FMPE on the variance-preserving diffusion path (Lipman et al. 2023)."""

    beta_min: float = setting(0.1, "noise rate of the VP path at the data end")
    beta_max: float = setting(20.0, "noise rate of the VP path at the noise end")
    vp_eps: float = setting(1e-3, "the VP path stops at t = 1 - vp_eps, where its velocity is finite")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.beta_min > 0, "beta_min", "must be positive")
        require(self.beta_max > self.beta_min, "beta_max", "must exceed beta_min")
        require(0 < self.vp_eps < 1, "vp_eps", "must be in (0, 1)")

    def build_path(self) -> ProbPath:
        return VPPath(self.beta_min, self.beta_max, self.vp_eps)
