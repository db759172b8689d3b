"""sbi 0.27's neural posterior score estimation (``npse``), at sbi's defaults, as a reference implementation.

NPSE (Geffner et al. 2023; Sharrock et al. 2024) trains a score network by denoising score matching on a
diffusion (sbi's default: the variance-exploding SDE, an MLP score network) and samples by integrating the
reverse SDE with sbi's Euler-Maruyama predictor in ``steps`` steps (500 by default), one network pass per
step and sample. Training uses sbi's loop at its defaults (see :mod:`fmbench.baselines.sbi_fmpe`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.distributions import Distribution

from fmbench.baselines.sbi_common import NullTracker
from fmbench.baselines.sbi_fmpe import SbiTrainConfig, fit_sbi_vector_field
from fmbench.method import FitContext, Method, Posterior, require, setting
from fmbench.registry import METHODS

SDE_TYPES = ("ve", "vp", "subvp")


@dataclass(frozen=True)
class NpseConfig(SbiTrainConfig):
    """sbi's NPSE settings (sbi's defaults)."""

    sde_type: str = setting("ve", f"diffusion of the score model: {' | '.join(SDE_TYPES)}")
    sampling_steps: int = setting(500, "Euler-Maruyama steps of the reverse SDE (one network pass each)")

    @classmethod
    def smoke(cls) -> NpseConfig:
        return cls(max_num_epochs=2, sampling_steps=20)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.sde_type in SDE_TYPES, "sde_type", f"must be one of {', '.join(SDE_TYPES)}")
        require(
            isinstance(self.sampling_steps, int) and self.sampling_steps > 0,
            "sampling_steps",
            "must be a positive integer",
        )


@METHODS.register("npse")
class Npse(Method):
    """sbi 0.27's ``NPSE`` with its default score network, sampled by its reverse SDE."""

    description = "sbi 0.27 NPSE (score-based) at its defaults (VE SDE, MLP, 500 Euler-Maruyama steps)"
    Config = NpseConfig

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        from sbi.inference import NPSE

        c: NpseConfig = self.config  # type: ignore[assignment]
        inference = NPSE(
            prior=prior,
            sde_type=c.sde_type,
            device=context.device,
            tracker=NullTracker(),
            show_progress_bars=False,  # see sbi_common: sbi's per-epoch prints
        )
        return fit_sbi_vector_field(
            inference,
            theta,
            x,
            context,
            c,
            passes_per_sample=float(c.sampling_steps),
            sample_kwargs={"steps": c.sampling_steps},
        )
