r"""Solving the flow ODE with torchdiffeq: sampling, and densities by the change of variables.

Sampling integrates :math:`\mathrm d\theta_t / \mathrm dt = v(t, \theta_t)` from :math:`\theta_0 \sim
\mathcal N(0, I)` at :math:`t = 0` to :math:`t_\mathrm{end}` (1 for the OT path). The density follows the
instantaneous change of variables (Chen et al., NeurIPS 2018, Thm. 1; Dax et al. 2023, Eq. 4):

.. math::
    \log q(\theta_1) = \log \mathcal N(\theta_0; 0, I) - \int_0^{t_\mathrm{end}} \nabla_\theta \cdot
    v(t, \theta_t)\,\mathrm dt,

solved backwards from :math:`\theta_1` as one ODE on the state :math:`(\theta_t, \ell_t)` with
:math:`\mathrm d\ell/\mathrm dt = \nabla \cdot v` and :math:`\ell_{t_\mathrm{end}} = 0`, so that
:math:`\log q(\theta_1) = \log \mathcal N(\theta_0) + \ell_0`. The divergence is exact (one backward pass
per dimension) or Hutchinson's unbiased estimate :math:`\epsilon^\top (\partial v / \partial\theta)
\epsilon` with one Rademacher :math:`\epsilon` per point held fixed over the solve (FFJORD, Grathwohl et al.
2019).

Solvers: ``dopri5`` (adaptive, ``atol``/``rtol``) and the fixed-step ``euler``, ``midpoint`` and
``rk4`` (torchdiffeq's 3/8-rule RK4) on a uniform grid of ``steps`` steps. Every call counts the
vector-field evaluations it made, which is the number of network passes each point of the batch cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torchdiffeq import odeint

#: A vector field ``v(t, theta)``: time ``()`` and points ``(B, D)`` -> velocities ``(B, D)``.
Field = Callable[[Tensor, Tensor], Tensor]

#: Network evaluations per step of each fixed-step solver.
FIXED_STEP_STAGES: dict[str, int] = {"euler": 1, "midpoint": 2, "rk4": 4}
ADAPTIVE_SOLVERS = ("dopri5",)
SOLVERS = ADAPTIVE_SOLVERS + tuple(FIXED_STEP_STAGES)
DIVERGENCES = ("exact", "hutchinson")


@dataclass(frozen=True)
class OdeSettings:
    """How to solve the ODE.

    Attributes:
        solver: A name in :data:`SOLVERS`.
        steps: Number of uniform steps of a fixed-step solver (ignored by ``dopri5``).
        atol: Absolute tolerance of ``dopri5``.
        rtol: Relative tolerance of ``dopri5``.
    """

    solver: str = "dopri5"
    steps: int = 20
    atol: float = 1e-5
    rtol: float = 1e-5

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")

    @property
    def passes(self) -> int | None:
        """Network passes per point of a fixed-step solve; ``None`` for an adaptive one."""
        stages = FIXED_STEP_STAGES.get(self.solver)
        return None if stages is None else stages * self.steps


@dataclass(frozen=True)
class FlowSample:
    """The end of a sampling solve: ``theta`` ``(B, D)`` and the vector-field evaluations made."""

    theta: Tensor
    evaluations: int


@dataclass(frozen=True)
class FlowLogProb:
    """A density solve: ``log_prob`` ``(B,)`` and the vector-field evaluations made."""

    log_prob: Tensor
    evaluations: int


class _Counted:
    """Wraps a function of ``(t, state)`` and counts its calls."""

    def __init__(self, func: Callable) -> None:
        self.func, self.calls = func, 0

    def __call__(self, t: Tensor, state):  # noqa: ANN001, ANN204 - torchdiffeq's signature
        self.calls += 1
        return self.func(t, state)


def _solve(func: _Counted, state, t_start: float, t_stop: float, settings: OdeSettings, like: Tensor):  # noqa: ANN001, ANN202
    """Integrates ``func`` from ``t_start`` to ``t_stop``; returns the final state."""
    if settings.solver in ADAPTIVE_SOLVERS:
        times = torch.tensor([t_start, t_stop], dtype=like.dtype, device=like.device)
        out = odeint(func, state, times, method=settings.solver, atol=settings.atol, rtol=settings.rtol)
    else:
        times = torch.linspace(t_start, t_stop, settings.steps + 1, dtype=like.dtype, device=like.device)
        out = odeint(func, state, times, method=settings.solver)
    return tuple(o[-1] for o in out) if isinstance(out, tuple) else out[-1]


def sample_flow(field: Field, theta_0: Tensor, t_end: float, settings: OdeSettings) -> FlowSample:
    """Pushes source points ``theta_0`` ``(B, D)`` along ``field`` from ``t = 0`` to ``t_end``."""
    return solve_flow(field, theta_0, 0.0, t_end, settings)


def solve_flow(
    field: Field, start: Tensor, t_start: float, t_stop: float, settings: OdeSettings
) -> FlowSample:
    """Pushes points ``start`` ``(B, D)`` along ``field`` from ``t_start`` to ``t_stop`` (either way)."""
    func = _Counted(field)
    with torch.no_grad():
        theta = _solve(func, start, t_start, t_stop, settings, like=start)
    return FlowSample(theta=theta, evaluations=func.calls)


def flow_trajectory(field: Field, theta_0: Tensor, times: Tensor, settings: OdeSettings) -> Tensor:
    """The points ``(T, B, D)`` that source points ``theta_0`` ``(B, D)`` reach along ``field`` at each of
    the increasing ``times`` ``(T,)`` (the first is where they start)."""
    kwargs: dict[str, object] = {"atol": settings.atol, "rtol": settings.rtol}
    if settings.solver not in ADAPTIVE_SOLVERS:  # the solve's own uniform steps, interpolated at ``times``
        kwargs = {"options": {"step_size": float(times[-1] - times[0]) / settings.steps}}
    with torch.no_grad():
        return odeint(field, theta_0, times.to(theta_0), method=settings.solver, **kwargs)


def divergence_exact(velocity: Tensor, theta: Tensor) -> Tensor:
    """:math:`\\sum_i \\partial v_i / \\partial \\theta_i` ``(B,)`` by one backward pass per dimension."""
    dim = theta.shape[1]
    div = torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)
    for i in range(dim):
        (grad,) = torch.autograd.grad(velocity[:, i].sum(), theta, retain_graph=i < dim - 1)
        div = div + grad[:, i]
    return div


def divergence_hutchinson(velocity: Tensor, theta: Tensor, noise: Tensor) -> Tensor:
    """Hutchinson's estimate :math:`\\epsilon^\\top J \\epsilon` ``(B,)`` with probe ``noise`` ``(B, D)``."""
    (grad,) = torch.autograd.grad((velocity * noise).sum(), theta)
    return (grad * noise).sum(dim=1)


