"""Provenance written into every result row: versions, git revision, device, time."""

from __future__ import annotations

import functools
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

import fmbench


@functools.cache
def git_revision() -> str:
    """The git revision of the fmbench source tree (``+dirty`` if modified), or ``"unknown"``."""
    root = Path(fmbench.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def package_version(name: str) -> str:
    """The installed version of ``name``, or ``"absent"``."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def device_name(device: str) -> str:
    """``"cpu"`` or the CUDA device's name, e.g. ``"cuda:NVIDIA H200"``."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(torch.device(device))}"
    return device


def provenance(device: str) -> dict[str, str]:
    """The provenance fields of a result row (without the per-row seed and config)."""
    return {
        "fmbench_version": fmbench.__version__,
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        "sbi_version": package_version("sbi"),
        "device": device_name(device),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
