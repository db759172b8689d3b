r"""Conditional probability paths of flow matching: what the network is trained to regress.

A path pushes the source :math:`\theta_0 \sim \mathcal N(0, I)` at :math:`t = 0` to (near) a training
parameter :math:`\theta_1` at :math:`t = t_\mathrm{end}`; the network regresses the conditional velocity
:math:`u_t(\theta_t \mid \theta_1)`, whose conditional expectation given :math:`(\theta_t, x)` is the
marginal velocity that carries :math:`\mathcal N(0, I)` to the posterior (Lipman et al., ICLR 2023;
Dax et al., NeurIPS 2023, Eq. 5).

* :class:`OTPath`, the Gaussian optimal-transport path of FMPE (Dax et al. 2023, Eq. 7):
  :math:`\theta_t = (1 - (1 - s) t)\,\theta_0 + t\,\theta_1`, velocity
  :math:`u = \theta_1 - (1 - s)\,\theta_0`, with :math:`s = \sigma_\min`; :math:`t_\mathrm{end} = 1`.
* :class:`VPPath`, the variance-preserving diffusion path written as a flow (Lipman et al. 2023, Eqs.
  18-19, their Fig. 3): with :math:`T(r) = \beta_\min r + \tfrac12(\beta_\max - \beta_\min) r^2`,
  :math:`a_t = e^{-T(1 - t)/2}` and :math:`\sigma_t = \sqrt{1 - a_t^2}`,
  :math:`\theta_t = a_t\,\theta_1 + \sigma_t\,\theta_0` and
  :math:`u = \tfrac12 T'(1 - t)\,(a_t\,\theta_1 - a_t^2\,\theta_0 / \sigma_t)`. The velocity diverges as
  :math:`t \to 1`, so the path stops at :math:`t_\mathrm{end} = 1 - \epsilon`; its source at
  :math:`t = 0` is :math:`\mathcal N(a_0\theta_1, \sigma_0^2 I)`, which the defaults make
  :math:`\mathcal N(0, I)` up to :math:`a_0 = e^{-T(1)/2} \approx 0.007`.

Shapes: ``theta_0`` and ``theta_1`` are ``(B, D)``, ``t`` is ``(B, 1)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class PathSample:
    """A point on the conditional path and the velocity to regress there.

    Attributes:
        theta_t: The point :math:`\\theta_t`, ``(B, D)``.
        velocity: The conditional velocity :math:`u_t(\\theta_t \\mid \\theta_1)`, ``(B, D)``.
    """

    theta_t: Tensor
    velocity: Tensor


class ProbPath(ABC):
    """A conditional probability path from ``N(0, I)`` at ``t = 0`` to the data at ``t = t_end``."""

    #: Where the path (and the sampling ODE) ends.
    t_end: float = 1.0

    @abstractmethod
    def sample(self, theta_0: Tensor, theta_1: Tensor, t: Tensor) -> PathSample:
        """The point at time ``t`` ``(B, 1)`` between noise ``theta_0`` and data ``theta_1`` ``(B, D)``."""


class OTPath(ProbPath):
    """The Gaussian optimal-transport path of FMPE.

    Args:
        sigma_min: Width :math:`s` of the path at ``t = 1``.

    Example:
        >>> import torch
        >>> p = OTPath(sigma_min=0.0).sample(torch.zeros(1, 2), torch.ones(1, 2), torch.full((1, 1), 0.25))
        >>> p.theta_t.tolist(), p.velocity.tolist()
        ([[0.25, 0.25]], [[1.0, 1.0]])
    """

    def __init__(self, sigma_min: float = 1e-4) -> None:
        self.sigma_min = sigma_min

    def sample(self, theta_0: Tensor, theta_1: Tensor, t: Tensor) -> PathSample:
        shrink = 1.0 - self.sigma_min
        return PathSample(
            theta_t=(1.0 - shrink * t) * theta_0 + t * theta_1, velocity=theta_1 - shrink * theta_0
        )


class VPPath(ProbPath):
    """The variance-preserving diffusion path of Lipman et al. (2023), as a flow.

    Args:
        beta_min: Noise rate :math:`\\beta` at the data end.
        beta_max: Noise rate :math:`\\beta` at the noise end.
        eps: The path ends at ``t_end = 1 - eps``, where :math:`\\sigma_t` is still positive.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> None:
        self.beta_min, self.beta_max, self.eps = beta_min, beta_max, eps
        self.t_end = 1.0 - eps

    def _big_t(self, r: Tensor) -> Tensor:
        return self.beta_min * r + 0.5 * (self.beta_max - self.beta_min) * r**2

    def _big_t_prime(self, r: Tensor) -> Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * r

    def sample(self, theta_0: Tensor, theta_1: Tensor, t: Tensor) -> PathSample:
        r = 1.0 - t
        a = (-0.5 * self._big_t(r)).exp()
        sigma = (1.0 - a**2).clamp_min(1e-12).sqrt()
        velocity = 0.5 * self._big_t_prime(r) * (a * theta_1 - a**2 * theta_0 / sigma)
        return PathSample(theta_t=a * theta_1 + sigma * theta_0, velocity=velocity)

    @property
    def source_shift(self) -> float:
        """:math:`a_0`, the weight of the data in the source at ``t = 0`` (0 for an exact ``N(0, I)``)."""
        return math.exp(-0.5 * (self.beta_min + 0.5 * (self.beta_max - self.beta_min)))
