r"""Training the vector field by flow matching (Dax et al. 2023, Eq. 6), in a lean loop.

The loss is :math:`\mathbb E_{t \sim p_\alpha,\,\theta_1, x \sim \text{data},\,\theta_0 \sim \mathcal N(0,
I)}\,\lVert v(t, \theta_t, x) - u_t(\theta_t \mid \theta_1) \rVert^2 / D` on z-scored :math:`\theta`
and :math:`x`, with the time prior :math:`p_\alpha(t) \propto t^\alpha` on :math:`[0, 1]` (drawn as
:math:`t = u^{1/(1+\alpha)}`, then scaled to the path's end). Adam with a plateau learning-rate schedule
and early stopping on a held-out split; the weights of the best validation epoch are kept.

The validation loss is made deterministic by drawing its noise (times and :math:`\theta_0`, ``repeats``
draws per validation point) once before training, so that early stopping compares epochs rather than
noise. Minibatches are slices of one shuffled index tensor per epoch (no ``DataLoader``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from fmbench.fmpe.network import VectorField
from fmbench.fmpe.path import ProbPath

#: The version of this training code. It enters the fmpe hashes (:meth:`FlowConfig.hash_extra`): bump it when
#: a change makes the same settings and seed train other networks, so that no cell made by earlier code is
#: resumed as if made now. 1: a fit's candidate networks trained one after another; 2: the candidates that
#: differ only in their time prior trained together (:func:`train_vector_fields`), Adam fused; 3: every
#: group set up before any trains, and training in rounds that resume (:class:`TrainingGroup`, for the
#: successive halving of :mod:`fmbench.fmpe.method`). The stacked parameters of :class:`_Stack`, which
#: replaced mapping the forward pass over the networks with :func:`torch.func.vmap`, train the same networks
#: bit for bit (checked on whole fits at 1e3 and 1e4, with halving and with dropout), so they kept version 3;
#: so does the stacked copy holding those parameters instead of :func:`torch.func.functional_call` swapping
#: them in at every step (2026-12-06: whole 1e3 fits of bernoulli_glm and two_moons, and short fits with
#: glu, fmpe_vp, halving, dropout and one network at 1e4, give the same weights and samples).
TRAINING_VERSION = 3


@dataclass(frozen=True)
class Standardizer:
    """The affine z-scoring ``z = (v - mean) / std`` with training-set statistics.

    Attributes:
        mean: ``(D,)``.
        std: ``(D,)``; constant features get 1.
    """

    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, data: Tensor) -> Standardizer:
        """The z-scoring of ``data`` ``(N, D)``."""
        std = data.std(dim=0) if data.shape[0] > 1 else torch.ones_like(data[0])
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        return cls(mean=data.mean(dim=0), std=std)

    def __call__(self, value: Tensor) -> Tensor:
        """``(*, D)`` -> z-scored ``(*, D)``."""
        return (value - self.mean) / self.std

    def inverse(self, z: Tensor) -> Tensor:
        """z-scored ``(*, D)`` -> ``(*, D)``."""
        return z * self.std + self.mean

    @property
    def log_abs_det(self) -> Tensor:
        """:math:`\\log |\\det \\partial z / \\partial v| = -\\sum_i \\log \\mathrm{std}_i`, a scalar."""
        return -self.std.log().sum()

    def to(self, device: torch.device | str) -> Standardizer:
        """The same z-scoring on ``device``."""
        return Standardizer(self.mean.to(device), self.std.to(device))


@dataclass(frozen=True)
class TrainSettings:
    """The training loop's settings (already resolved from the method config).

    Attributes:
        batch_size: Minibatch size.
        learning_rate: Initial Adam learning rate.
        max_epochs: Upper bound on epochs.
        validation_fraction: Fraction of the simulations held out.
        validation_repeats: Noise draws per validation point (fixed for the whole fit).
        lr_decay_factor: Learning-rate factor of the plateau schedule.
        lr_patience: Epochs without improvement before the learning rate decays.
        early_stopping_patience: Epochs without improvement before training stops.
        time_prior_exponent: :math:`\\alpha` of the time prior :math:`p(t) \\propto t^\\alpha`.
    """

    batch_size: int
    learning_rate: float
    max_epochs: int
    validation_fraction: float
    validation_repeats: int
    lr_decay_factor: float
    lr_patience: int
    early_stopping_patience: int
    time_prior_exponent: float


@dataclass(frozen=True)
class TrainResult:
    """What training did: epochs run, best epoch, and the loss curves (one value per epoch)."""

    epochs: int
    best_epoch: int
    best_validation_loss: float
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)


def sample_time(
    n: int,
    exponent: float | Tensor,
    t_end: float,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` times ``(n, 1)`` from :math:`p(t) \\propto t^\\alpha` on ``[0, t_end]``; with ``exponent`` a
    tensor of ``K`` values, ``n`` times for each ``(K, n, 1)`` (``like``'s dtype and device; ``generator``
    on that device, or torch's global one)."""
    if isinstance(exponent, Tensor):
        shape: tuple[int, ...] = (exponent.numel(), n, 1)
        exponent = exponent.to(like.device, like.dtype).reshape(-1, 1, 1)
    else:
        shape = (n, 1)
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    return t_end * u.pow(1.0 / (1.0 + exponent))


