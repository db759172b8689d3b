"""Peak memory of a block of work: the resident-set growth on CPU, the allocator's peak on CUDA.

On CPU a background thread samples the process's resident set size (``/proc/self/statm``, Linux) every
few milliseconds; the figure is the peak during the block minus the size on entry, so it measures what
the block added (model, optimiser state, activations), not the interpreter and libraries. On CUDA it is
``torch.cuda.max_memory_allocated`` during the block. Where neither is available the figure is ``None``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 2**20


def resident_bytes() -> int | None:
    """The process's resident set size in bytes, or ``None`` off Linux."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class PeakMemory:
    """Filled in when the :func:`peak_memory` block ends: ``megabytes`` (``None`` if unmeasurable)."""

    megabytes: float | None = None


@contextmanager
def peak_memory(device: str = "cpu", interval_s: float = 0.005) -> Iterator[PeakMemory]:
    """Measures the peak memory the block adds on ``device``."""
    result = PeakMemory()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield result
        result.megabytes = (torch.cuda.max_memory_allocated(device) - start) / MB
        return
    start = resident_bytes()
    if start is None:
        yield result
        return
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval_s):
            peak[0] = max(peak[0], resident_bytes() or 0)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield result
    finally:
        done.set()
        watcher.join()
        peak[0] = max(peak[0], resident_bytes() or 0)
        result.megabytes = (peak[0] - start) / MB
