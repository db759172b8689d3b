r"""The vector-field network :math:`v(t, \theta_t, x)`: a dense residual network (Dax et al. 2023, Sec. 3).

Layout (after dingo's ``DenseResidualNet``, the network of the FMPE paper): a linear layer to the first
width, one residual block per entry of ``widths`` with a linear resize between blocks of different widths,
and a linear output layer to ``theta_dim``. A residual block is
:math:`h \mapsto h + g \odot W_2\,\phi(W_1\,\phi(h))` with activation :math:`\phi`, where the gate
:math:`g` is 1 (``"concat"`` conditioning) or :math:`\mathrm{sigmoid}(W_c\,[t, x])` (``"glu"``
conditioning: a gated linear unit, :math:`\mathrm{GLU}(a, b) = a \odot \mathrm{sigmoid}(b)`, Dauphin et
al. 2017). With ``"concat"`` the input layer sees :math:`[\theta_t, t, x]`; with ``"glu"`` it sees
:math:`[\theta_t, t]` and :math:`[t, x]` enters every block through its gate.

Every layer that takes :math:`x` is split into a part for :math:`x` and a part for the rest and summed,
which is the same linear map as on the concatenation but lets one observation ``(1, x_dim)`` broadcast
against a batch of ``theta`` without copying it (the ODE solves of sampling and ``log_prob``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}
CONDITIONINGS = ("concat", "glu")


class _SplitLinear(nn.Module):
    """``W [a, x] + b`` computed as ``W_a a + W_x x + b`` so that ``x`` may broadcast over the batch."""

    def __init__(self, a_features: int, x_features: int, out_features: int) -> None:
        super().__init__()
        self.a = nn.Linear(a_features, out_features)
        self.x = nn.Linear(x_features, out_features, bias=False)

    def forward(self, a: Tensor, x: Tensor) -> Tensor:
        return self.a(a) + self.x(x)


class ResidualBlock(nn.Module):
    """:math:`h + g \\odot W_2 \\phi(W_1 \\phi(h))`, the gate ``g`` from the context when ``gated``.

    Args:
        features: Width of the block.
        x_features: Width of the observation (used only when ``gated``).
        activation: A name in :data:`ACTIVATIONS`.
        gated: Whether ``[t, x]`` gates the block's output (GLU conditioning).
    """

    def __init__(self, features: int, x_features: int, activation: str, gated: bool) -> None:
        super().__init__()
        self.act = ACTIVATIONS[activation]()
        self.linear1 = nn.Linear(features, features)
        self.linear2 = nn.Linear(features, features)
        nn.init.uniform_(self.linear2.weight, -1e-3, 1e-3)  # start close to the identity (as nflows)
        nn.init.uniform_(self.linear2.bias, -1e-3, 1e-3)
        self.gate = _SplitLinear(1, x_features, features) if gated else None

    def forward(self, h: Tensor, t: Tensor, x: Tensor) -> Tensor:
        """``h`` ``(B, F)``, ``t`` ``(B or 1, 1)``, ``x`` ``(B or 1, x_dim)`` -> ``(B, F)``."""
        out = self.linear2(self.act(self.linear1(self.act(h))))
        if self.gate is not None:
            out = out * torch.sigmoid(self.gate(t, x))
        return h + out


class VectorField(nn.Module):
    """The conditional vector field :math:`v(t, \\theta_t, x)` as a dense residual network.

    Args:
        theta_dim: Dimension ``D`` of the parameters.
        x_dim: Dimension of the observations.
        widths: Width of each residual block, e.g. ``(64, 128, 128, 64)``.
        conditioning: ``"concat"`` or ``"glu"`` (see the module docstring).
        activation: A name in :data:`ACTIVATIONS`.
    """

    def __init__(
        self,
        theta_dim: int,
        x_dim: int,
        widths: Sequence[int],
        conditioning: str = "concat",
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        gated = conditioning == "glu"
        widths = list(widths)
        self.theta_dim, self.x_dim = theta_dim, x_dim
        self.input = (
            nn.Linear(theta_dim + 1, widths[0]) if gated else _SplitLinear(theta_dim + 1, x_dim, widths[0])
        )
        self.blocks = nn.ModuleList(ResidualBlock(w, x_dim, activation, gated) for w in widths)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.resize = nn.ModuleList(nn.Linear(a, b) if a != b else nn.Identity() for a, b in pairs)
        self.output = nn.Linear(widths[-1], theta_dim)

    def forward(self, t: Tensor, theta: Tensor, x: Tensor) -> Tensor:
        """Velocity ``(B, D)`` at times ``t`` ``(B or 1, 1)``, points ``theta`` ``(B, D)``, given ``x``
        ``(B or 1, x_dim)``."""
        t = t.expand(theta.shape[0], 1)
        theta_t = torch.cat((theta, t), dim=1)
        h = self.input(theta_t) if isinstance(self.input, nn.Linear) else self.input(theta_t, x)
        for i, block in enumerate(self.blocks):
            h = block(h, t, x)
            if i < len(self.resize):
                h = self.resize[i](h)
        return self.output(h)
