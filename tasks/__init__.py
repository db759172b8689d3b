"""Benchmark tasks, installed as ``fmbench.tasks``.

Importing this package registers the ten sbibm tasks under their sbibm names.
"""

from fmbench.tasks import julia_free, sbibm_tasks  # noqa: F401  (registration side effects)
from fmbench.tasks.sbibm_tasks import SBIBM_TASKS, SbibmTask

__all__ = ["SBIBM_TASKS", "SbibmTask"]
