"""The toy tasks and methods of ``toys.py`` as a plugin file, for runs in other processes
(``fmbench --plugin tests/toy_plugin.py run ...``, worker processes, submitit jobs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import toys  # noqa: E402

toys.register()
