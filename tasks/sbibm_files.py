"""Read the observations, true parameters and reference posteriors that sbibm 1.1.0 ships as files.

Used for the tasks whose sbibm module cannot be imported here (sir and lotka_volterra import Julia's
diffeqtorch at module level); the files are the same ones sbibm's own getters read.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor


def task_files(name: str, i: int) -> Path:
    """The folder of sbibm's files for observation ``i`` of task ``name``."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("sbibm is not installed; see the README's install command")
    return Path(spec.origin).parent / "tasks" / name / "files" / f"num_observation_{i}"


def _read(name: str, i: int, file: str) -> Tensor:
    frame = pd.read_csv(task_files(name, i) / file)
    return torch.as_tensor(frame.to_numpy(), dtype=torch.float32)


def observation(name: str, i: int) -> Tensor:
    """Observation ``i``, shape ``(x_dim,)``."""
    return _read(name, i, "observation.csv").reshape(-1)


def true_parameters(name: str, i: int) -> Tensor:
    """True parameters of observation ``i``, shape ``(theta_dim,)``."""
    return _read(name, i, "true_parameters.csv").reshape(-1)


def reference_samples(name: str, i: int) -> Tensor:
    """The 10,000 reference posterior samples of observation ``i``, shape ``(10000, theta_dim)``."""
    return _read(name, i, "reference_posterior_samples.csv.bz2")
