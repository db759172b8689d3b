"""Metrics comparing posterior samples with reference posterior samples, and posterior calibration."""

from fmbench.metrics.c2st import C2ST_BACKENDS, C2ST_CONVENTION, c2st
from fmbench.metrics.c2st_torch import MLPSettings, c2st_torch_backend
from fmbench.metrics.coverage import (
    COVERAGE_METHODS,
    CoverageCurve,
    coverage_curve,
    expected_coverage,
    hpd_ranks,
    tarp_ranks,
)
from fmbench.metrics.coverage_plot import plot_coverage
from fmbench.metrics.mmd import MMD_CONVENTION, mmd
from fmbench.metrics.nltp import mean_nltp, nltp

__all__ = [
    "C2ST_BACKENDS",
    "C2ST_CONVENTION",
    "COVERAGE_METHODS",
    "MMD_CONVENTION",
    "CoverageCurve",
    "MLPSettings",
    "c2st",
    "c2st_torch_backend",
    "coverage_curve",
    "expected_coverage",
    "hpd_ranks",
    "mean_nltp",
    "mmd",
    "nltp",
    "plot_coverage",
    "tarp_ranks",
]