def standard_normal_log_prob(theta: Tensor) -> Tensor:
    """:math:`\\log \\mathcal N(\\theta; 0, I)` ``(B,)`` of ``theta`` ``(B, D)``."""
    return -0.5 * theta.pow(2).sum(dim=1) - 0.5 * theta.shape[1] * math.log(2 * math.pi)


def flow_log_prob(
    field: Field,
    theta_1: Tensor,
    t_end: float,
    settings: OdeSettings,
    divergence: str = "exact",
    generator: torch.Generator | None = None,
) -> FlowLogProb:
    """Log density ``(B,)`` of the flow's law at ``t_end``, evaluated at ``theta_1`` ``(B, D)``.

    Args:
        field: The vector field.
        theta_1: Points at which to evaluate the density.
        t_end: Where the flow ends.
        settings: The solver.
        divergence: ``"exact"`` or ``"hutchinson"``.
        generator: Random numbers of Hutchinson's probe.
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
    noise = None
    if divergence == "hutchinson":
        bits = torch.randint(0, 2, theta_1.shape, generator=generator, device=theta_1.device)
        noise = (2 * bits - 1).to(theta_1.dtype)

    def augmented(t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            theta = state[0].detach().requires_grad_(True)
            velocity = field(t, theta)
            div = (
                divergence_exact(velocity, theta)
                if noise is None
                else divergence_hutchinson(velocity, theta, noise)
            )
        return velocity.detach(), div.detach()

    func = _Counted(augmented)
    start = (theta_1.detach(), torch.zeros(theta_1.shape[0], dtype=theta_1.dtype, device=theta_1.device))
    with torch.no_grad():
        theta_0, integral = _solve(func, start, t_end, 0.0, settings, like=theta_1)
    return FlowLogProb(log_prob=standard_normal_log_prob(theta_0) + integral, evaluations=func.calls)
