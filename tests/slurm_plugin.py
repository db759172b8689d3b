"""The toys of ``toy_plugin.py`` and ``toy_sleep``, a ``toy_exact`` whose fit sleeps for
``$FMBENCH_TOY_SLEEP_S`` seconds (0 if unset): a job that runs long without using a CPU, whose cells stay
the same whatever it sleeps (the time is not a setting). For the SLURM tests (``tests/test_slurm.py``)."""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import toys  # noqa: E402

from fmbench.method import FitContext, Posterior  # noqa: E402
from fmbench.registry import METHODS  # noqa: E402


class ToySleep(toys.ToyExact):
    Config = toys.ToyConfig
    description = "toy_exact with a fit that sleeps $FMBENCH_TOY_SLEEP_S seconds (SLURM tests only)"

    def fit(self, theta, x, prior, context: FitContext) -> Posterior:
        time.sleep(float(os.environ.get("FMBENCH_TOY_SLEEP_S", "0")))
        return super().fit(theta, x, prior, context)


toys.register()
if "toy_sleep" not in METHODS:
    METHODS.add("toy_sleep", ToySleep)
