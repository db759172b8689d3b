"""Provenance written into every result row: versions, git revision, device, processor, time."""

from __future__ import annotations

import functools
import platform
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


@functools.cache
def cpu_name() -> str:
    """The processor a row was computed on and the vector instructions torch uses there, e.g.
    ``"AMD EPYC (AVX2)"``.

    Floating-point kernels differ across processors in the last bits, which can move a classifier's
    training or a fit's early-stopping epoch: a row repeats to the last digit on the same kind of
    processor (``studies/NOTES.md``, "Refits on another machine"), not necessarily on another one.
    """
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown"
    return f"{model} ({torch.backends.cpu.get_cpu_capability()})"


def provenance(device: str) -> dict[str, str]:
    """The provenance fields of a result row (without the per-row seed and config)."""
    return {
        "fmbench_version": fmbench.__version__,
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        "sbi_version": package_version("sbi"),
        "device": device_name(device),
        "cpu": cpu_name(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
