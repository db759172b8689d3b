"""The in-house Flow Matching Posterior Estimation (Dax et al., NeurIPS 2023)."""
