"""The one preprocessing from stored images (uint8) to a network's input: training and extraction share it.

:func:`preprocess` turns ``uint8`` images (stimulus × channel × height × width, 0–255) into the float32
input a model store declares (``input_shape`` = [C, H, W]):

1. channels: grey given to a 3-channel network is repeated over the channels; colour given to a
   1-channel network becomes its luminance :math:`L = 0.299R + 0.587G + 0.114B` (ITU-R BT.601, as
   Pillow's ``convert("L")``);
2. size: bilinear resize with antialiasing (``torch.nn.functional.interpolate(..., antialias=True,
   align_corners=False)``) to H × W, skipped when the images already have that size;
3. intensity, per channel ``c``:

.. math::

    x_{c} = \\frac{\\mathrm{resize}(I)_{c} / 255 - \\mu_c}{\\sigma_c}

with :math:`\\mu, \\sigma` the model store's ``training["input_mean"]`` / ``training["input_std"]`` (one
value per input channel); a store without them is read with :data:`DEFAULT_MEAN` = 0.5 and
:data:`DEFAULT_STD` = 0.25 per channel.  :func:`preprocessing_spec` is this recipe as recorded in an
extraction's key and attrs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from goalstore.errors import AnalysisInputError

#: the normalisation assumed when a model store's ``training`` does not record one (per channel)
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25
#: the resize method (recorded in the activations' attrs and extraction key)
RESIZE = "bilinear-antialias"
#: ITU-R BT.601 luma weights (R, G, B)
LUMA = (0.299, 0.587, 0.114)


def per_channel(value: float | Sequence[float] | None, channels: int, default: float,
                label: str = "normalisation") -> list[float]:
    """``value`` as one float per channel (None → ``default``; a scalar or one-element list is repeated)."""
    if value is None:
        value = default
    values = [float(v) for v in (value if isinstance(value, (list, tuple, np.ndarray)) else [value])]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise AnalysisInputError(f"input {label}: {len(values)} values for a network of {channels} channels; "
                                 f"expected {channels} (or one)")
    if label == "std" and not all(v > 0 for v in values):
        raise AnalysisInputError(f"input std: {values}; expected positive values")
    return values


def normalisation(training: Mapping[str, Any], channels: int) -> tuple[list[float], list[float]]:
    """``(mean, std)`` per channel from a model store's ``training`` dict (defaults where absent)."""
    return (per_channel(training.get("input_mean"), channels, DEFAULT_MEAN, "mean"),
            per_channel(training.get("input_std"), channels, DEFAULT_STD, "std"))


def preprocess(images: Any, input_shape: Sequence[int], mean: float | Sequence[float] | None = None,
               std: float | Sequence[float] | None = None) -> Any:
    """``images`` (uint8, N × C × H × W with C = 1 or 3; a NumPy array or a torch tensor, on any device) as
    the float32 tensor N × ``input_shape`` the network takes (see the module docstring for the equation)."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise AnalysisInputError(f"images: dtype {str(x.dtype).removeprefix('torch.')}, shape {list(x.shape)}; "
                                 "expected uint8 stimulus × channel (1 or 3) × height × width")
    channels, height, width = (int(v) for v in input_shape)
    if channels not in (1, 3):
        raise AnalysisInputError(f"input_shape {list(input_shape)}: {channels} channels; expected 1 or 3")
    x = x.to(torch.float32) / 255.0
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and channels == 1:
        luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * luma).sum(dim=1, keepdim=True)
    if tuple(x.shape[2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(per_channel(mean, channels, DEFAULT_MEAN, "mean"), dtype=x.dtype, device=x.device)
    s = torch.tensor(per_channel(std, channels, DEFAULT_STD, "std"), dtype=x.dtype, device=x.device)
    return ((x - m.view(1, -1, 1, 1)) / s.view(1, -1, 1, 1)).contiguous()


def preprocessing_spec(input_shape: Sequence[int], training: Mapping[str, Any]) -> dict[str, Any]:
    """The preprocessing a model store asks for, as recorded in the extraction key and attrs."""
    mean, std = normalisation(training, int(input_shape[0]))
    return {"input_shape": [int(v) for v in input_shape], "mean": mean, "std": std, "resize": RESIZE}
