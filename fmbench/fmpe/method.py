r"""The ``fmpe`` and ``fmpe_vp`` methods: fit a vector field by flow matching, sample and score by ODE.

FMPE (Dax et al., "Flow Matching for Scalable Simulation-Based Inference", NeurIPS 2023) learns a
conditional vector field :math:`v(t, \theta_t, x)` whose flow carries :math:`\mathcal N(0, I)` at
:math:`t = 0` to the posterior :math:`p(\theta \mid x)` at :math:`t = 1`. Here :math:`\theta` and
:math:`x` are z-scored with the training statistics, so the posterior density in the original units is

.. math::
    \log q(\theta \mid x) = \log q_z(z(\theta) \mid z(x)) - \textstyle\sum_i \log \mathrm{std}_i.

``fmpe`` uses the paper's Gaussian OT path, ``fmpe_vp`` the variance-preserving diffusion path of Lipman
et al. (ICLR 2023); both share everything else.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution

from fmbench.fmpe.config import Candidate, FlowConfig, FmpeConfig, FmpeVpConfig
from fmbench.fmpe.network import VectorField
from fmbench.fmpe.ode import Field, FlowSample, OdeSettings, flow_log_prob, flow_trajectory, sample_flow
from fmbench.fmpe.path import ProbPath
from fmbench.fmpe.train import Standardizer, TrainingGroup, TrainResult, split_indices
from fmbench.method import FitContext, FitCost, Method, Posterior, count_parameters
from fmbench.registry import METHODS

logger = logging.getLogger(__name__)


class FlowPosterior(Posterior):
    """The posterior of a trained vector field.

    Args:
        net: The trained vector field (on z-scored ``theta`` and ``x``).
        path: The path it was trained on (gives where the ODE ends).
        theta_scale: z-scoring of ``theta``.
        x_scale: z-scoring of ``x``.
        sample_ode: The solver of :meth:`sample`.
        log_prob_ode: The solver of :meth:`log_prob`.
        divergence: ``"exact"`` or ``"hutchinson"``.
        epochs: Training epochs run (summed over every candidate of a selection).

    Attributes:
        selection: The validation NLL of each candidate (by its label, e.g. ``"time_prior_exponent=1.0
            batch_size=64"``) when the fit chose among several (empty otherwise); this posterior is the
            one with the lowest.
    """

    has_log_prob = True

    def __init__(
        self,
        net: VectorField,
        path: ProbPath,
        theta_scale: Standardizer,
        x_scale: Standardizer,
        sample_ode: OdeSettings,
        log_prob_ode: OdeSettings,
        divergence: str,
        epochs: int,
    ) -> None:
        self.net, self.path = net, path
        self.theta_scale, self.x_scale = theta_scale, x_scale
        self.sample_ode, self.log_prob_ode, self.divergence = sample_ode, log_prob_ode, divergence
        self._cost = FitCost(
            epochs=epochs, num_parameters=count_parameters(net), passes_per_sample=sample_ode.passes
        )
        self._last_passes: float | None = None
        self.selection: dict[str, float] = {}

    def record_selection(self, selection: dict[str, float], total_epochs: int) -> None:
        """Marks this posterior as the one kept from ``selection`` (label -> validation NLL); the fit's
        cost becomes the ``total_epochs`` of all candidates."""
        self.selection = selection
        self._cost = dataclasses.replace(self._cost, epochs=total_epochs)

    @property
    def device(self) -> torch.device:
        """Where the network and the z-scoring live."""
        return self.theta_scale.mean.device

    @property
    def cost(self) -> FitCost:
        return self._cost

    @property
    def passes_per_sample(self) -> float | None:
        """Vector-field evaluations per sample of the last :meth:`sample` (all samples share one solve)."""
        return self._last_passes if self._last_passes is not None else self._cost.passes_per_sample

    def _field(self, x_o: Tensor) -> Field:
        # One observation (x_dim,) or one per row (B, x_dim); the network broadcasts a single row.
        x_z = self.x_scale(x_o.reshape(-1, self.x_scale.mean.shape[0]).to(self.device, torch.float32))

        def field(t: Tensor, theta: Tensor) -> Tensor:
            return self.net(t.reshape(1, 1), theta, x_z)

        return field

    def sample(self, n: int, x_o: Tensor) -> Tensor:
        out = self.sample_by_ode(n, x_o, self.sample_ode)
        self._last_passes = float(out.evaluations)
        return out.theta

    def sample_by_ode(self, n: int, x_o: Tensor, settings: OdeSettings) -> FlowSample:
        """``n`` samples ``(n, D)`` solved with ``settings`` (instead of the fit's own sampling ODE), and the
        network passes each cost."""
        theta_0 = torch.randn(n, self.net.theta_dim, device=self.device)
        out = sample_flow(self._field(x_o), theta_0, self.path.t_end, settings)
        return FlowSample(self.theta_scale.inverse(out.theta).to(x_o.device), out.evaluations)

    def trajectory(self, theta_0: Tensor, x_o: Tensor, fractions: Sequence[float]) -> Tensor:
        """Where source draws ``theta_0`` ``(B, D)`` (z-scored units: draws of N(0, I)) are
        carried by the flow at each fraction of the path's time in ``fractions`` (0 is the source, 1 the
        posterior), in the parameters' units: ``(len(fractions), B, D)``."""
        steps = list(fractions)
        if (
            len(steps) < 2
            or steps[0] != 0
            or steps[-1] > 1
            or any(b <= a for a, b in itertools.pairwise(steps))
        ):
            raise ValueError(f"fractions must rise from 0 to at most 1, at least two of them; got {steps}")
        times = torch.tensor([f * self.path.t_end for f in steps], device=self.device)
        points = flow_trajectory(self._field(x_o), theta_0.to(self.device), times, self.sample_ode)
        return self.theta_scale.inverse(points).to(theta_0.device)

    def log_prob(self, theta: Tensor, x_o: Tensor) -> Tensor:
        """Log density ``(N,)`` by the instantaneous change of variables (not renormalised to the prior)."""
        z = self.theta_scale(theta.to(self.device, torch.float32))
        out = flow_log_prob(self._field(x_o), z, self.path.t_end, self.log_prob_ode, self.divergence)
        return (out.log_prob + self.theta_scale.log_abs_det).to(theta.device)


class _FlowMatching(Method):
    """Flow matching posterior estimation on the path of its config."""

    Config: ClassVar[type[FlowConfig]] = FlowConfig

    def fit(self, theta: Tensor, x: Tensor, prior: Distribution, context: FitContext) -> Posterior:
        """Fits one vector field per candidate (:meth:`FlowConfig.candidates`: every combination of the
        listed alphas, batch sizes and conditionings) on one train/validation split and keeps the one with
        the lowest validation NLL (a single candidate: just that fit).

        With several candidates and ``halving_epochs`` R > 0, the candidates that train together (those
        that differ only in their time prior, :class:`~fmbench.fmpe.train.TrainingGroup`) race by
        successive halving: all train R epochs, the better half of each group by validation NLL (of each
        one's best weights so far; ties to the earlier candidate) trains on to epoch 2R, the better half of
        those to 4R, and so on until one per group is left, which trains to its early stopping. The others
        stop where they were dropped, and the selection records the NLL they were dropped with. The
        groups train one after another in each round, so the global random stream runs through them in
        another order than without halving: a fit with halving is another fit even where nothing races.
        Within a group the candidates have taken the same optimizer steps on the same minibatches when
        they are compared; the groups' survivors meet only at the end."""
        config: FlowConfig = self.config  # type: ignore[assignment]
        candidates = config.candidates(context.budget, x.shape[1])
        halving = config.resolved(context.budget, x.shape[1]).halving_epochs
        assert isinstance(halving, int)
        theta = theta.to(context.device, torch.float32)
        x = x.to(context.device, torch.float32)
        theta_scale, x_scale = Standardizer.fit(theta), Standardizer.fit(x)
        split = split_indices(theta.shape[0], config.validation_fraction, theta.device)
        training = _Training(list(candidates.values()), theta, x, theta_scale, x_scale, split, context)
        val = split[1]
        racing = [members for _, members in training.groups]
        scores: dict[int, float] = {}
        until = halving

        def contested() -> list[list[int]]:
            return [alive for alive in racing if len(alive) > 1 and any(map(training.is_running, alive))]

        while 0 < until < training.max_epochs and contested():
            training.run(until)
            for k, alive in enumerate(racing):
                if len(alive) > 1 and any(map(training.is_running, alive)):
                    now = {i: validation_nll(training.posterior_so_far(i), theta[val], x[val]) for i in alive}
                    scores.update(now)
                    racing[k] = sorted(alive, key=now.__getitem__)[: math.ceil(len(alive) / 2)]
                    for i in set(alive) - set(racing[k]):
                        training.stop(i)
            until *= 2
        training.run()
        fits = training.posteriors()
        if len(fits) == 1:
            return fits[0]
        final = {i: validation_nll(fits[i], theta[val], x[val]) for alive in racing for i in alive}
        scores.update(final)
        # a dropped candidate's score is from its round (its fit stopped there); it wins only if every
        # survivor's likelihood failed (inf)
        pool = final if any(math.isfinite(v) for v in final.values()) else scores
        best = fits[min(sorted(pool), key=pool.__getitem__)]
        total_epochs = sum(p.cost.epochs or 0 for p in fits)
        best.record_selection({label: scores[i] for i, label in enumerate(candidates)}, total_epochs)
        logger.info("fmpe candidates: validation NLL %s", best.selection)
        return best

    @staticmethod
    def fit_candidates(
        candidates: list[Candidate],
        theta: Tensor,
        x: Tensor,
        theta_scale: Standardizer,
        x_scale: Standardizer,
        split: tuple[Tensor, Tensor],
        context: FitContext,
    ) -> list[FlowPosterior]:
        """One vector field per candidate, each trained as it says on ``split`` to its early stopping, in
        the candidates' order (no halving).

        The networks' weights are drawn from torch's global generator as it stands, in the candidates'
        order (seed it to fit networks that differ only in their start). Candidates that differ only in
        the time prior train together in one batched computation, one group after another.
        """
        training = _Training(candidates, theta, x, theta_scale, x_scale, split, context)
        training.run()
        return training.posteriors()


class _Training:
    """The candidate networks of one fit, trained round by round: candidates that differ only in the time
    prior train together in one :class:`~fmbench.fmpe.train.TrainingGroup`, the groups one after another
    within a round."""

    def __init__(
        self,
        candidates: list[Candidate],
        theta: Tensor,
        x: Tensor,
        theta_scale: Standardizer,
        x_scale: Standardizer,
        split: tuple[Tensor, Tensor],
        context: FitContext,
    ) -> None:
        self.candidates, self.theta_scale, self.x_scale = candidates, theta_scale, x_scale
        self.nets = [
            VectorField(
                theta.shape[1], x.shape[1], c.hidden_features, c.conditioning, c.activation, c.dropout
            ).to(context.device)
            for c in candidates
        ]
        theta_z, x_z = theta_scale(theta), x_scale(x)
        self.groups: list[tuple[TrainingGroup, list[int]]] = []  # each group with its candidates
        self.where: dict[int, tuple[TrainingGroup, int]] = {}
        for members in _together(candidates).values():
            group = TrainingGroup(
                [self.nets[i] for i in members],
                candidates[members[0]].path,
                theta_z,
                x_z,
                [candidates[i].train for i in members],
                split,
                context.show_progress,
            )
            self.groups.append((group, members))
            self.where.update({i: (group, k) for k, i in enumerate(members)})
        self.max_epochs = max(c.train.max_epochs for c in candidates)

    def run(self, until: int | None = None) -> None:
        """Trains every group on up to epoch ``until`` (default: to the end)."""
        for group, _ in self.groups:
            group.run(until)

    def is_running(self, i: int) -> bool:
        """Whether candidate ``i`` is still training."""
        group, k = self.where[i]
        return k in group.running

    def stop(self, i: int) -> None:
        """Stops candidate ``i`` where it is."""
        group, k = self.where[i]
        group.stop(k)

    def posterior_so_far(self, i: int) -> FlowPosterior:
        """Candidate ``i``'s posterior with the weights of its best validation epoch so far (a copy)."""
        group, k = self.where[i]
        return self._posterior(i, group.best_net(k), group.trained_epochs(k))

    def posteriors(self) -> list[FlowPosterior]:
        """Every candidate's posterior with its best weights, in the candidates' order (after training)."""
        results: dict[int, TrainResult] = {}
        for group, members in self.groups:
            results.update(zip(members, group.results(), strict=True))
        return [self._posterior(i, self.nets[i], results[i].epochs) for i in range(len(self.candidates))]

    def _posterior(self, i: int, net: VectorField, epochs: int) -> FlowPosterior:
        c = self.candidates[i]
        return FlowPosterior(
            net,
            c.path,
            self.theta_scale,
            self.x_scale,
            c.sample_ode,
            c.log_prob_ode,
            c.divergence,
            epochs=epochs,
        )


def _together(candidates: list[Candidate]) -> dict[tuple[object, ...], list[int]]:
    """The candidates' indices grouped by everything but the time prior: each group trains together."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, c in enumerate(candidates):
        path = (type(c.path).__name__, tuple(sorted(vars(c.path).items())))
        train = dataclasses.replace(c.train, time_prior_exponent=0.0)
        key = (c.hidden_features, c.conditioning, c.activation, c.dropout, train, path)
        groups.setdefault(key, []).append(i)
    return groups


def validation_nll(posterior: FlowPosterior, theta: Tensor, x: Tensor) -> float:
    """Mean ``-log q(theta_i | x_i)`` over the pairs (``inf`` if any is not finite): the fit's own
    held-out likelihood, whose expectation is the KL divergence from the true posterior up to a constant."""
    with torch.no_grad():
        nll = -posterior.log_prob(theta, x)
    return float(nll.mean()) if bool(torch.isfinite(nll).all()) else math.inf


@METHODS.register("fmpe")
class Fmpe(_FlowMatching):
    description = "in-house FMPE (Dax et al. 2023): Gaussian OT path, residual network, torchdiffeq ODE"
    Config = FmpeConfig


@METHODS.register("fmpe_vp")
class FmpeVp(_FlowMatching):
    description = "in-house FMPE on the variance-preserving diffusion path (Lipman et al. 2023)"
    Config = FmpeVpConfig
