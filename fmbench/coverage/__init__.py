"""Calibration of fitted posteriors: expected coverage on held-out prior-predictive pairs.

- :mod:`fmbench.coverage.ranks`: the rank statistics (TARP, HPD) and the coverage curve of a posterior;
- :mod:`fmbench.coverage.cells`: the coverage of each cell of a run, kept per cell under ``OUT/coverage/``;
- :mod:`fmbench.coverage.plot`: coverage plots (matplotlib is imported only when one is drawn).
"""

from fmbench.coverage.cells import (
    COVERAGE_DIR,
    COVERAGE_FILE,
    CoverageOptions,
    assemble_coverage,
    calibrate,
    coverage_curves,
    coverage_path,
    read_coverage,
)
from fmbench.coverage.plot import plot_coverage, plot_coverage_grid
from fmbench.coverage.ranks import (
    COVERAGE_METHODS,
    CoverageCurve,
    coverage_curve,
    expected_coverage,
    hpd_ranks,
    tarp_ranks,
)

__all__ = [
    "COVERAGE_DIR",
    "COVERAGE_FILE",
    "COVERAGE_METHODS",
    "CoverageCurve",
    "CoverageOptions",
    "assemble_coverage",
    "calibrate",
    "coverage_curve",
    "coverage_curves",
    "coverage_path",
    "expected_coverage",
    "hpd_ranks",
    "plot_coverage",
    "plot_coverage_grid",
    "read_coverage",
    "tarp_ranks",
]
