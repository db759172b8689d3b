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
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from fmbench.fmpe.network import VectorField
from fmbench.fmpe.path import ProbPath


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
    n: int, exponent: float, t_end: float, like: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """``n`` times ``(n, 1)`` from :math:`p(t) \\propto t^\\alpha` on ``[0, t_end]`` (``like``'s dtype and
    device; ``generator`` on that device, or torch's global one)."""
    u = torch.rand(n, 1, dtype=like.dtype, device=like.device, generator=generator)
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


def _train_epoch(
    net: VectorField,
    path: ProbPath,
    theta: Tensor,
    x: Tensor,
    order: Tensor,
    optimizer: torch.optim.Optimizer,
    settings: TrainSettings,
) -> float:
    """One pass over the training points in ``order``; returns the mean minibatch loss."""
    net.train()
    total, batches = 0.0, 0
    for idx in order.split(settings.batch_size):
        theta_1, x_b = theta[idx], x[idx]
        t = sample_time(idx.shape[0], settings.time_prior_exponent, path.t_end, like=theta_1)
        loss = flow_matching_loss(net, path, theta_1, x_b, t, torch.randn_like(theta_1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
    return total / batches


def train_vector_field(
    net: VectorField,
    path: ProbPath,
    theta: Tensor,
    x: Tensor,
    settings: TrainSettings,
    progress: bool = False,
    split: tuple[Tensor, Tensor] | None = None,
) -> TrainResult:
    """Trains ``net`` in place on z-scored ``theta`` ``(N, D)`` and ``x`` ``(N, x_dim)``.

    Keeps the weights of the epoch with the lowest validation loss. ``split`` gives the ``(train,
    validation)`` indices (several fits on one split are comparable); by default a random split of
    ``settings.validation_fraction``.
    """
    if split is None:
        split = split_indices(theta.shape[0], settings.validation_fraction, theta.device)
    train_idx, val_idx = split
    validation = _Validation(path, theta[val_idx], x[val_idx], settings)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=settings.lr_decay_factor, patience=settings.lr_patience
    )
    best, best_epoch, best_state = math.inf, 0, copy.deepcopy(net.state_dict())
    train_losses: list[float] = []
    val_losses: list[float] = []
    epochs = _progress(range(1, settings.max_epochs + 1), progress)
    for epoch in epochs:
        order = train_idx[torch.randperm(train_idx.shape[0], device=theta.device)]
        train_losses.append(_train_epoch(net, path, theta, x, order, optimizer, settings))
        net.eval()
        val_losses.append(validation.loss(net))
        schedule.step(val_losses[-1])
        if val_losses[-1] < best:
            best, best_epoch, best_state = val_losses[-1], epoch, copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= settings.early_stopping_patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    return TrainResult(len(train_losses), best_epoch, best, train_losses, val_losses)


def _progress(epochs: range, show: bool) -> range:
    if not show:
        return epochs
    from tqdm.auto import tqdm

    return tqdm(epochs, desc="fmpe epochs", leave=False)  # type: ignore[return-value]
