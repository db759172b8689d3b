"""sbibm's SIR epidemic task, Julia-free.

The definitions are sbibm 1.1.0's (``sbibm/tasks/sir/task.py``), to the letter:

- Parameters ``theta = (beta, gamma)``: contact rate and mean recovery rate (1/days), prior
  ``LogNormal(loc = (log 0.4, log 0.125), scale = (0.5, 0.2))``, independent.
- ODE, population ``N = 1e6``::

      dS/dt = -beta S I / N,    dI/dt = beta S I / N - gamma I,    dR/dt = gamma I,

  from ``(S, I, R)(0) = (N - 1, 1, 0)`` over ``t`` in ``[0, 160]`` days. sbibm saves the solution daily
  (161 points) and keeps ``I`` at every 17th: ``t = 0, 17, ..., 153`` (10 summary points).
- Noise: ``x_k ~ Binomial(1000, clamp(I(t_k) / N, 0, 1))``, independently, where ``I`` is the float64
  solution cast to float32 before the division (as in sbibm). ``x`` is ``(N, 10)`` float32 counts.

We solve ``(log S, log I)`` (``R`` does not feed back: ``R = N - S - I``) in float64 with
:func:`fmbench.tasks.ode.solve` at ``rtol = atol = 1e-10`` on the logarithms; sbibm solved ``(S, I, R)``
with Julia's ``Tsit5`` at ``reltol = abstol = 1e-8``. Both are far below the binomial noise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Binomial, Distribution, Independent

from fmbench.registry import TASKS
from fmbench.tasks.julia_free import StoredSbibmTask

#: Population, infected at t = 0, binomial count, as in sbibm.
POPULATION, INFECTED_0, TOTAL_COUNT = 1e6, 1.0, 1000


@TASKS.register("sir")
class SIR(StoredSbibmTask):
    """SIR epidemic model (sbibm): contact rate beta and recovery rate gamma; 10 subsampled counts.

    Example:
        >>> import torch
        >>> task = SIR()
        >>> _ = torch.manual_seed(0)
        >>> task.simulate(task.prior.sample((3,))).shape
        torch.Size([3, 10])
    """

    name = "sir"
    theta_dim = 2
    x_dim = 10
    labels = ["beta", "gamma"]
    _prior_loc = (math.log(0.4), math.log(0.125))
    _prior_scale = (0.5, 0.2)
    y0 = (POPULATION - INFECTED_0, INFECTED_0)
    times = tuple(float(t) for t in range(0, 161, 17))
    t_end = 160.0

    def log_coefficients(self, theta: Tensor) -> Tensor:
        """``d log S/dt = -(beta/N) I``, ``d log I/dt = -gamma + (beta/N) S``: ``(N, 2, 2)``."""
        beta, gamma = theta.unbind(-1)
        a = torch.stack([torch.zeros_like(beta), -gamma], -1)
        b = torch.stack([-beta / POPULATION, beta / POPULATION], -1)
        return torch.stack([a, b], 1)

    def noise_parameters(self, u: Tensor) -> Tensor:
        """Binomial probabilities ``clamp(float32(I) / N, 0, 1)`` ``(N, 10)`` from ``u`` ``(N, 10, 2)``."""
        return (u[..., 1].to(torch.float32) / POPULATION).clamp(0.0, 1.0)

    def noise(self, params: Tensor) -> Distribution:
        """``Binomial(1000, params)``, independent over the 10 summary points."""
        return Independent(Binomial(total_count=TOTAL_COUNT, probs=params), 1)
