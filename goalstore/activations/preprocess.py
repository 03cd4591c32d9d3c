"""Stimulus images → the network's input tensor.

:func:`preprocess` turns ``uint8`` images (stimulus × channel × height × width, 0–255) into the
float32 input a model store declares (``input_shape`` = [C, H, W]):

1. channels: grey → RGB repeats the one channel; RGB → grey is the ITU-R BT.601 luma
   ``L = 0.299 R + 0.587 G + 0.114 B``;
2. size: bilinear resize with antialiasing (``torch.nn.functional.interpolate``, ``align_corners=False``)
   to H × W (skipped when the images already have that size);
3. intensity: ``x = (v / 255 − mean_c) / std_c`` per channel ``c``.

``mean`` / ``std`` come from the model store's ``training["input_mean"]`` / ``training["input_std"]``;
:data:`DEFAULT_MEAN` / :data:`DEFAULT_STD` (0.5 / 0.25 per channel) when absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25
#: the resize method (recorded in the activations' attrs and extraction key)
RESIZE = "bilinear-antialias"
_LUMA = (0.299, 0.587, 0.114)


def per_channel(value: float | Sequence[float] | None, channels: int, default: float) -> list[float]:
    """``value`` as one float per channel (a scalar or a one-element list is repeated)."""
    if value is None:
        value = default
    values = [float(v) for v in (value if isinstance(value, (list, tuple, np.ndarray)) else [value])]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ValueError(f"{len(values)} normalisation values for {channels} channels")
    return values


def preprocess(images: Any, input_shape: Sequence[int], mean: float | Sequence[float] | None = None,
               std: float | Sequence[float] | None = None) -> Any:
    """``images`` (uint8, N × C × H × W; a NumPy array or a torch tensor, on any device) as the
    float32 tensor N × ``input_shape`` the network takes (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"images: expected uint8 N × C × H × W; got {x.dtype} with shape {list(x.shape)}")
    channels, height, width = (int(v) for v in input_shape)
    x = x.to(torch.float32) / 255.0
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and channels == 1:
        luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * luma).sum(dim=1, keepdim=True)
    elif x.shape[1] != channels:
        raise ValueError(f"images: {x.shape[1]} channels; the network takes {channels}")
    if tuple(x.shape[2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(per_channel(mean, channels, DEFAULT_MEAN), dtype=x.dtype, device=x.device)
    s = torch.tensor(per_channel(std, channels, DEFAULT_STD), dtype=x.dtype, device=x.device)
    return ((x - m.view(1, -1, 1, 1)) / s.view(1, -1, 1, 1)).contiguous()


def preprocessing_spec(input_shape: Sequence[int], training: dict[str, Any]) -> dict[str, Any]:
    """The preprocessing a model store asks for, as recorded in the extraction key and attrs."""
    channels = int(input_shape[0])
    return {"input_shape": [int(v) for v in input_shape],
            "mean": per_channel(training.get("input_mean"), channels, DEFAULT_MEAN),
            "std": per_channel(training.get("input_std"), channels, DEFAULT_STD),
            "resize": RESIZE}
