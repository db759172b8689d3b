"""The shared base of sbibm's sir and lotka_volterra tasks, simulated here without Julia.

sbibm 1.1.0 solves both ODEs through Julia (diffeqtorch: ``Tsit5()``, ``reltol = abstol = 1e-8``, one
solve per parameter vector) and cannot be imported here. Their priors, observations and reference
posteriors are kept exactly as sbibm ships them (the files are read by :mod:`fmbench.tasks.sbibm_files`);
only the ODE solver is ours: :func:`fmbench.tasks.ode.solve`, batched, float64, at tighter tolerances.

Both models are 2-D systems that stay positive, and both are solved for the logarithms of their two
populations, ``d log u_i / dt = a_i + b_i u_j`` (``j != i``), so that small populations keep their relative
accuracy. A simulation then follows sbibm's order of operations: the float64 solution at the summary
times is cast to float32, turned into the parameters of the noise model, and the noise is drawn from
torch's global generator for the rows whose solve succeeded, all at once (as sbibm's ``pyro.sample``
did). Same seed, same output, bit for bit; and a row's noise-free solution does not depend on the
rest of its batch.

Evidence that these are the simulators sbibm's references were made with (``scripts/check_julia_free.py``,
``tests/test_julia_free.py``): the solution agrees with an independent scipy DOP853 solve at
``rtol = 1e-12`` to better than 1e-7 relative; seeded as sbibm seeded them, the lotka_volterra
simulator regenerates all 10 of sbibm's observations to float32 rounding (sir's binomial draws differ
from sbibm's, as torch's binomial sampler has presumably changed since); and posterior samples computed
from :meth:`StoredSbibmTask.log_likelihood` and the prior alone are indistinguishable from sbibm's
reference samples (C2ST about 0.50). The likelihood is the one sbibm's pyro model evaluates, torch's
``Binomial`` / ``LogNormal`` ``log_prob`` included (torch's ``Binomial`` clamps probabilities to
``[eps, 1 - eps]`` of float32 in ``log_prob``, so a count above 0 where ``I / N`` is 0 costs about 9 nats,
not infinitely many: so it did for sbibm).

Failed solves: sbibm replaced a solve whose output did not have the expected length (Julia stopped early)
by NaN and drew no noise for that row. We do the same for a row whose solve fails (step size underflow,
too many steps; see :mod:`fmbench.tasks.ode`), and in addition warn with
:class:`SimulationFailureWarning`, giving the count and the reasons. Over 1e5 prior draws of either task
no solve failed in our checks (``scripts/bench_simulators.py`` prints the count).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod

import torch
from pyro import distributions as pdist
from torch import Tensor
from torch.distributions import Distribution

from fmbench.task import Task
from fmbench.tasks import ode, sbibm_files


class SimulationFailureWarning(RuntimeWarning):
    """Some rows of a batch could not be solved; they are NaN (the runner drops and counts them)."""


class StoredSbibmTask(Task):
    """An sbibm ODE task: log-normal prior, sbibm's stored observations and references, our solver.

    Subclasses set the prior's ``_prior_loc`` and ``_prior_scale``, the initial state ``y0``, the
    summary ``times`` and the end ``t_end`` of sbibm's integration interval, and implement
    :meth:`log_coefficients`, :meth:`noise_parameters` and :meth:`noise`.
    """

    _prior_loc: tuple[float, ...]
    _prior_scale: tuple[float, ...]
    y0: tuple[float, float]
    times: tuple[float, ...]
    t_end: float
    tolerances = ode.Tolerances(rtol=1e-10, atol=1e-10)

    @property
    def prior(self) -> Distribution:
        loc = torch.tensor(self._prior_loc)
        scale = torch.tensor(self._prior_scale)
        return pdist.LogNormal(loc, scale).to_event(1)

    @abstractmethod
    def log_coefficients(self, theta: Tensor) -> Tensor:
        """``(a, b)`` of ``d log u_i / dt = a_i + b_i u_j``, shape ``(N, 2, 2)`` for ``theta`` ``(N, D)``."""

    @abstractmethod
    def noise_parameters(self, u: Tensor) -> Tensor:
        """The noise model's parameters ``(N, x_dim)``, float32, from the solution ``u`` ``(N, T, 2)``."""

    @abstractmethod
    def noise(self, params: Tensor) -> Distribution:
        """The noise model around :meth:`noise_parameters` ``(N, x_dim)``, event shape ``(x_dim,)``."""

    def solve(self, theta: Tensor) -> ode.Solution:
        """The float64 solution at :attr:`times`, ``y`` ``(N, T, 2)`` (populations, not their logs)."""
        coef = self.log_coefficients(theta.to(torch.float64))
        y0 = torch.tensor(self.y0, dtype=torch.float64).log().expand(len(theta), 2)
        times = torch.tensor(self.times, dtype=torch.float64)
        sol = ode.solve(_log_field, y0, coef, times, self.t_end, self.tolerances)
        return ode.Solution(y=sol.y.exp(), status=sol.status, steps=sol.steps)

    def noise_free(self, theta: Tensor) -> Tensor:
        """:meth:`noise_parameters` of ``theta`` ``(N, D)``: ``(N, x_dim)`` float32, NaN where a solve failed.

        Warns with :class:`SimulationFailureWarning` when some solve failed.
        """
        sol = self.solve(theta)
        if summary := sol.failure_summary():
            message = f"{self.name}: {summary}; their rows are NaN"
            warnings.warn(message, SimulationFailureWarning, stacklevel=3)
        return self.noise_parameters(sol.y)

    def log_likelihood(self, theta: Tensor, x: Tensor) -> Tensor:
        """``log p(x | theta)`` ``(N,)`` for ``theta`` ``(N, D)`` and ``x`` ``(x_dim,)`` or ``(N, x_dim)``.

        ``-inf`` where the solve failed. This is the likelihood sbibm's reference posteriors were drawn
        with (its pyro model conditioned on the observation).
        """
        params = self.noise_free(theta)
        ok = torch.isfinite(params).all(-1)
        out = torch.full((len(theta),), -float("inf"))
        if ok.any():
            x = x.to(torch.float32).expand(len(theta), self.x_dim)[ok]
            out[ok] = self.noise(params[ok]).log_prob(x)
        return out

    def _simulate(self, theta: Tensor) -> Tensor:
        params = self.noise_free(theta)
        ok = torch.isfinite(params).all(-1)
        x = torch.full((len(theta), self.x_dim), float("nan"))
        if ok.any():
            x[ok] = self.noise(params[ok]).sample()
        return x

    def observation(self, i: int) -> Tensor:
        self.check_observation(i)
        return sbibm_files.observation(self.name, i)

    def true_parameters(self, i: int) -> Tensor:
        self.check_observation(i)
        return sbibm_files.true_parameters(self.name, i)

    def reference_samples(self, i: int) -> Tensor:
        self.check_observation(i)
        return sbibm_files.reference_samples(self.name, i)


def _log_field(z: Tensor, coef: Tensor) -> Tensor:
    """``d log u/dt = a + b u.flip()`` for log states ``z`` ``(2, n)`` and ``coef = (a, b)`` ``(2, 2, n)``."""
    return torch.addcmul(coef[0], coef[1], z.flip(0).exp())
