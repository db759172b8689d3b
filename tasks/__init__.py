"""Benchmark tasks, installed as ``fmbench.tasks``.

Importing this package registers the ten sbibm tasks under their sbibm names.
"""

from fmbench.tasks import lotka_volterra, sbibm_tasks, sir  # noqa: F401  (registration side effects)
from fmbench.tasks.sbibm_tasks import SBIBM_TASKS, SbibmTask

__all__ = ["SBIBM_TASKS", "SbibmTask"]
