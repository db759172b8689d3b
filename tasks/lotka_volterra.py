"""sbibm's Lotka-Volterra predator-prey task, Julia-free.

The definitions are sbibm 1.1.0's (``sbibm/tasks/lotka_volterra/task.py``), to the letter:

- Parameters ``theta = (alpha, beta, gamma, delta)``, prior ``LogNormal(loc = (-0.125, -3, -0.125, -3),
  scale = 0.5)``, independent.
- ODE for prey ``u`` and predators ``v``::

      du/dt = alpha u - beta u v,    dv/dt = -gamma v + delta u v,

  from ``(u, v)(0) = (30, 1)`` over ``t`` in ``[0, 20]``. sbibm saves the solution every 0.1 (201 points)
  and keeps every 21st: ``t = 0, 2.1, ..., 18.9`` (10 summary points per species).
- Noise: ``x ~ LogNormal(log(clamp(float32(s), 1e-10, 1e4)), 0.1)``, independently, where ``s`` is
  the 20 summaries ordered as sbibm flattens them: the prey at the 10 times, then the predators.
  ``x`` is ``(N, 20)`` float32.

We solve ``(log u, log v)`` in float64 with :func:`fmbench.tasks.ode.solve` at ``rtol = atol = 1e-10``
on the logarithms; sbibm solved ``(u, v)`` with Julia's ``Tsit5`` at ``reltol = abstol = 1e-8``. The two
agree far below the 10% noise except where a population falls below about ``1e-8`` (sbibm's absolute
tolerance), where sbibm's value had no accurate digits; the clamp at ``1e-10`` maps both to nearly the
same place, and such parameters lie far outside every reference posterior.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, LogNormal

from fmbench.registry import TASKS
from fmbench.tasks.julia_free import StoredSbibmTask

#: sbibm's clamp of the populations before the log, and the log-normal noise scale.
CLAMP_MIN, CLAMP_MAX, NOISE_SCALE = 1e-10, 1e4, 0.1


@TASKS.register("lotka_volterra")
class LotkaVolterra(StoredSbibmTask):
    """Lotka-Volterra predator-prey model (sbibm): four rates; 20 subsampled population counts.

    Example:
        >>> import torch
        >>> task = LotkaVolterra()
        >>> _ = torch.manual_seed(0)
        >>> task.simulate(task.prior.sample((3,))).shape
        torch.Size([3, 20])
    """

    name = "lotka_volterra"
    theta_dim = 4
    x_dim = 20
    labels = ["alpha", "beta", "gamma", "delta"]
    _prior_loc = (-0.125, -3.0, -0.125, -3.0)
    _prior_scale = (0.5, 0.5, 0.5, 0.5)
    y0 = (30.0, 1.0)
    times = tuple(21 * k / 10 for k in range(10))
    t_end = 20.0

    def log_coefficients(self, theta: Tensor) -> Tensor:
        """``d log u/dt = alpha - beta v``, ``d log v/dt = -gamma + delta u``: ``(N, 2, 2)``."""
        alpha, beta, gamma, delta = theta.unbind(-1)
        a = torch.stack([alpha, -gamma], -1)
        b = torch.stack([-beta, delta], -1)
        return torch.stack([a, b], 1)

    def noise_parameters(self, u: Tensor) -> Tensor:
        """``clamp(float32(u), 1e-10, 1e4)`` ``(N, 20)`` (prey, then predators) from ``u`` ``(N, 10, 2)``."""
        return u.to(torch.float32).transpose(1, 2).reshape(len(u), self.x_dim).clamp(CLAMP_MIN, CLAMP_MAX)

    def noise(self, params: Tensor) -> Distribution:
        """``LogNormal(log(params), 0.1)``, independent over the 20 summaries."""
        return Independent(LogNormal(params.log(), NOISE_SCALE), 1)
