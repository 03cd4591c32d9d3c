"""Small stimuli and model stores for the extraction tests (generated; ground truth by construction)."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from builders.networks import build_network, register_architecture
from goalstore.activations.networks import weights_from_network
from goalstore.schema import store_attrs

KNET = {"in_channels": 3, "input_size": 32, "out_features": 4, "width": 0.125}


def stimuli(n: int = 20, size: int = 24, seed: int = 0, channels: int = 3) -> xr.Dataset:
    """``n`` random uint8 images (size × size) as a canonical stimuli dataset."""
    rng = np.random.default_rng(seed)
    names = ["R", "G", "B"] if channels == 3 else ["L"]
    image = rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)
    return xr.Dataset(
        {"image": (("stimulus", "channel", "height", "width"), image, {"units": "intensity"})},
        coords={"stimulus_id": ("stimulus", [f"s{seed}-{i}" for i in range(n)]),
                "category": ("stimulus", [f"c{i % 3}" for i in range(n)]),
                "channel_name": ("channel", names)},
        attrs=store_attrs("stimuli", species="none", modality="images", source="test", license="CC0",
                          citation="none"))


def knet(seed: int = 0, **overrides) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    args = {**KNET, **overrides}
    return build_network("knet4", **args).eval(), args


def model_store(module: nn.Module, args: dict, architecture: str = "knet4", input_shape=(3, 32, 32),
                **training):
    return weights_from_network(module, architecture, args, list(input_shape), training=training,
                                source="test", license="CC0", citation="none")


class ToyRecurrent(nn.Module):
    """A tiny recurrent network unrolled over ``time_steps``: ``h ← relu(W_in x̄ + W_rec h)``; its ``rec``
    layer fires once per step, ``out`` once at the end."""

    def __init__(self, hidden: int = 5):
        super().__init__()
        self.inp = nn.Linear(3, hidden)
        self.rec = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor, time_steps: int = 3) -> torch.Tensor:
        drive = self.inp(x.mean(dim=(2, 3)))
        h = torch.zeros_like(drive)
        for _ in range(time_steps):
            h = torch.relu(drive + self.rec(h))
        return self.out(h)


register_architecture("toy-recurrent", ToyRecurrent)
