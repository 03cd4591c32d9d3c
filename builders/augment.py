"""Seeded image augmentations on tensors (the views of the self-supervised objectives).

:func:`random_views` draws, per image, a random resized crop (area fraction ``s ~ U(crop_scale, 1)``,
aspect ratio ``r`` log-uniform in [3/4, 4/3], position uniform inside the image), a horizontal flip
(probability ½), a colour jitter (contrast ``c``, brightness ``b`` and saturation ``a``, each scaled by
``jitter``) and a conversion to grey (probability ``grey``), in the spirit of SimCLR / MoCo v2 but on
already normalised tensors:

.. math::  x' = \\bar g + a\\,(\\tilde x - \\bar g), \\quad \\tilde x = c\\,(x - \\mu_x) + \\mu_x + b

with ``μ_x`` the image's mean and ``ḡ`` the channel mean (luminance proxy) per pixel; ``c, a ~ U(1 −
jitter, 1 + jitter)``, ``b ~ U(−jitter, jitter)`` (in units of the normalised intensities).  Every
random number is drawn on the CPU from the caller's ``torch.Generator``, so a seeded generator gives the
same views on any device.  The crop is one bilinear ``grid_sample`` per batch (reflection padding).

Imports nothing from goalstore.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_views(x: torch.Tensor, generator: torch.Generator, crop_scale: float = 0.2, jitter: float = 0.4,
                 grey: float = 0.2) -> torch.Tensor:
    """One random view of every image of ``x`` (N × C × H × W, normalised), drawn from ``generator``."""
    n, channels = x.shape[0], x.shape[1]
    scale = _uniform(n, crop_scale, 1.0, generator)
    ratio = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), generator))
    half_w = torch.sqrt(scale * ratio).clamp(max=1.0)  # crop side / image side (affine_grid's units: 2 = side)
    half_h = torch.sqrt(scale / ratio).clamp(max=1.0)
    cx = (2 * torch.rand(n, generator=generator) - 1) * (1 - half_w)
    cy = (2 * torch.rand(n, generator=generator) - 1) * (1 - half_h)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    contrast = _uniform(n, 1 - jitter, 1 + jitter, generator)
    brightness = _uniform(n, -jitter, jitter, generator)
    saturation = _uniform(n, 1 - jitter, 1 + jitter, generator)
    to_grey = torch.rand(n, generator=generator) < grey
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = half_w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = half_h, cy
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def per_image(v: torch.Tensor) -> torch.Tensor:
        return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)

    mean = out.mean((1, 2, 3), keepdim=True)
    out = per_image(contrast) * (out - mean) + mean + per_image(brightness)
    if channels > 1:
        g = out.mean(1, keepdim=True)
        out = g + per_image(saturation) * (out - g)
        out = torch.where(per_image(to_grey) > 0, g.expand_as(out), out)
    return out
