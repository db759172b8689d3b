"""Wrappers of external methods, installed as ``fmbench.baselines``.

Importing this package registers sbi 0.27's NPE with a neural spline flow (``npe_nsf``) and with a
masked autoregressive flow (``npe_maf``).
"""

# imported for their registration side effects
from fmbench.baselines import sbi_fmpe, sbi_npe, sbi_npse  # noqa: F401
