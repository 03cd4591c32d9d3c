"""Convolutional recurrent networks (ConvRNNs) of thesis ch. 2 (§2.3, §2.5.1–2.5.5), unrolled in time.

**BaseNets.**  A BaseNet is a stack of convolutional layers (each: convolution → ELU → local cell →
max-pooling where the layer downsamples) topped by a readout layer (global average pooling → linear
map to the class logits).  Channel counts are scaled by ``width`` (at least 1 each).

* ``convrnn6`` (6 layers = 5 conv + readout): channels 64, 128, 256, 256, 512; kernel 7 (stride 2) then
  3; a 2 × 2 max-pool after every conv layer.
* ``convrnn11`` (11 layers = 10 conv + readout): channels 64, 64, 64, 128, 128, 256, 256, 512, 512, 512;
  kernel 7 (stride 2) then 3; max-pools after conv layers 1, 4, 6 and 7.

A pool is skipped where the map is already 1 × 1, so small ``input_size`` works (64 × 64 gives
32 → 1 pixels through ``convrnn6``).

**Cells.**  Each conv layer carries a local recurrent cell (:mod:`builders.rnn_cells`): ``cell`` is
one name for all conv layers or one per layer (a list, or a comma-separated string), e.g.
``"none,none,rgc,rgc,rgc"`` (``none``: no local recurrence).  The cell reads the layer's drive
``x_t = ELU(W * [u_t, f_t] + b)`` where ``u_t`` is the feedforward input and ``f_t`` the feedback.

**Long-range feedback.**  ``feedback``: pairs ``(source, target)`` of conv layer numbers (1-based,
``source > target``), as a list of pairs or a string ``"5>3,4>2"``.  The source's output is resized
bilinearly to the spatial size of the target's feedforward input and concatenated with it along the
channels (the target's convolution has extra input channels for it).

**Unrolling.**  One time step is one layer's conduction delay (nominally 10 ms).  Layer ``k`` (1-based;
the readout is layer ``L``) at step ``t`` reads layer ``k − 1``'s output of step ``t − 1`` (layer 1
reads the image) and feedback sources' outputs of step ``t − 1``.  Nothing has arrived at layer ``k``
before step ``k − 1``, so it is *silent* (outputs exactly zero, state zero) until then: the image
drives layer 1 at ``t = 0`` and layer ``k`` first responds at ``t = k − 1``; feedback from layer ``j``
can first reach its target at ``t = j``.  Every observed layer (each conv layer and the readout) runs
— its forward hook fires — exactly once per step, so ``T`` steps give a ``time_bin`` dim of ``T``.

* ``unroll="extended"`` (default): the image stays on at every step and every layer updates at every
  step after its first response (its cell carries its state).
* ``unroll="minimal"``: the image is presented at ``t = 0`` only and each layer computes once, at
  ``t = k − 1``, from the zero state: every parameter is used once along the feedforward path (the
  readout at ``t = L − 1`` equals the feedforward network's output); at other steps layers are silent.

**Decoders** turn the per-step logits ``z_t`` (``t = L − 1 … T − 1``, the steps the readout responds;
``p_t = softmax(z_t)``) into one output per image:

* ``last``: ``z_{T−1}``;
* ``max_conf``: ``z_{t*}`` with ``t* = argmax_t max_c p_t[c]`` (the most confident step);
* ``threshold``: ``z_{t*}`` at the first step where ``max_c p_t[c] ≥ threshold``; ``max_conf``'s step
  where no step reaches it.

``forward(x, time_steps=T)`` returns the decoded logits (what a classifier loss trains);
``forward_steps(x, T)`` returns all steps' logits (``T × N × classes``).

Imports nothing from goalstore.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from builders.architectures import ObservedLayer
from builders.rnn_cells import CELLS, RecurrentCell, State, build_cell

#: (channels, kernel, stride, pool after) of each conv layer of the BaseNets
BASENETS: dict[str, tuple[tuple[int, int, int, bool], ...]] = {
    "convrnn6": ((64, 7, 2, True), (128, 3, 1, True), (256, 3, 1, True), (256, 3, 1, True), (512, 3, 1, True)),
    "convrnn11": ((64, 7, 2, True), (64, 3, 1, False), (64, 3, 1, False), (128, 3, 1, True), (128, 3, 1, False),
                  (256, 3, 1, True), (256, 3, 1, True), (512, 3, 1, False), (512, 3, 1, False),
                  (512, 3, 1, False)),
}
CONVRNN_ARCHITECTURES = tuple(BASENETS)
DECODERS = ("last", "max_conf", "threshold")
UNROLLS = ("extended", "minimal")
#: steps after the readout's first response that ``time_steps=None`` unrolls (extended unrolling)
EXTRA_STEPS = 4
#: keyword arguments of the ConvRNN architectures with their defaults; :data:`REQUIRED_ARGS` have none
REQUIRED_ARGS = ("in_channels", "input_size", "out_features")
CONVRNN_ARGS: dict[str, Any] = {"in_channels": None, "input_size": None, "out_features": None, "width": 1.0,
                                "cell": "rgc", "feedback": (), "time_steps": None, "unroll": "extended",
                                "decoder": "last", "threshold": 0.9, "cell_kernel": 3}


def parse_cells(cell: str | Sequence[str], n_layers: int) -> list[str]:
    """One cell name per conv layer from one name, a comma-separated string or a list."""
    names = [c.strip().lower() for c in cell.split(",")] if isinstance(cell, str) else [str(c).lower()
                                                                                       for c in cell]
    if len(names) == 1:
        names *= n_layers
    unknown = [c for c in names if c not in CELLS]
    if len(names) != n_layers or unknown:
        raise ValueError(f"cell {cell!r}: expected one cell name or {n_layers} (one per conv layer) from "
                         f"{', '.join(CELLS)}" + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    return names


def parse_feedback(feedback: str | Sequence[Sequence[int]], n_layers: int) -> list[tuple[int, int]]:
    """``(source, target)`` pairs (1-based conv layers, ``source > target``) from pairs or ``"5>3,4>2"``."""
    try:
        pairs = ([tuple(int(v) for v in p.split(">")) for p in feedback.split(",") if p.strip()]
                 if isinstance(feedback, str) else [tuple(int(v) for v in p) for p in feedback])
    except (TypeError, ValueError):
        pairs = [()]
    bad = [p for p in pairs if len(p) != 2 or not n_layers >= p[0] > p[1] >= 1]
    if bad or len(set(pairs)) != len(pairs):
        raise ValueError(f"feedback {feedback!r}: expected distinct pairs source>target of conv layers with "
                         f"{n_layers} ≥ source > target ≥ 1 (e.g. '5>3,4>2')")
    return sorted((int(s), int(t)) for s, t in pairs)


class ConvRNNLayer(nn.Module):
    """One observed conv layer: ``[u, resize(f)] → conv → ELU → cell → max-pool``.

    ``forward(u, feedback, state, batch) → (output, state')``; ``u=None`` means nothing has arrived:
    the output is exactly zero and the state stays zero (the layer is silent)."""

    def __init__(self, cin: int, feedback_channels: Sequence[int], cout: int, kernel: int, stride: int,
                 pool: bool, cell: RecurrentCell, in_size: int):
        super().__init__()
        self.conv = nn.Conv2d(cin + sum(feedback_channels), cout, kernel, stride, kernel // 2)
        self.feedback_channels = tuple(feedback_channels)
        self.cell = cell
        self.in_size = in_size
        size = (in_size + 2 * (kernel // 2) - kernel) // stride + 1
        self.pool = nn.MaxPool2d(2) if pool and size >= 2 else nn.Identity()
        self.out_shape = (cout, size // 2, size // 2) if pool and size >= 2 else (cout, size, size)

    def forward(self, u: torch.Tensor | None, feedback: Sequence[torch.Tensor | None] = (), state: State = None,
                batch: int = 1) -> tuple[torch.Tensor, State]:
        if u is None:
            return torch.zeros(batch, *self.out_shape, device=self.conv.weight.device,
                               dtype=self.conv.weight.dtype), None
        parts = [u]
        for channels, f in zip(self.feedback_channels, feedback, strict=True):
            parts.append(u.new_zeros(u.shape[0], channels, *u.shape[2:]) if f is None else
                         F.interpolate(f, size=tuple(u.shape[2:]), mode="bilinear", align_corners=False))
        drive = F.elu(self.conv(torch.cat(parts, dim=1)))
        y, state = self.cell(drive, state)
        return self.pool(y), state


class Readout(nn.Module):
    """The readout layer: global average pooling → linear class logits; silent (zero) without input."""

    def __init__(self, channels: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(channels, out_features)

    def forward(self, u: torch.Tensor | None, batch: int = 1) -> torch.Tensor:
        if u is None:
            return torch.zeros(batch, self.linear.out_features, device=self.linear.weight.device,
                               dtype=self.linear.weight.dtype)
        return self.linear(u.mean(dim=(2, 3)))


def decode(logits: torch.Tensor, decoder: str, first: int = 0, threshold: float = 0.9) -> torch.Tensor:
    """One output per image from per-step logits ``logits`` (``T × N × classes``), using steps
    ``first …  T − 1`` (see the module docstring for ``last``, ``max_conf``, ``threshold``)."""
    if decoder not in DECODERS:
        raise ValueError(f"decoder {decoder!r}: expected one of {', '.join(DECODERS)}")
    steps = logits[first:]
    if steps.shape[0] == 0:
        raise ValueError(f"time steps {logits.shape[0]}: the readout first responds at step {first}; unroll "
                         f"at least {first + 1} steps")
    if decoder == "last":
        return steps[-1]
    confidence = torch.softmax(steps.detach(), dim=-1).amax(dim=-1)  # T' × N
    index = confidence.argmax(dim=0)
    if decoder == "threshold":
        reached = confidence >= threshold
        first_reached = torch.where(reached.any(dim=0), reached.float().argmax(dim=0), index)
        index = first_reached
    return steps[index, torch.arange(steps.shape[1], device=steps.device)]


class ConvRNN(nn.Module):
    """A BaseNet with local cells and optional long-range feedback, unrolled over time steps (see the
    module docstring).  ``observed``: the conv layers ``conv1 …`` and ``readout``, each firing once per
    step."""

    def __init__(self, architecture: str, in_channels: int, input_size: int, out_features: int,
                 width: float = 1.0, cell: str | Sequence[str] = "rgc",
                 feedback: str | Sequence[Sequence[int]] = (), time_steps: int | None = None,
                 unroll: str = "extended", decoder: str = "last", threshold: float = 0.9, cell_kernel: int = 3):
        super().__init__()
        if architecture not in BASENETS:
            raise ValueError(f"architecture {architecture!r}: expected one of {', '.join(BASENETS)}")
        config = BASENETS[architecture]
        n = len(config)
        if unroll not in UNROLLS:
            raise ValueError(f"unroll {unroll!r}: expected one of {', '.join(UNROLLS)}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder {decoder!r}: expected one of {', '.join(DECODERS)}")
        if not width > 0 or input_size < 1 or in_channels < 1 or out_features < 1:
            raise ValueError(f"width {width}, input_size {input_size}, in_channels {in_channels}, out_features "
                             f"{out_features}: expected positive values")
        self.depth = n + 1  #: layers including the readout
        if time_steps is not None and int(time_steps) < 1:
            raise ValueError(f"time_steps {time_steps}: expected a positive number of steps")
        self.time_steps = int(time_steps) if time_steps is not None else \
            (self.depth + EXTRA_STEPS if unroll == "extended" else self.depth)
        self.unroll, self.decoder, self.threshold = unroll, decoder, float(threshold)
        self.cells = parse_cells(cell, n)
        self.feedback = parse_feedback(feedback, n)
        channels = [max(1, round(c * width)) for c, *_ in config]
        sizes, size = [], input_size
        self.blocks = nn.ModuleList()
        for k, ((_, kernel, stride, pool), cout) in enumerate(zip(config, channels, strict=True)):
            sources = [s for s, t in self.feedback if t == k + 1]
            cin = in_channels if k == 0 else channels[k - 1]
            layer = ConvRNNLayer(cin, [channels[s - 1] for s in sources], cout, kernel, stride, pool,
                                 build_cell(self.cells[k], cout, cell_kernel), size)
            sizes.append(size)
            size = layer.out_shape[1]
            self.blocks.append(layer)
        self.readout = Readout(channels[-1], out_features)
        self._sources = [[s - 1 for s, t in self.feedback if t == k + 1] for k in range(n)]

    @property
    def observed(self) -> list[ObservedLayer]:
        names = [f"conv{k + 1}" for k in range(len(self.blocks))] + ["readout"]
        modules: list[nn.Module] = [*self.blocks, self.readout]
        return [ObservedLayer(name, m, ("early", "middle", "deep")[min(2, 3 * i // len(names))])  # type: ignore[arg-type]
                for i, (name, m) in enumerate(zip(names, modules, strict=True))]

    def forward_steps(self, x: torch.Tensor, time_steps: int | None = None) -> torch.Tensor:
        """The readout's logits at every step (``T × N × classes``; zero before step ``L − 1``)."""
        steps = self.time_steps if not time_steps else int(time_steps)
        batch = x.shape[0]
        n = len(self.blocks)
        outputs: list[torch.Tensor | None] = [None] * n  # last step's outputs; None: silent
        states: list[State] = [None] * n
        logits = []
        for t in range(steps):
            drive = x if (t == 0 or self.unroll == "extended") else None
            new: list[torch.Tensor | None] = []
            for k, layer in enumerate(self.blocks):
                u = drive if k == 0 else outputs[k - 1]
                state = states[k] if self.unroll == "extended" else None
                out, states[k] = layer(u, [outputs[s] for s in self._sources[k]], state, batch)
                new.append(out if u is not None else None)
            logits.append(self.readout(outputs[-1], batch))
            outputs = new
        return torch.stack(logits)

    def forward(self, x: torch.Tensor, time_steps: int | None = None) -> torch.Tensor:
        """Decoded logits (``N × classes``) after ``time_steps`` steps (default ``self.time_steps``).  With
        fewer steps than layers the readout has not responded yet and the output is its silence (zero)."""
        logits = self.forward_steps(x, time_steps)
        return decode(logits, self.decoder, min(self.depth, logits.shape[0]) - 1, self.threshold)


def build_convrnn(architecture: str, **args: Any) -> ConvRNN:
    """A ConvRNN from its architecture name and keyword arguments (:data:`CONVRNN_ARGS`)."""
    missing = [k for k in REQUIRED_ARGS if k not in args]
    unexpected = sorted(set(args) - set(CONVRNN_ARGS))
    if missing or unexpected:
        raise ValueError(f"architecture {architecture!r}: " + "; ".join(
            ([f"missing argument(s) {', '.join(missing)}"] if missing else [])
            + ([f"unexpected argument(s) {', '.join(unexpected)}"] if unexpected else []))
            + f"; expected {', '.join(CONVRNN_ARGS)}")
    return ConvRNN(architecture, **{k: args.get(k, d) for k, d in CONVRNN_ARGS.items()})
