"""The one preprocessing from stored images (uint8) to a network's input: training and extraction share it.

A model store's ``training`` dict carries ``input_mean`` and ``input_std`` (one float per input
channel).  Images are converted to the network's channel count, resized to ``input_shape`` and
normalised:

.. math::

    x_{c} = \\frac{\\mathrm{resize}(I)_{c} / 255 - \\mu_c}{\\sigma_c}

with bilinear, antialiased resizing (``torch.nn.functional.interpolate(..., antialias=True)``).
Grey images given to a 3-channel network are repeated over the channels; colour images given to a
1-channel network become their luminance :math:`L = 0.299R + 0.587G + 0.114B` (ITU-R BT.601, as
Pillow's ``convert("L")``).  A model store without ``input_mean``/``input_std`` is read with the
defaults :data:`DEFAULT_MEAN` = 0.5 and :data:`DEFAULT_STD` = 0.25 per channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from goalstore.errors import AnalysisInputError

#: the normalisation assumed when a model store's ``training`` does not record one (per channel)
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25

#: ITU-R BT.601 luma weights (R, G, B)
LUMA = (0.299, 0.587, 0.114)


def normalisation(training: Mapping[str, Any], channels: int) -> tuple[list[float], list[float]]:
    """``(mean, std)`` per channel from a model store's ``training`` dict (defaults where absent)."""
    mean = training.get("input_mean", [DEFAULT_MEAN] * channels)
    std = training.get("input_std", [DEFAULT_STD] * channels)
    return [float(v) for v in mean], [float(v) for v in std]


def _per_channel(values: Sequence[float] | float, channels: int, label: str) -> Any:
    import torch

    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.shape != (channels,):
        raise AnalysisInputError(f"input {label}: {array.size} values for a network of {channels} channels; "
                                 f"expected {channels} (or one)")
    if label == "std" and not (array > 0).all():
        raise AnalysisInputError(f"input std: {array.tolist()}; expected positive values")
    return torch.tensor(array, dtype=torch.float32).view(1, channels, 1, 1)


def preprocess(images: np.ndarray, input_shape: Sequence[int], mean: Sequence[float] | float = DEFAULT_MEAN,
               std: Sequence[float] | float = DEFAULT_STD) -> Any:
    """``images`` (uint8, N × C × H × W, C = 1 or 3) as the float32 tensor N × C' × H' × W' a network of
    ``input_shape`` = (C', H', W') takes (see the module docstring for the equation)."""
    import torch
    import torch.nn.functional as F

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise AnalysisInputError(f"images: dtype {images.dtype}, shape {list(images.shape)}; expected uint8 "
                                 "stimulus × channel (1 or 3) × height × width")
    channels, height, width = (int(v) for v in input_shape)
    if channels not in (1, 3):
        raise AnalysisInputError(f"input_shape {list(input_shape)}: {channels} channels; expected 1 or 3")
    x = torch.from_numpy(np.ascontiguousarray(images)).float() / 255.0
    if x.shape[1] == 1 and channels == 3:
        x = x.repeat(1, 3, 1, 1)
    elif x.shape[1] == 3 and channels == 1:
        x = (x * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if tuple(x.shape[2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return ((x - _per_channel(mean, channels, "mean")) / _per_channel(std, channels, "std")).contiguous()
