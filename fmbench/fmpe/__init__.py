"""The in-house Flow Matching Posterior Estimation (Dax et al., NeurIPS 2023).

One concept per module: :mod:`~fmbench.fmpe.path` (the OT and VP conditional paths),
:mod:`~fmbench.fmpe.network` (the residual vector-field network), :mod:`~fmbench.fmpe.train` (z-scoring
and the training loop), :mod:`~fmbench.fmpe.ode` (sampling and densities with torchdiffeq),
:mod:`~fmbench.fmpe.config` (the settings), :mod:`~fmbench.fmpe.tiers` (the values of the settings
left to the budget), :mod:`~fmbench.fmpe.selection` (several candidate values, the lowest validation NLL
kept), :mod:`~fmbench.fmpe.parsing` (settings from text and JSON) and :mod:`~fmbench.fmpe.method` (the
registered methods ``fmpe`` and ``fmpe_vp``). Importing this package registers them.
"""

from fmbench.fmpe.config import FmpeConfig, FmpeVpConfig
from fmbench.fmpe.method import FlowPosterior, Fmpe, FmpeVp

__all__ = ["Fmpe", "FmpeConfig", "FmpeVp", "FmpeVpConfig", "FlowPosterior"]
