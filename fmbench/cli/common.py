"""What every ``fmbench`` command shares: the one-line usage error and the checks of a device and an
output folder."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import NoReturn


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors raise :class:`UsageError` instead of printing the usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def check_device(text: str, here: bool = True) -> str:
    """``text`` if it names a torch device (``cpu``, ``cuda``, ``cuda:1``) that this machine has, else
    raises :class:`UsageError`. With ``here`` false (jobs that run on other machines, such as SLURM's
    nodes, and collecting their rows) only the name is checked."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device: unknown device {text!r}; valid: cpu, cuda, cuda:N") from None
    if device.type == "cpu":
        return text
    if device.type != "cuda":
        raise UsageError(f"--device: {text!r} is not supported; valid: cpu, cuda, cuda:N")
    if not here:
        return text
    if not torch.cuda.is_available():
        raise UsageError(f"--device {text!r}: this machine has no CUDA device (torch {torch.__version__})")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {text!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return text


def check_writable(out: Path) -> None:
    """Creates ``out`` if needed; raises :class:`UsageError` when a file cannot be written there."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UsageError(f"--out: folder {out} cannot be written: {err.strerror or err}") from None


def set_threads(threads: int | None) -> None:
    """Sets torch's intra-op threads when ``threads`` is given."""
    if threads:
        import torch

        torch.set_num_threads(threads)
