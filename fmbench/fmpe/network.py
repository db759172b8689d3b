r"""The vector-field network :math:`v(t, \theta_t, x)`: a dense residual network (Dax et al. 2023, Sec. 3).

Layout (after dingo's ``DenseResidualNet``, the network of the FMPE paper): a linear layer to the first
width, one residual block per entry of ``widths`` with a linear resize between blocks of different widths,
and a linear output layer to ``theta_dim``. A residual block is
:math:`h \mapsto h + g \odot W_2\,\mathrm{drop}(\phi(W_1\,\phi(h)))` with activation :math:`\phi` and
dropout (off by default; where nflows' residual block, which dingo uses, puts it), where the gate
:math:`g` is 1 or a gated linear unit's :math:`\mathrm{sigmoid}(W_c\,c)` of a context :math:`c`
(:math:`\mathrm{GLU}(a, b) = a \odot \mathrm{sigmoid}(b)`, Dauphin et al. 2017). The conditioning decides
what is the input and what the context:

- ``"concat"``: the input layer sees :math:`[\theta_t, t, x]`; no gate.
- ``"glu"``: the input layer sees :math:`[\theta_t, t]`; :math:`c = [t, x]` gates every block (dingo's
  ``context_with_glu``).
- ``"glu_theta"``: the input layer sees :math:`x`; :math:`c = [\theta_t, t]` gates every block (dingo's
  ``theta_with_glu``; dingo is the paper's code base, and a public two_moons configuration built on it
  sets this option). The blocks then process the observation and :math:`(t, \theta_t)` steers them.

Every layer that takes :math:`x` is split into a part for :math:`x` and a part for the rest and summed,
which is the same linear map as on the concatenation but lets one observation ``(1, x_dim)`` broadcast
against a batch of ``theta`` without copying it (the ODE solves of sampling and ``log_prob``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}
CONDITIONINGS = ("concat", "glu", "glu_theta")


class _Linear(nn.Linear):
    """:class:`torch.nn.Linear` that also takes the weights of ``K`` networks at once: with a weight
    ``(K, out, in)`` and a bias ``(K, out)`` (as the stacked copy holds them when the networks of a group
    train together, :mod:`fmbench.fmpe.train`), inputs ``(K, B, in)`` or ``(B, in)``
    give ``(K, B, out)``."""

    def forward(self, h: Tensor) -> Tensor:
        if self.weight.dim() == 2:
            return super().forward(h)
        out = torch.matmul(h, self.weight.mT)
        return out if self.bias is None else out + self.bias.unsqueeze(-2)


class _SplitLinear(nn.Module):
    """``W [a, x] + b`` computed as ``W_a a + W_x x + b`` so that ``x`` may broadcast over the batch."""

    def __init__(self, a_features: int, x_features: int, out_features: int) -> None:
        super().__init__()
        self.a = _Linear(a_features, out_features)
        self.x = _Linear(x_features, out_features, bias=False)

    def forward(self, a: Tensor, x: Tensor) -> Tensor:
        return self.a(a) + self.x(x)


class _ParameterTimeGate(_Linear):
    """The gate of ``"glu_theta"`` conditioning: linear in ``[theta_t, t]``, blind to ``x``."""

    def forward(self, a: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(a)


class ResidualBlock(nn.Module):
    """:math:`h + g \\odot W_2\\,\\mathrm{drop}(\\phi(W_1 \\phi(h)))`, the gate ``g`` from the context when
    there is one.

    Args:
        features: Width of the block.
        activation: A name in :data:`ACTIVATIONS`.
        make_gate: Builds the gate from the width: ``None`` (no gate) or a module mapping ``(a, x)`` to
            the gate's logits ``(B, F)``, where ``a`` is ``t`` (``"glu"``) or ``[theta_t, t]``
            (``"glu_theta"``). Called after the block's own layers, so that parameters are drawn in a
            fixed order.
        dropout: Probability of zeroing each hidden unit before :math:`W_2` in training; 0 (the default)
            leaves the block as it was before the setting existed.
    """

    def __init__(
        self,
        features: int,
        activation: str,
        make_gate: Callable[[int], nn.Module | None],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.act = ACTIVATIONS[activation]()
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear1 = _Linear(features, features)
        self.linear2 = _Linear(features, features)
        nn.init.uniform_(self.linear2.weight, -1e-3, 1e-3)  # start close to the identity (as nflows)
        nn.init.uniform_(self.linear2.bias, -1e-3, 1e-3)
        self.gate = make_gate(features)

    def forward(self, h: Tensor, a: Tensor, x: Tensor) -> Tensor:
        """``h`` ``(B or 1, F)``, the gate's inputs ``a`` ``(B, 1 or D + 1)`` and ``x`` ``(B or 1, x_dim)``
        -> ``(B, F)``."""
        out = self.linear2(self.dropout(self.act(self.linear1(self.act(h)))))
        if self.gate is not None:
            out = out * torch.sigmoid(self.gate(a, x))
        return h + out

    def __setstate__(self, state: dict) -> None:
        """Unpickle, also a block saved before dropout existed (it had none)."""
        state["_modules"].setdefault("dropout", nn.Identity())
        super().__setstate__(state)


class VectorField(nn.Module):
    """The conditional vector field :math:`v(t, \\theta_t, x)` as a dense residual network.

    Args:
        theta_dim: Dimension ``D`` of the parameters.
        x_dim: Dimension of the observations.
        widths: Width of each residual block, e.g. ``(64, 128, 128, 64)``.
        conditioning: A name in :data:`CONDITIONINGS` (see the module docstring).
        activation: A name in :data:`ACTIVATIONS`.
        dropout: Dropout probability inside every residual block, in ``[0, 1)``.
    """

    def __init__(
        self,
        theta_dim: int,
        x_dim: int,
        widths: Sequence[int],
        conditioning: str = "concat",
        activation: str = "gelu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        widths = list(widths)
        self.theta_dim, self.x_dim, self.conditioning = theta_dim, x_dim, conditioning
        self.input: nn.Module
        if conditioning == "concat":
            self.input = _SplitLinear(theta_dim + 1, x_dim, widths[0])
        elif conditioning == "glu":
            self.input = _Linear(theta_dim + 1, widths[0])
        else:
            self.input = _Linear(x_dim, widths[0])

        def gate(features: int) -> nn.Module | None:
            if conditioning == "glu":
                return _SplitLinear(1, x_dim, features)
            if conditioning == "glu_theta":
                return _ParameterTimeGate(theta_dim + 1, features)
            return None

        self.blocks = nn.ModuleList(ResidualBlock(w, activation, gate, dropout) for w in widths)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.resize = nn.ModuleList(_Linear(a, b) if a != b else nn.Identity() for a, b in pairs)
        self.output = _Linear(widths[-1], theta_dim)

    def __setstate__(self, state: dict) -> None:
        """Unpickle, also a fit saved before ``conditioning`` was stored (only concat and glu existed)."""
        if "conditioning" not in state:
            concat = isinstance(state["_modules"]["input"], _SplitLinear)
            state["conditioning"] = "concat" if concat else "glu"
        super().__setstate__(state)

    def forward(self, t: Tensor, theta: Tensor, x: Tensor) -> Tensor:
        """Velocity ``(B, D)`` at times ``t`` ``(B or 1, 1)``, points ``theta`` ``(B, D)``, given ``x``
        ``(B or 1, x_dim)``; with the stacked parameters of ``K`` networks (:class:`_Linear`), ``t`` and
        ``theta`` ``(K, B, ...)`` give ``(K, B, D)``."""
        t = t.expand(*theta.shape[:-1], 1)
        theta_t = torch.cat((theta, t), dim=-1)
        if self.conditioning == "concat":
            h, a = self.input(theta_t, x), t  # no gate: a is unused
        elif self.conditioning == "glu":
            h, a = self.input(theta_t), t
        else:
            h, a = self.input(x), theta_t
        for i, block in enumerate(self.blocks):
            h = block(h, a, x)
            if i < len(self.resize):
                h = self.resize[i](h)
        return self.output(h)
