"""Shared fixtures: seeded torch, the toy registrations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import toys  # noqa: E402

toys.register()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
