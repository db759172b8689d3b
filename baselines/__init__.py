"""Wrappers of external methods, installed as ``fmbench.baselines``.

Importing this package registers sbi 0.27's NPE with a neural spline flow (``npe_nsf``) and with a
masked autoregressive flow (``npe_maf``).
"""

from fmbench.baselines import sbi_npe  # noqa: F401  (registration side effects)
from fmbench.baselines import sbi_fmpe  # noqa: F401,E402  (registration side effects)
from fmbench.baselines import sbi_npse  # noqa: F401,E402  (registration side effects)
