"""The safe store: atomic files, locks and job claims in an output folder shared by any number of workers.

Every file of an output folder is written to a temporary name and renamed into place, so a reader (or a
run that was killed mid-write) never sees a torn file. Read-modify-write of a shared file (a cell's rows)
happens under an exclusive lock (:func:`locked`); a job holds a claim (:func:`claim`) while it runs, so
two workers never do the same work at once. Both are ``flock`` locks on small ``.lock`` files: the kernel
releases them when their process dies, however it dies, so a killed job never leaves a stale claim. They
need a file system with working ``flock`` (local disks; NFS on Linux, where it is emulated with POSIX
locks; Lustre mounted with ``-o flock``).

A file that cannot be read back (truncated, corrupted) raises :class:`DamagedFileError`, whose message
names the file; callers rebuild what can be rebuilt and never use what they could not read.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

#: Folder of the job claims inside an output folder.
CLAIMS_DIR = "claims"


class DamagedFileError(RuntimeError):
    """A file of the store that cannot be read back; the message names its path."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"damaged file {path}: {reason}")
        self.path = path


def _process_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The permissions a file of the store gets: those ``open`` gives a new file (``0o666`` less the umask), so
#: that the rest of a group sharing an output folder can read it (a temporary file alone would be 0600).
FILE_MODE = 0o666 & ~_process_umask()


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Calls ``write(tmp)`` on a temporary file beside ``path``, flushes it to disk and renames it to
    ``path`` with :data:`FILE_MODE`; the temporary file is removed if anything fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_torch(obj: Any, path: Path) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: Path, *, weights_only: bool) -> Any:
    """``torch.load`` of a file this store wrote; raises :class:`DamagedFileError` if it cannot be read."""
    try:
        return torch.load(path, weights_only=weights_only)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise DamagedFileError(Path(path), f"{type(err).__name__}: {err}") from None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``path`` (a ``.lock`` file beside the data it guards), waiting for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Claim:
    """A job's claim: an exclusive, non-blocking lock held until :meth:`release` (or the process's end).

    Args:
        path: The claim's lock file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle: Any = None

    def acquire(self) -> bool:
        """Takes the claim; ``False`` if another live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a")  # noqa: SIM115 - kept open while the claim is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        """Gives the claim back."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_path(out: Path, name: str) -> Path:
    """The lock file of the claim called ``name`` in output folder ``out``."""
    return Path(out) / CLAIMS_DIR / f"{name}.lock"


def is_claimed(path: Path) -> bool:
    """Whether a live process holds the claim at ``path`` right now."""
    probe = Claim(path)
    if probe.acquire():
        probe.release()
        return False
    return True
