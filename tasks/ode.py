"""A batched explicit Runge-Kutta ODE solver with its own adaptive step size in every row.

The sir and lotka_volterra simulators solve one small autonomous ODE per parameter vector. This module
solves a whole batch of them at once in float64 with the Dormand-Prince 5(4) pair (Dormand & Prince,
J. Comput. Appl. Math. 6, 1980; the pair behind scipy's ``RK45`` and torchdiffeq's ``dopri5``), but, unlike
a batched torchdiffeq call, each row keeps its own time, step size and error control. Every operation is
elementwise over rows, so the solution of a row never depends on the other rows of the batch: a
parameter vector gives bit-identical output alone or in any batch.

Output times are hit exactly (a step is shortened to land on the next one), not interpolated. Rows that
finish leave the working set, so the cost follows the number of steps each row needs. Rows are solved in
chunks of a few thousand on one intra-op thread (the previous setting is restored afterwards): each step
is some 110 small tensor operations, and waking a second thread for each costs more than it saves (ten
times more on a busy machine, in our measurements). Thread count and chunk size do not change results.
The solve runs under ``torch.inference_mode`` (a quarter less per-operation overhead); it is not
differentiable.

A trial step whose state or error is not finite is rejected and the step size cut fivefold. A solve fails
in a row when its step size underflows (``h < 1e-14 max(1, t_end)``; this is also where a state that blows
up ends) or when it needs more than ``max_steps`` steps; that row is NaN in the output and its status
says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

#: Dormand-Prince 5(4): nodes ``C``, stage matrix ``A`` (row i: stage i+1), 5th-order weights ``B``
#: (equal to the last row, so the last stage is the next step's first: FSAL) and error weights ``E``
#: (5th minus 4th order, over all seven stages).
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
B = A[6]
E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)

#: Status codes of :attr:`Solution.status`.
OK, STEP_UNDERFLOW, TOO_MANY_STEPS = 0, 1, 2
STATUS_NAMES = {OK: "ok", STEP_UNDERFLOW: "step size underflow", TOO_MANY_STEPS: "too many steps"}

#: ``f(y, p) -> dy/dt`` for states ``y`` ``(D, n)`` and parameters ``p`` ``(*P, n)``, column by column.
VectorField = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Tolerances:
    """Error control: a step is accepted when the RMS of ``err / (atol + rtol max(|y|, |y_new|))`` is <= 1.

    Attributes:
        rtol: Relative tolerance.
        atol: Absolute tolerance.
        max_steps: Steps (accepted and rejected) after which a row is declared failed.
    """

    rtol: float = 1e-10
    atol: float = 1e-10
    max_steps: int = 100_000

    def __post_init__(self) -> None:
        if not (self.rtol > 0 and self.atol > 0):
            raise ValueError(f"Tolerances: rtol and atol must be positive, got {self.rtol}, {self.atol}")
        if self.max_steps < 1:
            raise ValueError(f"Tolerances: max_steps must be positive, got {self.max_steps}")


@dataclass(frozen=True)
class Solution:
    """The solution of a batch.

    Attributes:
        y: States at the output times, ``(B, T, D)`` float64; NaN in failed rows.
        status: ``(B,)`` int64 status codes (:data:`STATUS_NAMES`); 0 where the solve succeeded.
        steps: ``(B,)`` int64 steps taken (accepted and rejected).
    """

    y: Tensor
    status: Tensor
    steps: Tensor

    @property
    def failed(self) -> Tensor:
        """``(B,)`` bool, True where the solve failed."""
        return self.status != OK

    def failure_summary(self) -> str:
        """E.g. ``"3 of 1000 solves failed (3 too many steps)"``, or ``""`` when none failed."""
        counts = {name: int((self.status == code).sum()) for code, name in STATUS_NAMES.items() if code}
        total = sum(counts.values())
        if total == 0:
            return ""
        reasons = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        return f"{total} of {len(self.status)} solves failed ({reasons})"


def _step(f: VectorField, y: Tensor, k1: Tensor, p: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One Dormand-Prince step of size ``h`` ``(n,)`` from ``y`` ``(D, n)``: new state, its slope, error."""
    ks = [k1]
    for row in A[1:]:
        incr = ks[0] * row[0]
        for a, k in zip(row[1:], ks[1:], strict=True):
            if a != 0.0:
                incr.add_(k, alpha=a)
        y_stage = torch.addcmul(y, h, incr)
        ks.append(f(y_stage, p))
    err = ks[0] * E[0]
    for e, k in zip(E[1:], ks[1:], strict=True):
        if e != 0.0:
            err.add_(k, alpha=e)
    return y_stage, ks[-1], err.mul_(h)  # the last stage is taken at the 5th-order solution (FSAL)


def _rms(v: Tensor) -> Tensor:
    """Root mean square over the components of ``v`` ``(D, n)`` -> ``(n,)``."""
    return v.square().sum(0).div_(v.shape[0]).sqrt_()


def _initial_step(y: Tensor, k1: Tensor, tol: Tolerances) -> Tensor:
    """A first step size ``(n,)`` from the scale of the state and its slope (Hairer et al., II.4)."""
    scale = y.abs().mul_(tol.rtol).add_(tol.atol)
    d0, d1 = _rms(y / scale), _rms(k1 / scale)
    return torch.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)


