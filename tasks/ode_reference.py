"""Independent high-accuracy solves of the sir and lotka_volterra ODEs, to check the fast solver.

Written separately from the tasks on purpose: the ODEs in their original variables (sbibm's form, not
our logarithms), solved one parameter vector at a time by scipy's ``solve_ivp`` (DOP853, an 8th-order
method, at ``rtol = 1e-12`` and a negligible absolute tolerance, so that the error is relative even for
tiny populations).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

RTOL, ATOL = 1e-12, 1e-30
POPULATION = 1e6


def _sir(p: list[float]) -> Callable[[float, np.ndarray], list[float]]:
    beta, gamma = p

    def rhs(t: float, u: np.ndarray) -> list[float]:
        s, i, _ = u
        return [-beta * s * i / POPULATION, beta * s * i / POPULATION - gamma * i, gamma * i]

    return rhs


def _lotka_volterra(p: list[float]) -> Callable[[float, np.ndarray], list[float]]:
    alpha, beta, gamma, delta = p

    def rhs(t: float, u: np.ndarray) -> list[float]:
        prey, predators = u
        return [alpha * prey - beta * prey * predators, -gamma * predators + delta * prey * predators]

    return rhs


#: Per task: the right-hand side, the initial state, the summary times, the state components compared
#: with the fast solver's ``(N, T, 2)`` output (sir: S and I), sbibm's end time.
SYSTEMS = {
    "sir": (_sir, [POPULATION - 1.0, 1.0, 0.0], [17.0 * k for k in range(10)], [0, 1], 160.0),
    "lotka_volterra": (_lotka_volterra, [30.0, 1.0], [21 * k / 10 for k in range(10)], [0, 1], 20.0),
}


def reference_solve(name: str, theta: Tensor) -> Tensor:
    """The states at the summary times, ``(N, T, 2)`` float64, for ``theta`` ``(N, D)`` of task ``name``."""
    rhs, y0, times, comps, t_end = SYSTEMS[name]
    out = []
    for p in theta.to(torch.float64).tolist():
        sol = solve_ivp(rhs(p), (0.0, t_end), y0, method="DOP853", t_eval=times, rtol=RTOL, atol=ATOL)
        if not sol.success:
            raise RuntimeError(f"reference solve failed for {name} at {p}: {sol.message}")
        out.append(sol.y[comps].T)
    return torch.as_tensor(np.stack(out))