def flow_matching_loss(
    net: VectorField, path: ProbPath, theta_1: Tensor, x: Tensor, t: Tensor, theta_0: Tensor
) -> Tensor:
    """Mean squared error per dimension between ``net`` and the path's velocity (a scalar)."""
    target = path.sample(theta_0, theta_1, t)
    return (net(t, target.theta_t, x) - target.velocity).pow(2).mean()


def split_indices(n: int, fraction: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """Random ``(train, validation)`` index tensors of ``n`` points; at least one point in each."""
    n_val = min(max(1, round(fraction * n)), n - 1)
    perm = torch.randperm(n, device=device)
    return perm[n_val:], perm[:n_val]


class _Validation:
    """The held-out loss with noise drawn once (``repeats`` draws per point)."""

    def __init__(
        self, path: ProbPath, theta: Tensor, x: Tensor, settings: TrainSettings, chunk: int = 8192
    ) -> None:
        self.path, self.chunk = path, chunk
        reps = settings.validation_repeats
        self.theta, self.x = theta.repeat(reps, 1), x.repeat(reps, 1)
        self.t = sample_time(self.theta.shape[0], settings.time_prior_exponent, path.t_end, like=theta)
        self.theta_0 = torch.randn_like(self.theta)

    def loss(self, net: VectorField) -> float:
        return fixed_noise_loss(net, self.path, self.theta, self.x, self.t, self.theta_0, self.chunk)


@torch.no_grad()
def fixed_noise_loss(
    net: VectorField,
    path: ProbPath,
    theta_1: Tensor,
    x: Tensor,
    t: Tensor,
    theta_0: Tensor,
    chunk: int = 8192,
) -> float:
    """:func:`flow_matching_loss` over all rows with the given noise, in chunks of ``chunk`` rows."""
    total = 0.0
    for s in range(0, theta_1.shape[0], chunk):
        sl = slice(s, s + chunk)
        batch = flow_matching_loss(net, path, theta_1[sl], x[sl], t[sl], theta_0[sl])
        total += batch.item() * theta_1[sl].shape[0]
    return total / theta_1.shape[0]


def adam(params: Iterable[nn.Parameter], learning_rate: float) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where torch has one for the parameters' device (CPU and CUDA;
    on CPU a third faster than the per-tensor loop for these small networks)."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.Adam(params, lr=learning_rate, fused=fused or None)


def _weights(net: nn.Module) -> dict[str, Tensor]:
    """A copy of ``net``'s state dict that owns its memory (a view's copy holds only the view)."""
    return {name: value.detach().clone() for name, value in net.state_dict().items()}


class _Member:
    """One network of a group trained together: its optimizer, learning-rate schedule, fixed validation
    noise, loss curves and best weights so far."""

    def __init__(
        self, net: VectorField, path: ProbPath, settings: TrainSettings, theta_val: Tensor, x_val: Tensor
    ) -> None:
        self.net, self.settings = net, settings
        self.validation = _Validation(path, theta_val, x_val, settings)
        self.optimizer = adam(net.parameters(), settings.learning_rate)
        self.schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=settings.lr_decay_factor, patience=settings.lr_patience
        )
        self.best, self.best_epoch, self.best_state = math.inf, 0, _weights(net)
        self.train_losses: list[float] = []
        self.validation_losses: list[float] = []
        self.stopped = False

    def end_epoch(self, epoch: int, train_loss: float) -> None:
        """Records the epoch, steps the schedule, keeps the best weights, decides early stopping."""
        self.net.eval()
        self.train_losses.append(train_loss)
        self.validation_losses.append(self.validation.loss(self.net))
        self.schedule.step(self.validation_losses[-1])
        if self.validation_losses[-1] < self.best:
            self.best, self.best_epoch = self.validation_losses[-1], epoch
            self.best_state = _weights(self.net)
        elif epoch - self.best_epoch >= self.settings.early_stopping_patience:
            self.stopped = True

    def result(self) -> TrainResult:
        """Restores the best weights; what training did."""
        self.net.load_state_dict(self.best_state)
        self.net.eval()
        return TrainResult(
            len(self.train_losses), self.best_epoch, self.best, self.train_losses, self.validation_losses
        )


