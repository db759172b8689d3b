"""Metrics comparing posterior samples with reference posterior samples."""

from fmbench.metrics.c2st import C2ST_BACKENDS, C2ST_CONVENTION, c2st

__all__ = ["C2ST_BACKENDS", "C2ST_CONVENTION", "c2st"]
