"""What every sbi-wrapped method shares: the posterior adapter and the training call.

sbi draws its own progress bars and rejects samples outside the prior by default; here sampling never
rejects (``reject_outside_prior=False``) because fmbench's runner rejects for every method alike.

sbi's trainers are built with ``show_progress_bars=False`` whatever ``FitContext.show_progress`` says: in
sbi 0.27 that flag only makes the training loop print "Training neural network. Epochs trained: N" once per
epoch (``NeuralInference._maybe_show_progress``), which floods the terminal under fmbench's own progress
bar; the runner's bar already shows the fit. It changes nothing else of the fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from fmbench.method import FitContext, FitCost, Posterior, count_parameters


class SbiPosterior(Posterior):
    """Adapts an sbi ``NeuralPosterior`` to the :class:`~fmbench.method.Posterior` contract.

    Args:
        posterior: The sbi posterior built by ``inference.build_posterior``.
        cost: What fitting cost.
        sample_kwargs: Extra keyword arguments of sbi's ``sample`` (e.g. the sampler's step count).
    """

    def __init__(self, posterior: Any, cost: FitCost, sample_kwargs: dict[str, Any] | None = None) -> None:
        self._posterior = posterior
        self._cost = cost
        self._sample_kwargs = dict(sample_kwargs or {})

    has_log_prob = True

    @property
    def cost(self) -> FitCost:
        return self._cost

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        with torch.no_grad(), warnings.catch_warnings():
            # sbi warns when samples leave the prior's support; the runner rejects and records them.
            warnings.filterwarnings("ignore", message=".*lie outside the prior support.*")
            return self._posterior.sample(
                (n,),
                x=x_o.reshape(1, -1),
                reject_outside_prior=False,
                show_progress_bars=False,
                **self._sample_kwargs,
            )

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        """Log density of sbi's estimator, not renormalised to the prior's support."""
        with torch.no_grad():
            return self._posterior.log_prob(theta, x=x_o.reshape(1, -1), norm_posterior=False)


class NullTracker:
    """An sbi experiment tracker that records nothing (sbi's default writes TensorBoard logs to sbi-logs)."""

    log_dir = None

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Discards the metric."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Discards the metrics."""

    def log_params(self, params: dict[str, Any]) -> None:
        """Discards the parameters."""

    def add_figure(self, name: str, figure: Any, step: int | None = None) -> None:
        """Discards the figure."""

    def flush(self) -> None:
        """Nothing to flush."""


def train_sbi(
    inference: Any, theta: Tensor, x: Tensor, context: FitContext, **train_kwargs: Any
) -> tuple[Any, int]:
    """Appends the simulations, trains, and returns ``(estimator, epochs trained)``."""
    inference.append_simulations(theta.to(context.device), x.to(context.device))
    estimator = inference.train(show_train_summary=False, **train_kwargs)
    epochs = int(inference.summary["epochs_trained"][-1])
    return estimator, epochs


def sbi_cost(estimator: torch.nn.Module, epochs: int, passes_per_sample: float | None) -> FitCost:
    """The :class:`FitCost` of a trained sbi estimator."""
    return FitCost(
        epochs=epochs, num_parameters=count_parameters(estimator), passes_per_sample=passes_per_sample
    )