class _Stack:
    """The networks of one group as one computation: each parameter of the ``K`` networks lives in one
    ``(K, ...)`` tensor, of which the networks' own parameters are the slices (so each keeps its own
    optimizer, schedule and best weights, and its own forward pass for validation), and one forward pass
    of a copy of the network whose parameters are those tensors serves all ``K`` (the layers apply stacked
    weights as batched matrix products). The same arithmetic as ``K`` separate passes, without the
    per-step copies and the mapping of the forward pass over the networks with :func:`torch.func.vmap`
    that it replaced (which trained the same networks, bit for bit). The copy holds the stacked tensors
    while they are bound, so a step swaps no parameters in and out and sets the copy's training mode only
    when it changed."""

    def __init__(self, net: VectorField) -> None:
        self.base = copy.deepcopy(net).to("meta")
        self.names = [name for name, _ in net.named_parameters()]
        self.nets: list[VectorField] = []
        self.params: list[dict[str, nn.Parameter]] = []
        self.storage: dict[str, nn.Parameter] = {}

    def bind(self, nets: list[VectorField]) -> None:
        """Makes ``nets`` the stack (a no-op if they already are; networks it held before get their own
        parameters back): their current parameters are copied into the stacked tensors, which become the
        copy's parameters, and each network's parameters become views of its slice."""
        if nets == self.nets:  # modules compare by identity
            return
        self.release()
        self.params = [dict(net.named_parameters()) for net in nets]
        for name in self.names:
            stacked = nn.Parameter(torch.stack([p[name].detach() for p in self.params]))
            owner, _, attribute = name.rpartition(".")
            setattr(self.base.get_submodule(owner), attribute, stacked)
            self.storage[name] = stacked
            for k, params in enumerate(self.params):
                params[name].data = stacked.detach()[k]
        self.nets = list(nets)

    def release(self) -> None:
        """Gives every network of the stack its own parameters again (a fit is saved with its own)."""
        for params in self.params:
            for p in params.values():
                p.data = p.data.clone()
        self.nets, self.params, self.storage = [], [], {}

    def __call__(self, t: Tensor, theta_t: Tensor, x: Tensor) -> Tensor:
        """Velocities ``(K, B, D)`` of the bound networks at ``t`` ``(K, B, 1)``, ``theta_t`` ``(K, B, D)``,
        given one ``x`` ``(B, x_dim)`` for all; :meth:`pass_gradients` hands each its share after
        ``backward``."""
        for stacked in self.storage.values():  # not Module.zero_grad, which walks the module tree each step
            stacked.grad = None
        if self.base.training != self.nets[0].training:
            self.base.train(self.nets[0].training)
        return self.base(t, theta_t, x)

    def pass_gradients(self) -> None:
        """Sets each network's parameter gradients to its slice of the stacked gradients."""
        for name, stacked in self.storage.items():
            for k, params in enumerate(self.params):
                params[name].grad = None if stacked.grad is None else stacked.grad[k]


def _train_step(
    members: list[_Member], stack: _Stack | None, path: ProbPath, theta_1: Tensor, x: Tensor
) -> list[float]:
    """One optimizer step of every member on the minibatch ``(theta_1, x)``, each with its own times and
    noise; returns each member's loss."""
    for m in members:
        m.optimizer.zero_grad(set_to_none=True)
    if len(members) == 1 or stack is None:
        m = members[0]
        t = sample_time(theta_1.shape[0], m.settings.time_prior_exponent, path.t_end, like=theta_1)
        losses = flow_matching_loss(m.net, path, theta_1, x, t, torch.randn_like(theta_1)).reshape(1)
        losses.backward()
    else:
        stack.bind([m.net for m in members])
        alphas = torch.tensor([m.settings.time_prior_exponent for m in members])
        t = sample_time(theta_1.shape[0], alphas, path.t_end, like=theta_1)
        theta_0 = torch.randn((len(members), *theta_1.shape), dtype=theta_1.dtype, device=theta_1.device)
        target = path.sample(theta_0, theta_1, t)
        velocity = stack(t, target.theta_t, x)
        losses = (velocity - target.velocity).pow(2).mean(dim=(1, 2))
        losses.sum().backward()  # the members share no parameter: each gets its own loss's gradient
        stack.pass_gradients()
    for m in members:
        m.optimizer.step()
    return losses.tolist()


