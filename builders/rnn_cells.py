"""Local recurrent cells of the ConvRNNs (thesis §2.5.2): convolutional, one interface.

Every cell maps the layer's feedforward *drive* ``x_t`` (``N × C × H × W``, the output of the layer's
feedforward convolution and ELU) and its previous state to an output of the same shape and a new
state: ``cell(x_t, state) → (y_t, state')``.  ``state=None`` is the zero state (the layer has not
responded before).  ``*`` is a ``k × k`` "same" convolution with its own weights, ``⊙`` the
element-wise product, ``σ`` the logistic sigmoid.

* ``timedecay`` — ``c_t = σ(τ) ⊙ c_{t−1} + x_t``, ``y_t = c_t`` (one learnable decay ``τ`` per channel;
  no recurrent convolution: the leaky-integrator baseline).
* ``simplernn`` — ``h_t = ELU(x_t + W_h * h_{t−1} + b)``, ``y_t = h_t``.
* ``gru`` — ``z = σ(W_xz * x + W_hz * h + b_z)``, ``r = σ(W_xr * x + W_hr * h + b_r)``,
  ``h̃ = tanh(W_xh * x + W_hh * (r ⊙ h) + b_h)``, ``h_t = (1 − z) ⊙ h_{t−1} + z ⊙ h̃``, ``y_t = h_t``.
* ``lstm`` — ``i, f, o = σ(W_x· * x + W_h· * h + b_·)``, ``g = tanh(W_xg * x + W_hg * h + b_g)``,
  ``c_t = f ⊙ c_{t−1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``, ``y_t = h_t``; state ``(h, c)``.
* ``ugrnn`` (update-gate RNN, Collins et al. 2017) — ``c = tanh(W_xc * x + W_hc * h + b_c)``,
  ``g = σ(W_xg * x + W_hg * h + b_g)``, ``h_t = g ⊙ h_{t−1} + (1 − g) ⊙ c``, ``y_t = h_t``.
* ``intersection`` (IntersectionRNN, Collins et al. 2017) — two input-dependent paths and two gates:
  ``y_in = tanh(W_xy * x + W_hy * h + b_y)``, ``h_in = tanh(W_xh * x + W_hh * h + b_h)``,
  ``g_y, g_h = σ(W_x· * x + W_h· * h + b_·)``; ``y_t = g_y ⊙ x + (1 − g_y) ⊙ y_in`` (the output keeps a
  gated copy of the drive) and ``h_t = g_h ⊙ h_{t−1} + (1 − g_h) ⊙ h_in``.
* ``rgc`` (Reciprocal Gated Cell, Nayebi et al. 2018) — two states, the output ``h`` and a memory ``c``,
  each gating the other's input (the gates are "reciprocal"):
  ``h_t = (1 − σ(W_ch * c_{t−1} + b_ch)) ⊙ x_t + (1 − σ(W_hh * h_{t−1} + b_hh)) ⊙ h_{t−1}``,
  ``c_t = (1 − σ(W_hc * h_{t−1} + b_hc)) ⊙ x_t + (1 − σ(W_cc * c_{t−1} + b_cc)) ⊙ c_{t−1}``,
  ``y_t = ELU(h_t)``.  With zero states the gates are ``σ(b)``, so ``h_1 = (1 − σ(b_ch)) ⊙ x_1`` and
  ``c_1 = (1 − σ(b_hc)) ⊙ x_1``; only with zero biases is every gate ½ and ``h_1 = c_1 = x_1/2``.

Imports nothing from goalstore.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

State = Any  #: a cell's state: a tensor, a tuple of tensors, or None (zero state)


def _conv(cin: int, cout: int, kernel: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)


class RecurrentCell(nn.Module):
    """Interface: ``forward(x, state) → (output, state')``; ``state=None`` is the zero state."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.channels, self.kernel = channels, kernel

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        raise NotImplementedError


class TimeDecay(RecurrentCell):
    """``c_t = σ(τ) ⊙ c_{t−1} + x_t`` (per-channel learnable decay; τ = 0 initially, decay ½)."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__(channels, kernel)
        self.tau = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        c = x if state is None else torch.sigmoid(self.tau).view(1, -1, 1, 1) * state + x
        return c, c


class SimpleRNN(RecurrentCell):
    """``h_t = ELU(x_t + W_h * h_{t−1} + b)``."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__(channels, kernel)
        self.rec = _conv(channels, channels, kernel)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        h = torch.zeros_like(x) if state is None else state
        h = F.elu(x + self.rec(h))
        return h, h


class _Gated(RecurrentCell):
    """Cells whose gates read ``[x, h]``: one convolution producing ``n_gates × channels`` maps."""

    n_gates = 1

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__(channels, kernel)
        self.gates = _conv(2 * channels, self.n_gates * channels, kernel)

    def _split(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.chunk(self.gates(torch.cat([x, h], dim=1)), self.n_gates, dim=1)


class GRU(_Gated):
    """Convolutional GRU (see the module docstring); the candidate reads ``r ⊙ h``."""

    n_gates = 2

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__(channels, kernel)
        self.candidate = _conv(2 * channels, channels, kernel)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        h = torch.zeros_like(x) if state is None else state
        z, r = (torch.sigmoid(g) for g in self._split(x, h))
        cand = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        h = (1 - z) * h + z * cand
        return h, h


class LSTM(_Gated):
    """Convolutional LSTM; state ``(h, c)``, output ``h``."""

    n_gates = 4

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        h, c = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        i, f, o, g = self._split(x, h)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class UGRNN(_Gated):
    """Update-gate RNN: ``h_t = g ⊙ h_{t−1} + (1 − g) ⊙ tanh(W * [x, h] + b)``."""

    n_gates = 2

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        h = torch.zeros_like(x) if state is None else state
        c, g = self._split(x, h)
        g = torch.sigmoid(g)
        h = g * h + (1 - g) * torch.tanh(c)
        return h, h


class IntersectionRNN(_Gated):
    """IntersectionRNN: output ``y`` (gated mix of the drive and a new path) and state ``h``."""

    n_gates = 4

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        h = torch.zeros_like(x) if state is None else state
        y_in, h_in, g_y, g_h = self._split(x, h)
        g_y, g_h = torch.sigmoid(g_y), torch.sigmoid(g_h)
        y = g_y * x + (1 - g_y) * torch.tanh(y_in)
        h = g_h * h + (1 - g_h) * torch.tanh(h_in)
        return y, h


class ReciprocalGated(RecurrentCell):
    """Reciprocal Gated Cell: states ``(h, c)``, each gating the other's input; output ``ELU(h)``."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__(channels, kernel)
        self.c_to_h, self.h_to_h = _conv(channels, channels, kernel), _conv(channels, channels, kernel)
        self.h_to_c, self.c_to_c = _conv(channels, channels, kernel), _conv(channels, channels, kernel)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        h, c = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        h_new = (1 - torch.sigmoid(self.c_to_h(c))) * x + (1 - torch.sigmoid(self.h_to_h(h))) * h
        c_new = (1 - torch.sigmoid(self.h_to_c(h))) * x + (1 - torch.sigmoid(self.c_to_c(c))) * c
        return F.elu(h_new), (h_new, c_new)


class Identity(RecurrentCell):
    """No local recurrence (the feedforward BaseNet): ``y_t = x_t``; parameter-free."""

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        return x, None


#: cell name → class
CELLS: dict[str, type[RecurrentCell]] = {
    "none": Identity, "timedecay": TimeDecay, "simplernn": SimpleRNN, "gru": GRU, "lstm": LSTM,
    "ugrnn": UGRNN, "intersection": IntersectionRNN, "rgc": ReciprocalGated,
}


def build_cell(name: str, channels: int, kernel: int = 3) -> RecurrentCell:
    """The cell ``name`` (see :data:`CELLS`) for ``channels`` channels with ``kernel × kernel`` convolutions."""
    key = name.lower()
    if key not in CELLS:
        raise ValueError(f"cell {name!r}: unknown; expected one of {', '.join(CELLS)}")
    return CELLS[key](channels, kernel)
