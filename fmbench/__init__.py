"""fmbench: Flow Matching Posterior Estimation against Neural Posterior Estimation on the sbibm tasks."""

__version__ = "0.1.0"