class TrainingGroup:
    """Several networks of one architecture trained together, in rounds that resume where they stopped.

    Every step draws one minibatch for all of them and runs their forward and backward passes as one
    batched computation; each keeps its own time prior, optimizer, learning-rate schedule, early stopping
    and best weights, and leaves the computation when it stops (early stopping, or :meth:`stop`).

    Args:
        nets: The networks, trained in place.
        path: The probability path.
        theta: z-scored parameters ``(N, D)``.
        x: z-scored observations ``(N, x_dim)``.
        settings: One per network; they may differ only in ``time_prior_exponent``.
        split: The ``(train, validation)`` indices (default: a random split of ``validation_fraction``).
        progress: Show a progress bar of the epochs.
    """

    def __init__(
        self,
        nets: Sequence[VectorField],
        path: ProbPath,
        theta: Tensor,
        x: Tensor,
        settings: Sequence[TrainSettings],
        split: tuple[Tensor, Tensor] | None = None,
        progress: bool = False,
    ) -> None:
        if len(nets) != len(settings) or not nets:
            raise ValueError(f"one TrainSettings per network: {len(nets)} networks, {len(settings)} settings")
        shared = {dataclasses.replace(s, time_prior_exponent=0.0) for s in settings}
        if len(shared) > 1:
            raise ValueError("networks trained together may differ only in time_prior_exponent")
        self.common = settings[0]
        if split is None:
            split = split_indices(theta.shape[0], self.common.validation_fraction, theta.device)
        self.train_idx, val_idx = split
        self.path, self.theta, self.x, self.progress = path, theta, x, progress
        self.members = [
            _Member(net, path, s, theta[val_idx], x[val_idx]) for net, s in zip(nets, settings, strict=True)
        ]
        self.stack = _Stack(nets[0]) if len(nets) > 1 else None
        self.epoch = 0

    @property
    def running(self) -> list[int]:
        """The indices of the networks still training."""
        return [k for k, m in enumerate(self.members) if not m.stopped]

    def run(self, until: int | None = None) -> None:
        """Trains on up to epoch ``until`` (default and at most ``max_epochs``), or until every network has
        stopped."""
        last = self.common.max_epochs if until is None else min(until, self.common.max_epochs)
        for epoch in _progress(range(self.epoch + 1, last + 1), self.progress):
            active = [m for m in self.members if not m.stopped]
            if not active:
                break
            for m in active:
                m.net.train()
            totals, batches = [0.0] * len(active), 0
            order = self.train_idx[torch.randperm(self.train_idx.shape[0], device=self.theta.device)]
            for idx in order.split(self.common.batch_size):
                losses = _train_step(active, self.stack, self.path, self.theta[idx], self.x[idx])
                totals, batches = [a + b for a, b in zip(totals, losses, strict=True)], batches + 1
            for m, total in zip(active, totals, strict=True):
                m.end_epoch(epoch, total / batches)
            self.epoch = epoch

    def stop(self, index: int) -> None:
        """Stops network ``index`` where it is (it keeps the best weights it reached)."""
        self.members[index].stopped = True

    def trained_epochs(self, index: int) -> int:
        """The epochs network ``index`` has trained so far."""
        return len(self.members[index].train_losses)

    def best_net(self, index: int) -> VectorField:
        """A copy of network ``index`` with the weights of its best validation epoch so far, in eval mode."""
        net = copy.deepcopy(self.members[index].net)
        net.load_state_dict(self.members[index].best_state)
        return net.eval()

    def results(self) -> list[TrainResult]:
        """Restores every network's best weights; what training did, per network."""
        results = [m.result() for m in self.members]
        if self.stack is not None:
            self.stack.release()
        return results


def train_vector_fields(
    nets: Sequence[VectorField],
    path: ProbPath,
    theta: Tensor,
    x: Tensor,
    settings: Sequence[TrainSettings],
    progress: bool = False,
    split: tuple[Tensor, Tensor] | None = None,
) -> list[TrainResult]:
    """Trains several networks of one architecture in place, together, each to its own early stopping
    (:class:`TrainingGroup`, in one round). Returns what training did, per network."""
    group = TrainingGroup(nets, path, theta, x, settings, split, progress)
    group.run()
    return group.results()


def _progress(epochs: range, show: bool) -> range:
    if not show:
        return epochs
    from tqdm.auto import tqdm

    return tqdm(epochs, desc="fmpe epochs", leave=False)  # type: ignore[return-value]
