"""sbi 0.27's Neural Posterior Estimation (NPE, a.k.a. SNPE-C in one round) with a normalizing flow.

``npe_nsf`` uses a neural spline flow, ``npe_maf`` a masked autoregressive flow, both built by sbi's
``posterior_nn`` with sbibm's sizes (50 hidden features, 5 transforms, 10 bins) and trained by sbi's
loop at its defaults (batch 200, learning rate 5e-4, 10% validation, early stopping after 20 epochs
without improvement). Note: sbibm's published NPE numbers used full-batch training (batch 10,000); set
``training_batch_size=10000`` to reproduce that choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.distributions import Distribution

from fmbench.baselines.sbi_common import NullTracker, SbiPosterior, sbi_cost, train_sbi
from fmbench.method import FitContext, Method, MethodConfig, Posterior, require, setting
from fmbench.registry import METHODS


@dataclass(frozen=True)
class NpeConfig(MethodConfig):
    """Settings of sbi's NPE (defaults: sbibm's flow sizes, sbi's training loop)."""

    hidden_features: int = setting(50, "hidden units of each flow transform's network")
    num_transforms: int = setting(5, "number of flow transforms")
    num_bins: int = setting(10, "spline bins (nsf only)")
    training_batch_size: int = setting(200, "minibatch size (sbibm's published runs used 10000)")
    learning_rate: float = setting(5e-4, "Adam learning rate")
    validation_fraction: float = setting(0.1, "fraction of the simulations held out for early stopping")
    stop_after_epochs: int = setting(20, "early-stopping patience in epochs")
    max_num_epochs: int = setting(2**31 - 1, "upper bound on training epochs")

    @classmethod
    def smoke(cls) -> NpeConfig:
        return cls(hidden_features=8, num_transforms=1, num_bins=4, max_num_epochs=2)

    def __post_init__(self) -> None:
        for name in (
            "hidden_features",
            "num_transforms",
            "num_bins",
            "training_batch_size",
            "stop_after_epochs",
            "max_num_epochs",
        ):
            require(
                isinstance(getattr(self, name), int) and getattr(self, name) > 0,
                name,
                "must be a positive integer",
            )
        require(self.learning_rate > 0, "learning_rate", "must be positive")
        require(0 < self.validation_fraction < 1, "validation_fraction", "must be in (0, 1)")


class _SbiNpe(Method):
    """NPE through sbi with the flow named by ``density_estimator``."""

    Config = NpeConfig
    density_estimator: str

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        from sbi.inference import NPE
        from sbi.neural_nets import posterior_nn

        c = self.config
        builder = posterior_nn(
            model=self.density_estimator,
            hidden_features=c.hidden_features,
            num_transforms=c.num_transforms,
            num_bins=c.num_bins,
        )
        inference = NPE(
            prior=prior,
            density_estimator=builder,
            device=context.device,
            show_progress_bars=False,  # see sbi_common: sbi's per-epoch prints
            tracker=NullTracker(),
        )
        estimator, epochs = train_sbi(
            inference,
            theta,
            x,
            context,
            training_batch_size=c.training_batch_size,
            learning_rate=c.learning_rate,
            validation_fraction=c.validation_fraction,
            stop_after_epochs=c.stop_after_epochs,
            max_num_epochs=c.max_num_epochs,
        )
        posterior = inference.build_posterior(estimator)
        return SbiPosterior(posterior, sbi_cost(estimator, epochs, passes_per_sample=1.0))


@METHODS.register("npe_nsf")
class NpeNsf(_SbiNpe):
    description = "sbi 0.27 NPE with a neural spline flow"
    density_estimator = "nsf"


@METHODS.register("npe_maf")
class NpeMaf(_SbiNpe):
    description = "sbi 0.27 NPE with a masked autoregressive flow"
    density_estimator = "maf"
