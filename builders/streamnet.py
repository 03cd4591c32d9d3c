"""StreamNets: the shallow, parallel-stream models of mouse visual cortex (thesis §3.4; Nayebi et al. 2023).

A StreamNet mirrors the coarse anatomy of mouse visual cortex: one primary area, ``N`` parallel
intermediate areas, and one or two output areas that pool over them.

* **VISp** (shared first stage): conv 11 × 11 (stride 4, padding 2, 64 channels) → BN → ReLU → max-pool
  3 × 3 (stride 2).
* **Streams** (the intermediate areas, in parallel, each reading VISp): conv 5 × 5 (192) → BN → ReLU →
  max-pool 3 × 3 (stride 2) → conv 3 × 3 (384) → BN → ReLU.  ``streamnet1``: one stream (``ventral``);
  ``streamnet2``: ``ventral`` and ``dorsal``; ``streamnet6``: ``visl``, ``visrl``, ``visal``, ``visli``,
  ``vispm``, ``vispl``.
* **Output areas**: ``vispor`` (and, with more than one stream, ``visam``).  Each is the sum of its
  connections, one from VISp (conv 3 × 3, stride 2, 256 → BN → ReLU, which matches the streams'
  downsampling) and one from every stream (conv 3 × 3, 256 → BN → ReLU):

  .. math::  A = \\mathrm{relu}(\\mathrm{BN}(W_p * V)) + \\sum_s \\mathrm{relu}(\\mathrm{BN}(W_s * S_s))

  (``V``: VISp's output, ``S_s``: stream ``s``'s output)

* **Readout** (``fc``): global average pooling of each output area, concatenated, → linear map to
  ``out_features`` (class logits, or the embedding of a self-supervised objective).

``width`` scales every channel count (at least 1 each).  A max-pool (and the VISp connection's stride)
is skipped where the map is already smaller than 3 × 3, so every ``input_size`` ≥ 8 works (64 × 64 gives
VISp 7 × 7, streams and output areas 3 × 3).  The backbone before the readout has 2.03 / 5.80 / 16.77 M
parameters for 1 / 2 / 6 streams at width 1 (the thesis' 2.0 / 5.8 / 16.8 M); a 1000-way readout adds
0.26 M (one output area) or 0.51 M (two).

Observed layers (:func:`builders.networks.observed_layers`): ``visp`` (early), the streams (middle),
the output areas and ``fc`` (deep).

Imports nothing from goalstore.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from builders.architectures import ObservedLayer

#: architecture name → the names of its parallel streams (intermediate areas)
STREAMNETS: dict[str, tuple[str, ...]] = {
    "streamnet1": ("ventral",),
    "streamnet2": ("ventral", "dorsal"),
    "streamnet6": ("visl", "visrl", "visal", "visli", "vispm", "vispl"),
}
STREAMNET_ARCHITECTURES = tuple(STREAMNETS)
#: keyword arguments of the StreamNets with their defaults (None: required)
STREAMNET_ARGS: dict[str, Any] = {"in_channels": None, "input_size": None, "out_features": None, "width": 1.0}


def _ch(value: int, width: float) -> int:
    return max(1, round(value * width))


def _unit(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout), nn.ReLU()]


def _pooled(size: int) -> int:
    """Side after a 3 × 3, stride-2 max-pool (skipped below 3 pixels)."""
    return (size - 3) // 2 + 1 if size >= 3 else size


def _pool(size: int) -> list[nn.Module]:
    return [nn.MaxPool2d(3, 2)] if size >= 3 else []


class OutputArea(nn.Module):
    """An output area: the sum of its connections from VISp and from every stream."""

    def __init__(self, visp_channels: int, stream_channels: int, n_streams: int, channels: int, visp_size: int):
        super().__init__()
        stride, padding = (2, 0) if visp_size >= 3 else (1, 1)  # match the streams' max-pool
        self.from_visp = nn.Sequential(*_unit(visp_channels, channels, 3, stride, padding))
        self.from_streams = nn.ModuleList(nn.Sequential(*_unit(stream_channels, channels, 3, 1, 1))
                                          for _ in range(n_streams))

    def forward(self, visp: torch.Tensor, streams: list[torch.Tensor]) -> torch.Tensor:
        out = self.from_visp(visp)
        for connection, stream in zip(self.from_streams, streams, strict=True):
            out = out + connection(stream)
        return out


class StreamNet(nn.Module):
    """A StreamNet with the parallel streams ``streams`` (see the module docstring)."""

    def __init__(self, streams: tuple[str, ...], in_channels: int, input_size: int, out_features: int,
                 width: float = 1.0):
        super().__init__()
        if input_size < 8:
            raise ValueError(f"input_size {input_size}: expected at least 8 pixels")
        c_visp, c_mid, c_stream, c_out = (_ch(c, width) for c in (64, 192, 384, 256))
        visp_size = (input_size + 4 - 11) // 4 + 1
        self.visp = nn.Sequential(*_unit(in_channels, c_visp, 11, 4, 2), *_pool(visp_size))
        visp_size = _pooled(visp_size)
        self.stream_names = tuple(streams)
        self.streams = nn.ModuleList(
            nn.Sequential(*_unit(c_visp, c_mid, 5, 1, 2), *_pool(visp_size), *_unit(c_mid, c_stream, 3, 1, 1))
            for _ in streams)
        self.output_names = ("vispor", "visam") if len(streams) > 1 else ("vispor",)
        self.outputs = nn.ModuleList(OutputArea(c_visp, c_stream, len(streams), c_out, visp_size)
                                     for _ in self.output_names)
        self.fc = nn.Linear(c_out * len(self.output_names), out_features)

    @property
    def observed(self) -> list[ObservedLayer]:
        layers: list[tuple[str, nn.Module, str]] = [("visp", self.visp, "early")]
        layers += [(name, m, "middle") for name, m in zip(self.stream_names, self.streams, strict=True)]
        layers += [(name, m, "deep") for name, m in zip(self.output_names, self.outputs, strict=True)]
        layers.append(("fc", self.fc, "deep"))
        return [ObservedLayer(name, m, position) for name, m, position in layers]  # type: ignore[arg-type]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled, concatenated output areas (the readout's input)."""
        visp = self.visp(x)
        streams = [stream(visp) for stream in self.streams]
        return torch.cat([area(visp, streams).mean((2, 3)) for area in self.outputs], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def build_streamnet(architecture: str, **args: Any) -> StreamNet:
    """A StreamNet from its architecture name (:data:`STREAMNETS`) and keyword arguments
    (:data:`STREAMNET_ARGS`)."""
    key = architecture.lower()
    if key not in STREAMNETS:
        raise ValueError(f"architecture {architecture!r}: expected one of {', '.join(STREAMNETS)}")
    missing = [k for k, default in STREAMNET_ARGS.items() if default is None and k not in args]
    unexpected = sorted(set(args) - set(STREAMNET_ARGS))
    if missing or unexpected:
        raise ValueError(f"architecture {architecture!r}: " + "; ".join(
            ([f"missing argument(s) {', '.join(missing)}"] if missing else [])
            + ([f"unexpected argument(s) {', '.join(unexpected)}"] if unexpected else []))
            + f"; expected {', '.join(STREAMNET_ARGS)}")
    return StreamNet(STREAMNETS[key], **{k: args.get(k, d) for k, d in STREAMNET_ARGS.items()})
