"""The budget tiers: fmpe's values for the settings left to the budget (:data:`BY_BUDGET`, ``auto`` on the
command line).

The paper, too, used smaller networks and batches at small budgets; its two_moons network at 1e5 (widths
``32 ... 1024 ... 32``, batch 64) is far too slow for CPU. How each value was chosen, on held-out
simulations only, with the commands: ``studies/NOTES.md``.

=======  ==========================  ========  ======  ===========  =========  ============
budget   hidden_features             batch     epochs  patience     alpha      conditioning
=======  ==========================  ========  ======  ===========  =========  ============
<= 3e3   64,128,128,128,64           64 | 256  3000    30 / 100     0 | 1 | 4  by x_dim
<= 3e4   64,128,128,128,64           128       1000    15 / 40      1          by x_dim
larger   64,128,256,256,256,128,64   256       300     5 / 15       1          by x_dim
=======  ==========================  ========  ======  ===========  =========  ============

(patience: of the learning-rate plateau / of early stopping, in epochs; alpha 1 above 3e3, not the paper's
4: ``studies/NOTES.md``, "Time prior α" and "Time prior at 1e5".) Above 3e3 a fit trains one network:
the four candidates (alpha 1 or 4, concat or glu) that the 1e4 tier selected from until 2026-12 cost about
twice npe_nsf's fit time, where one takes about half, for 0.01-0.08 nats of held-out NLL and 0.02 of C2ST
on average (``studies/NOTES.md``, "What fmpe's fit time buys" and "One network at 1e4").
No tier races its candidates by successive halving (``halving_epochs`` 0): at 1e3 it halved the fit time
and lost two_moons' best candidate (``studies/NOTES.md``).
``a | b``: :class:`~fmbench.fmpe.selection.Candidates`, one fit each, the lowest validation NLL kept.
"by x_dim": :class:`ByObservationLength`, glu for observations of at least 50 entries, else concat (the
paper used GLU for its 100-dimensional observations).

>>> tier_for(10_000).max_epochs
1000
"""

from __future__ import annotations

from dataclasses import dataclass

from fmbench.fmpe.selection import Candidates


@dataclass(frozen=True)
class ByBudget:
    """A setting whose value comes from its budget's tier (written ``auto`` in text and JSON)."""

    def __repr__(self) -> str:
        return "auto"


#: The value of every setting left to the budget.
BY_BUDGET = ByBudget()


#: Observations at least this long get GLU conditioning from :class:`ByObservationLength`.
GLU_MIN_X_DIM = 50


@dataclass(frozen=True)
class ByObservationLength:
    """Conditioning by the observation's length: ``glu`` from ``min_x_dim`` entries on, else ``concat``."""

    min_x_dim: int = GLU_MIN_X_DIM

    def pick(self, x_dim: int) -> str:
        """The conditioning of observations of ``x_dim`` entries."""
        return "glu" if x_dim >= self.min_x_dim else "concat"


@dataclass(frozen=True)
class BudgetTier:
    """The values of the settings left to the budget, for budgets up to ``max_budget`` simulations.

    Patience is in epochs, so it shrinks as epochs grow longer: about 1.5k, 3k and 5.5k optimizer steps
    without improvement before training stops (two_moons 1e3 improved steadily for about 8k steps).
    """

    max_budget: float
    hidden_features: tuple[int, ...]
    batch_size: int | Candidates[int]
    max_epochs: int
    lr_patience: int
    early_stopping_patience: int
    time_prior_exponent: float | Candidates[float]
    conditioning: str | Candidates[str] | ByObservationLength
    halving_epochs: int = 0  # successive halving of the candidates from this epoch on; 0: none

    def conditioning_for(self, x_dim: int) -> str | Candidates[str]:
        """The tier's conditioning for observations of ``x_dim`` entries."""
        if isinstance(self.conditioning, ByObservationLength):
            return self.conditioning.pick(x_dim)
        return self.conditioning


#: The tiers by budget; a budget takes the first whose ``max_budget`` it does not exceed.
BUDGET_TIERS: tuple[BudgetTier, ...] = (
    BudgetTier(
        3_000,
        (64, 128, 128, 128, 64),
        Candidates((64, 256)),
        3000,
        30,
        100,
        Candidates((0.0, 1.0, 4.0)),
        ByObservationLength(),
    ),
    BudgetTier(30_000, (64, 128, 128, 128, 64), 128, 1000, 15, 40, 1.0, ByObservationLength()),
    BudgetTier(float("inf"), (64, 128, 256, 256, 256, 128, 64), 256, 300, 5, 15, 1.0, ByObservationLength()),
)


def tier_for(budget: int) -> BudgetTier:
    """The :class:`BudgetTier` of ``budget`` simulations."""
    return next(tier for tier in BUDGET_TIERS if budget <= tier.max_budget)
