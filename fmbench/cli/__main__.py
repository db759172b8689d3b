"""``python -m fmbench.cli``: the ``fmbench`` command."""

import sys

from fmbench.cli import main

sys.exit(main())
