"""Metrics comparing posterior samples with reference samples (calibration is :mod:`fmbench.coverage`)."""

from fmbench.metrics.c2st import C2ST_BACKENDS, C2ST_CONVENTION, c2st
from fmbench.metrics.c2st_torch import MLPSettings, c2st_torch_backend
from fmbench.metrics.mmd import MMD_CONVENTION, mmd
from fmbench.metrics.nltp import mean_nltp, nltp

__all__ = [
    "C2ST_BACKENDS",
    "C2ST_CONVENTION",
    "MMD_CONVENTION",
    "MLPSettings",
    "c2st",
    "c2st_torch_backend",
    "mean_nltp",
    "mmd",
    "nltp",
]
