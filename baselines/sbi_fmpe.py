"""sbi 0.27's flow matching posterior estimation (``sbi_fmpe``) at sbi's defaults, a reference implementation.

sbi's FMPE differs from the paper's (and fmbench's ``fmpe``): uniform time, a small MLP vector field (5
layers of 100 units, sinusoidal time embedding), reversed time, and sampling by an adaptive ODE solve
(zuko's ``FreeFormJacobianTransform``, atol 1e-6, rtol 1e-5). Training uses sbi's loop at its defaults
(batch 200, learning rate 5e-4, 10% validation, early stopping after 20 epochs without improvement).

Network passes per sample are counted while sampling (a forward hook on the estimator's network adds up the
rows it evaluates), so an adaptive solve reports what it really cost. :class:`CountingSbiPosterior` is shared
with ``npse`` (:mod:`fmbench.baselines.sbi_npse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from fmbench.baselines.sbi_common import NullTracker, SbiPosterior, sbi_cost, train_sbi
from fmbench.fmpe.ode import FlowSample, OdeSettings, solve_flow
from fmbench.method import FitContext, FitCost, Method, MethodConfig, Posterior, require, setting
from fmbench.registry import METHODS


class CountingSbiPosterior(SbiPosterior):
    """An :class:`SbiPosterior` that counts the network passes of each :meth:`sample` call.

    Args:
        posterior: sbi's ``VectorFieldPosterior``.
        net: The network inside the posterior's vector-field estimator (its calls are counted).
        cost: What fitting cost; its ``passes_per_sample`` is the figure before any sampling.
        sample_kwargs: Extra keyword arguments of sbi's ``sample``.
    """

    def __init__(
        self, posterior: Any, net: nn.Module, cost: FitCost, sample_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(posterior, cost, sample_kwargs)
        self._net = net
        self._last_passes: float | None = None

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        rows = 0

        def count(module: nn.Module, args: tuple[Tensor, ...]) -> None:
            nonlocal rows
            rows += args[0].shape[0]

        handle = self._net.register_forward_pre_hook(count)
        try:
            samples = super().sample(n, x_o)
        finally:
            handle.remove()
        self._last_passes = rows / n
        return samples

    @property
    def passes_per_sample(self) -> float | None:
        """Network passes per sample of the last :meth:`sample` (the fit-time figure before that)."""
        return self._last_passes if self._last_passes is not None else self.cost.passes_per_sample

    def sample_by_ode(self, n: int, x_o: Tensor, settings: OdeSettings) -> FlowSample:
        """``n`` samples ``(n, D)`` by fmbench's own solve of the estimator's probability-flow ODE (its
        ``ode_fn``, from the base distribution at ``t_max`` to ``t_min``) with ``settings`` instead of sbi's
        sampler (zuko's adaptive solve for FMPE, the reverse SDE for NPSE), and the network passes made."""
        estimator = self._posterior.vector_field_estimator
        potential = self._posterior.potential_fn
        potential.set_x(x_o.reshape(1, -1), x_is_iid=False)
        condition = potential.x_o
        base = estimator.mean_base + estimator.std_base * torch.randn(n, *estimator.input_shape)

        def field(t: Tensor, theta: Tensor) -> Tensor:
            return estimator.ode_fn(theta, condition, t.reshape(1))

        with torch.no_grad():
            out = solve_flow(field, base, estimator.t_max, estimator.t_min, settings)
            theta = estimator.from_z(out.theta) if estimator.compose_enabled else out.theta
        return FlowSample(theta=theta, evaluations=out.evaluations)

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        """sbi's log density by its probability-flow ODE; -inf outside the prior's support (sbi's choice)."""
        return self._posterior.log_prob(theta, x=x_o.reshape(1, -1)).detach()


@dataclass(frozen=True)
class SbiTrainConfig(MethodConfig):
    """sbi's training-loop settings for its vector-field estimators (sbi's defaults)."""

    training_batch_size: int = setting(200, "minibatch size")
    learning_rate: float = setting(5e-4, "Adam learning rate")
    validation_fraction: float = setting(0.1, "fraction of the simulations held out for early stopping")
    stop_after_epochs: int = setting(20, "early-stopping patience in epochs")
    max_num_epochs: int = setting(2**31 - 1, "upper bound on training epochs")

    def __post_init__(self) -> None:
        for name in ("training_batch_size", "stop_after_epochs", "max_num_epochs"):
            value = getattr(self, name)
            require(isinstance(value, int) and value > 0, name, "must be a positive integer")
        require(self.learning_rate > 0, "learning_rate", "must be positive")
        require(0 < self.validation_fraction < 1, "validation_fraction", "must be in (0, 1)")

    @classmethod
    def smoke(cls) -> SbiTrainConfig:
        return cls(max_num_epochs=2)

    def train_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of sbi's ``train``."""
        return {
            "training_batch_size": self.training_batch_size,
            "learning_rate": self.learning_rate,
            "validation_fraction": self.validation_fraction,
            "stop_after_epochs": self.stop_after_epochs,
            "max_num_epochs": self.max_num_epochs,
        }


def fit_sbi_vector_field(
    inference: Any,
    theta: Tensor,
    x: Tensor,
    context: FitContext,
    config: SbiTrainConfig,
    passes_per_sample: float | None,
    sample_kwargs: dict[str, Any] | None = None,
) -> CountingSbiPosterior:
    """Trains an sbi vector-field method (``FMPE`` or ``NPSE``) and wraps its posterior."""
    estimator, epochs = train_sbi(inference, theta, x, context, **config.train_kwargs())
    posterior = inference.build_posterior(estimator)
    cost = sbi_cost(estimator, epochs, passes_per_sample)
    # build_posterior works on its own copy of the estimator: count the calls of that copy's network
    return CountingSbiPosterior(posterior, posterior.vector_field_estimator.net, cost, sample_kwargs)


@METHODS.register("sbi_fmpe")
class SbiFmpe(Method):
    """sbi 0.27's ``FMPE`` with its default MLP vector field, sampled by its adaptive ODE solve."""

    description = "sbi 0.27 FMPE at its defaults (uniform time, MLP, adaptive ODE)"
    Config = SbiTrainConfig

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        from sbi.inference import FMPE

        inference = FMPE(
            prior=prior,
            device=context.device,
            tracker=NullTracker(),
            show_progress_bars=False,  # see sbi_common: sbi's per-epoch prints
        )
        return fit_sbi_vector_field(inference, theta, x, context, self.config, passes_per_sample=None)  # type: ignore[arg-type]