def solve(
    f: VectorField, y0: Tensor, p: Tensor, times: Tensor, t_end: float, tol: Tolerances, chunk: int = 8192
) -> Solution:
    """Solves ``dy/dt = f(y, p)`` from ``t = 0`` for every row, reporting ``y`` at ``times``.

    Args:
        f: The vector field, called with states ``(D, n)`` and parameters ``(*P, n)`` of a subset of rows
            (components first, so that each component is one contiguous vector).
        y0: Initial states ``(B, D)``.
        p: Parameters ``(B, *P)``.
        times: Output times ``(T,)``, increasing, within ``[0, t_end]``.
        t_end: The end of the integration interval (the solve runs to it even after the last output
            time, so that a failure anywhere in ``[0, t_end]`` is reported, as sbibm's solves did).
        tol: Error control and step limit.
        chunk: Rows solved together (small enough to stay in cache and on one thread; the result does
            not depend on it).

    Returns:
        The :class:`Solution`, with ``y`` of shape ``(B, T, D)``, float64.
    """
    stops = times.to(torch.float64).tolist()
    if any(b <= a for a, b in zip(stops, stops[1:], strict=False)) or stops[0] < 0 or stops[-1] > t_end:
        raise ValueError(f"solve: times must increase within [0, {t_end}], got {stops}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see the module docstring
    try:
        with torch.inference_mode():
            parts = [
                _solve_chunk(f, y0[i : i + chunk], p[i : i + chunk], stops, t_end, tol)
                for i in range(0, max(len(y0), 1), chunk)
            ]
    finally:
        torch.set_num_threads(threads)
    return Solution(*(torch.cat(v) for v in zip(*parts, strict=True)))  # normal tensors again


def _solve_chunk(
    f: VectorField, y0: Tensor, p: Tensor, stops: list[float], t_end: float, tol: Tolerances
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`solve` on one chunk: returns its ``y`` ``(B, T, D)``, status ``(B,)`` and steps ``(B,)``."""
    batch, dim = y0.shape
    num_out = len(stops)
    stops = stops + ([t_end] if stops[-1] < t_end else [])
    stop_t = torch.tensor(stops + [float("inf")], dtype=torch.float64)
    out = torch.full((batch, num_out, dim), float("nan"), dtype=torch.float64)
    status = torch.zeros(batch, dtype=torch.int64)
    steps = torch.zeros(batch, dtype=torch.int64)

    y = y0.to(torch.float64).T.contiguous()
    p = p.to(torch.float64).movedim(0, -1).contiguous()
    rows = torch.arange(batch)
    t = torch.zeros(batch, dtype=torch.float64)
    nxt = torch.zeros(batch, dtype=torch.int64)
    if stops[0] == 0.0:
        out[:, 0] = y0
        nxt += 1
    k1 = f(y, p)
    h = _initial_step(y, k1, tol)
    live = torch.ones(batch, dtype=torch.bool)
    if batch == 0:
        return out, status, steps
    h_min = 1e-14 * max(1.0, t_end)
    for n_steps in range(1, tol.max_steps + 1):  # every live row takes one step per iteration
        target = stop_t[nxt]
        hits = h >= target - t
        h_try = torch.where(hits, target - t, h)
        y_new, k_new, err = _step(f, y, k1, p, h_try)
        norm = _rms(err.div_(torch.maximum(y.abs(), y_new.abs()).mul_(tol.rtol).add_(tol.atol)))
        finite = torch.isfinite(norm) & torch.isfinite(y_new).all(0)
        accept = (norm <= 1.0) & finite & live
        factor = norm.clamp_min(1e-10).pow_(-0.2).mul_(0.9).clamp_(0.2, 10.0)
        factor = torch.where(accept, factor, factor.clamp_max(1.0))
        h_next = h_try * torch.where(finite, factor, 0.2)
        landed = hits & accept
        h = torch.where(landed, torch.maximum(h_next, h), h_next)
        t = torch.where(accept, torch.where(hits, target, t + h_try), t)
        y = torch.where(accept, y_new, y)
        k1 = torch.where(accept, k_new, k1)
        saved = landed & (nxt < num_out)
        if saved.any():
            out[rows[saved], nxt[saved]] = y[:, saved].T
        nxt += landed
        underflow = h < h_min
        done = live & ((nxt == len(stops)) | underflow)
        if done.any():
            status[rows[done & underflow]] = STEP_UNDERFLOW
            steps[rows[done]] = n_steps
            live &= ~done
            num_live = int(live.sum())
            if num_live == 0:
                break
            if num_live < 0.9 * len(live):  # drop finished rows from the working set
                keep = live.nonzero().squeeze(-1)
                rows, t, h, nxt, live = (v[keep] for v in (rows, t, h, nxt, live))
                y, p, k1 = (v.index_select(-1, keep) for v in (y, p, k1))
    else:
        status[rows[live]] = TOO_MANY_STEPS
        steps[rows[live]] = tol.max_steps
    out[status != OK] = float("nan")
    return out, status, steps
