"""Path-integrating recurrent networks (thesis ch. 4; science notes §3 "Path integrator models").

A :class:`PathIntegrator` reads the self-motion of a simulated trajectory
(:mod:`builders.trajectories`) one step at a time and reports where the agent is::

    h_0 = E · (n·a(p_0))                              (E linear; a = place-cell code, builders.place_cells)
    h_t = cell(x_t, h_{t−1}),  t = 1 … T              (x_t = (v_x, v_y) or (speed, sin Δθ, cos Δθ),
                                                       optionally + (cos θ_t, sin θ_t) head direction)
    y_t = D · h_t + d                                 (D linear: 512 place-cell logits, or (x, y))

The start code is read scaled by the number of place cells ``n`` (mean 1 per cell instead of 1/n): the
normalised DoG code is nearly flat (its peak is ~0.02 with 512 cells), so this linear reparameterisation
of ``E`` lets Adam move the start state at the pace of the other weights.

Cells (``h`` of size ``hidden``; ``σ`` the logistic sigmoid, ``f`` the RNN's nonlinearity):

* ``rnn`` — ``h_t = f(W x_t + U h_{t−1} + b)``, ``f`` ∈ linear / tanh / sigmoid / relu;
* ``ugrnn`` — ``c = tanh(W_c x + U_c h + b_c)``, ``g = σ(W_g x + U_g h + b_g)``,
  ``h_t = g ⊙ h_{t−1} + (1 − g) ⊙ c``;
* ``gru`` / ``lstm`` — ``torch.nn.GRUCell`` / ``LSTMCell`` (the LSTM's memory ``c_0`` has its own
  encoder ``E_c``; its output ``h`` is the hidden layer).

Losses (mean over batch and steps), plus ``λ‖U‖²`` (λ = 1e-4) on the recurrent weights ``U``:

* ``place_cells`` — softmax cross-entropy ``−Σ_i a_i(p_t) log softmax_i(y_t)`` against the place-cell
  code of the true position;
* ``position`` — squared error ``‖y_t − p_t‖²``.

Decoded position: top-3 place cells of ``y_t`` (place-cell loss) or ``y_t`` itself (position loss).
A knockout (``knockout=`` unit indices) sets those hidden units' outputs to zero at every step,
before they reach the read-out and the next step; their outgoing weights are unchanged.

:func:`train_path_integrator` trains one with Adam on fresh simulated batches each step; it is
deterministic given ``seed`` (``torch.manual_seed`` for the weights, a ``numpy`` Generator for the
trajectories).  Paper defaults (:data:`PRESETS` ``paper``): 4096 hidden units, 20 steps, batch 200,
lr 1e-4; the ``tiny`` preset (128 hidden, batch 64, lr 3e-3, 300 iterations) trains on a CPU in tens of
seconds; at that budget the gated cells (UGRNN, LSTM, GRU) learn to decode, the plain RNN barely does.
Imports nothing from goalstore.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from builders.place_cells import BOX, N_CELLS, SIGMA, SURROUND, PlaceCells
from builders.trajectories import Trajectories, simulate_trajectories

CELLS = ("rnn", "ugrnn", "gru", "lstm")
NONLINEARITIES = ("linear", "tanh", "sigmoid", "relu")
LOSSES = ("place_cells", "position")
INPUTS = ("velocity", "speed_turn")
ARCHITECTURE = "path-integrator"
_ACTIVATIONS = {"linear": lambda x: x, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


class _RNNCell(nn.Module):
    def __init__(self, n_in: int, hidden: int, nonlinearity: str):
        super().__init__()
        self.input = nn.Linear(n_in, hidden)
        self.recurrent = nn.Linear(hidden, hidden, bias=False)
        self.f = _ACTIVATIONS[nonlinearity]

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.f(self.input(x) + self.recurrent(h))

    def recurrent_weights(self) -> list[torch.Tensor]:
        return [self.recurrent.weight]


class _UGRNNCell(nn.Module):
    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.input = nn.Linear(n_in, 2 * hidden)
        self.recurrent = nn.Linear(hidden, 2 * hidden, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        c, g = (self.input(x) + self.recurrent(h)).chunk(2, -1)
        g = torch.sigmoid(g)
        return g * h + (1 - g) * torch.tanh(c)

    def recurrent_weights(self) -> list[torch.Tensor]:
        return [self.recurrent.weight]


class PathIntegrator(nn.Module):
    """Velocity (± head direction) → recurrent layer → place-cell logits or (x, y) (module docstring)."""

    def __init__(self, hidden: int = 4096, cell: str = "rnn", nonlinearity: str = "relu",
                 loss: str = "place_cells", inputs: str = "velocity", head_direction: bool = False,
                 n_place_cells: int = N_CELLS, place_cell_sigma: float = SIGMA,
                 place_cell_surround: float = SURROUND, box: float = BOX, place_cell_seed: int = 0):
        super().__init__()
        for name, value, allowed in (("cell", cell, CELLS), ("nonlinearity", nonlinearity, NONLINEARITIES),
                                     ("loss", loss, LOSSES), ("inputs", inputs, INPUTS)):
            if value not in allowed:
                raise ValueError(f"path integrator {name} {value!r}: expected one of {', '.join(allowed)}")
        self.hidden, self.cell_name, self.nonlinearity = int(hidden), cell, nonlinearity
        self.loss_name, self.inputs, self.head_direction = loss, inputs, bool(head_direction)
        self.n_inputs = (2 if inputs == "velocity" else 3) + (2 if head_direction else 0)
        self.place_cells = PlaceCells(n_place_cells, place_cell_sigma, place_cell_surround, box,
                                      place_cell_seed)
        self.encoder = nn.Linear(n_place_cells, self.hidden)
        self.memory_encoder = nn.Linear(n_place_cells, self.hidden) if cell == "lstm" else None
        if cell == "rnn":
            self.cell: nn.Module = _RNNCell(self.n_inputs, self.hidden, nonlinearity)
        elif cell == "ugrnn":
            self.cell = _UGRNNCell(self.n_inputs, self.hidden)
        elif cell == "gru":
            self.cell = nn.GRUCell(self.n_inputs, self.hidden)
        else:
            self.cell = nn.LSTMCell(self.n_inputs, self.hidden)
        self.decoder = nn.Linear(self.hidden, n_place_cells if loss == "place_cells" else 2)

    def recurrent_weights(self) -> list[torch.Tensor]:
        """The hidden-to-hidden weights ``U`` (the L2 penalty's target)."""
        if isinstance(self.cell, (nn.GRUCell, nn.LSTMCell)):
            return [self.cell.weight_hh]
        return self.cell.recurrent_weights()

    def rollout(self, inputs: torch.Tensor, start: torch.Tensor | None = None,
                knockout: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs (B × T × n_out) and hidden states (B × T × hidden) for ``inputs`` (B × T × n_inputs)
        from start positions ``start`` (B × 2; None: the arena centre, so generic tools can call the
        network with its input alone); ``knockout`` (unit indices) zeroes those hidden units' outputs
        at every step."""
        if inputs.shape[-1] != self.n_inputs:
            raise ValueError(f"path integrator inputs: last dim {inputs.shape[-1]}, expected {self.n_inputs}")
        dev = self.encoder.weight
        if start is None:
            start = torch.zeros(inputs.shape[0], 2)
        inputs, start = inputs.to(dev), start.to(dev)
        keep = None
        if knockout is not None:
            keep = torch.ones(self.hidden, dtype=dev.dtype, device=dev.device)
            keep[torch.as_tensor(knockout, dtype=torch.long, device=dev.device)] = 0.0
        code = self.place_cells(start) * self.place_cells.n  # n·a: mean 1 per cell (module docstring)
        h = self.encoder(code)
        c = self.memory_encoder(code) if self.memory_encoder is not None else None
        if keep is not None:
            h = h * keep
        states = []
        for t in range(inputs.shape[1]):
            if c is not None:
                h, c = self.cell(inputs[:, t], (h, c))
            else:
                h = self.cell(inputs[:, t], h)
            if keep is not None:
                h = h * keep
            states.append(h)
        hidden = torch.stack(states, 1)
        return self.decoder(hidden), hidden

    def forward(self, inputs: torch.Tensor, start: torch.Tensor | None = None,
                knockout: torch.Tensor | None = None) -> torch.Tensor:
        """The outputs (B × T × n_out): place-cell logits or (x, y)."""
        return self.rollout(inputs, start, knockout)[0]

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        """Decoded positions (… × 2): top-3 place cells of the logits, or the (x, y) output itself."""
        return self.place_cells.decode(outputs) if self.loss_name == "place_cells" else outputs

    def task_loss(self, outputs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Place-cell cross-entropy or position squared error, mean over batch and steps (no L2)."""
        positions = positions.to(outputs)
        if self.loss_name == "place_cells":
            return -(self.place_cells(positions) * F.log_softmax(outputs, -1)).sum(-1).mean()
        return (outputs - positions).pow(2).sum(-1).mean()

    def architecture_args(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this (untrained) network through ``build_network``."""
        pc = self.place_cells
        return {"hidden": self.hidden, "cell": self.cell_name, "nonlinearity": self.nonlinearity,
                "loss": self.loss_name, "inputs": self.inputs, "head_direction": self.head_direction,
                "n_place_cells": pc.n, "place_cell_sigma": pc.sigma, "place_cell_surround": pc.surround,
                "box": pc.box, "place_cell_seed": pc.seed}


#: keyword arguments of the ``path-integrator`` architecture with their defaults
PATH_INTEGRATOR_ARGS: dict[str, Any] = {
    "hidden": 4096, "cell": "rnn", "nonlinearity": "relu", "loss": "place_cells", "inputs": "velocity",
    "head_direction": False, "n_place_cells": N_CELLS, "place_cell_sigma": SIGMA,
    "place_cell_surround": SURROUND, "box": BOX, "place_cell_seed": 0}


def build_path_integrator(**args: Any) -> PathIntegrator:
    """A :class:`PathIntegrator` from ``build_network("path-integrator", **args)``'s arguments."""
    unexpected = sorted(set(args) - set(PATH_INTEGRATOR_ARGS))
    if unexpected:
        raise ValueError(f"architecture {ARCHITECTURE!r}: unexpected argument(s) {', '.join(unexpected)}; "
                         f"expected {', '.join(PATH_INTEGRATOR_ARGS)}")
    return PathIntegrator(**{**PATH_INTEGRATOR_ARGS, **args})


def network_inputs(traj: Trajectories, inputs: str = "velocity", head_direction: bool = False) -> torch.Tensor:
    """The per-step network input (B × T × D, float32) of a trajectory batch: ``(v_x, v_y)`` or
    ``(speed, sin Δθ, cos Δθ)``, plus ``(cos θ_t, sin θ_t)`` of the step's heading if ``head_direction``."""
    if inputs not in INPUTS:
        raise ValueError(f"path integrator inputs {inputs!r}: expected one of {', '.join(INPUTS)}")
    parts = [traj.velocity] if inputs == "velocity" else [traj.speed[..., None], traj.heading_change]
    if head_direction:
        theta = traj.heading[:, 1:]
        parts.append(np.stack([np.cos(theta), np.sin(theta)], -1))
    return torch.from_numpy(np.concatenate(parts, -1)).float()


def decoding_error(model: PathIntegrator, traj: Trajectories,
                   knockout: torch.Tensor | None = None) -> torch.Tensor:
    """Distance (m) between the decoded and the true position, B × T (step t ends at ``position[:, t+1]``)."""
    with torch.no_grad():
        out = model(network_inputs(traj, model.inputs, model.head_direction),
                    torch.from_numpy(traj.position[:, 0]).float(), knockout)
        decoded = model.decode(out).cpu()
    return (decoded - torch.from_numpy(traj.position[:, 1:]).float()).norm(dim=-1)


@dataclass(frozen=True)
class PathIntegratorConfig:
    """One path-integrator training run (network, task and optimisation)."""

    hidden: int = 4096
    cell: str = "rnn"
    nonlinearity: str = "relu"
    loss: str = "place_cells"
    inputs: str = "velocity"
    head_direction: bool = False
    steps: int = 20  #: trajectory length (time steps per path)
    batch_size: int = 200
    iterations: int = 1000  #: optimiser steps, each on a fresh batch
    lr: float = 1e-4
    weight_decay: float = 1e-4  #: λ of the L2 penalty on the recurrent weights
    arena: str = "square"
    box: float = BOX  #: arena size (m) and place-cell box
    n_place_cells: int = N_CELLS
    place_cell_sigma: float = SIGMA
    place_cell_surround: float = SURROUND
    place_cell_seed: int = 0
    seed: int = 0
    device: str = "cpu"

    def architecture_args(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "cell": self.cell, "nonlinearity": self.nonlinearity, "loss": self.loss,
                "inputs": self.inputs, "head_direction": self.head_direction,
                "n_place_cells": self.n_place_cells, "place_cell_sigma": self.place_cell_sigma,
                "place_cell_surround": self.place_cell_surround, "box": self.box,
                "place_cell_seed": self.place_cell_seed}


#: ``paper``: the thesis defaults; ``tiny``: a CPU-scale run (seconds)
PRESETS: dict[str, PathIntegratorConfig] = {
    "paper": PathIntegratorConfig(),
    "tiny": PathIntegratorConfig(hidden=128, steps=20, batch_size=64, iterations=300, lr=3e-3),
}


def preset(name: str, **overrides: Any) -> PathIntegratorConfig:
    """The preset ``name`` (``paper`` / ``tiny``) with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"path integrator preset {name!r}: expected one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


@dataclass
class TrainedPathIntegrator:
    """A trained network, its per-iteration loss (task loss + L2) and the config that made it."""

    model: PathIntegrator
    losses: list[float] = field(default_factory=list)
    config: PathIntegratorConfig = field(default_factory=PathIntegratorConfig)


def train_path_integrator(config: PathIntegratorConfig) -> TrainedPathIntegrator:
    """Train a path integrator with Adam on fresh simulated batches (module docstring: loss and inputs)."""
    torch.manual_seed(config.seed)
    model = build_path_integrator(**config.architecture_args()).to(config.device)
    rng = np.random.default_rng(config.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = []
    model.train()
    for _ in range(config.iterations):
        traj = simulate_trajectories(config.batch_size, config.steps, arena=config.arena, size=config.box,
                                     seed=rng)
        x = network_inputs(traj, config.inputs, config.head_direction)
        start = torch.from_numpy(traj.position[:, 0]).float()
        target = torch.from_numpy(traj.position[:, 1:]).float()
        outputs = model(x, start)
        loss = model.task_loss(outputs, target) + config.weight_decay * sum(
            w.pow(2).sum() for w in model.recurrent_weights())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    return TrainedPathIntegrator(model=model.eval(), losses=losses, config=config)
