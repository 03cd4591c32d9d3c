"""Seeded image augmentations on tensors: the one home of every training-time augmentation of builders/.

:func:`random_views` draws the views of the contrastive objectives — those of :mod:`builders.objectives`
(``instance``, ``simclr``, ``mocov2``, ``simsiam``) and those of the learning-rule corpus' contrastive
tasks (:mod:`builders.training`, ``simclr`` and ``digits-contrastive``).  Every view is a random crop
resized to the image (one bilinear ``grid_sample`` per batch, reflection padding) flipped horizontally
with probability ½, followed by photometric changes; two schemes draw them:

* ``simclr`` (the objectives', in the spirit of SimCLR / MoCo v2 but on already normalised tensors): a
  random resized crop of area fraction ``s ~ U(crop_scale, 1)``, aspect ratio ``r`` log-uniform in
  [3/4, 4/3], position uniform inside the image; a colour jitter (contrast ``c``, brightness ``b`` and
  saturation ``a``, each scaled by ``jitter``) and a conversion to grey (probability ``grey``):

  .. math::  x' = \\bar g + a\\,(\\tilde x - \\bar g), \\quad \\tilde x = c\\,(x - \\mu_x) + \\mu_x + b

  with ``μ_x`` the image's mean and ``ḡ`` the channel mean (luminance proxy) per pixel; ``c, a ~ U(1 −
  jitter, 1 + jitter)``, ``b ~ U(−jitter, jitter)`` (in units of the normalised intensities).
* ``corpus`` (the learning-rule corpus', :data:`CORPUS_VIEWS`): a square crop of side fraction
  ``s ~ U(crop_scale, 1)`` at a uniform position, then a gain and a bias per image,
  :math:`x' = g\\,x + b`, ``g ~ U(1 − jitter, 1 + jitter)``, ``b ~ N(0, jitter²)``.

Both then add Gaussian pixel noise of standard deviation ``noise`` (when > 0).

:func:`flip_shift` is the optional augmentation of supervised training (``ClassifierConfig.augment``):
the same horizontal flip, and integer shifts of up to ``shift`` pixels, zero-padded (no resize, so a
label's evidence stays at its scale).

Every random number is drawn on the CPU from the caller's ``torch.Generator``, so a seeded generator gives
the same views on any device.

Imports nothing from goalstore.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: the view schemes of :func:`random_views`
SCHEMES = ("simclr", "corpus")

#: the learning-rule corpus' views (:func:`random_views` arguments): square crops of side ≥ 0.6, gain and
#: bias jitter 0.2, pixel noise 0.1 — fixed, so the corpus' runs stay what they were
CORPUS_VIEWS: dict[str, object] = {"scheme": "corpus", "crop_scale": 0.6, "jitter": 0.2, "grey": 0.0,
                                   "noise": 0.1}


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _flips(n: int, generator: torch.Generator) -> torch.Tensor:
    """−1 (flip) or 1 per image, each with probability ½."""
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)


def _crop_flip(x: torch.Tensor, half_w: torch.Tensor, half_h: torch.Tensor, cx: torch.Tensor,
               cy: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """The crop of half-sides ``half_w``, ``half_h`` and centre ``(cx, cy)`` (``affine_grid`` units: the
    image spans [−1, 1]) of every image, resized to the image, flipped where ``flip`` is −1."""
    theta = torch.zeros(x.shape[0], 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = half_w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = half_h, cy
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def random_views(x: torch.Tensor, generator: torch.Generator, crop_scale: float = 0.2, jitter: float = 0.4,
                 grey: float = 0.2, noise: float = 0.0, scheme: str = "simclr") -> torch.Tensor:
    """One random view of every image of ``x`` (N × C × H × W, normalised), drawn from ``generator`` under
    ``scheme`` (:data:`SCHEMES`; see the module docstring).  ``grey`` applies to the ``simclr`` scheme only
    (the ``corpus`` scheme refuses ``grey`` > 0)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    if scheme == "corpus" and grey > 0:
        raise ValueError(f"grey {grey}: the corpus scheme converts nothing to grey; expected grey 0")
    n, channels = x.shape[0], x.shape[1]
    if scheme == "corpus":
        side = _uniform(n, crop_scale, 1.0, generator)
        centre = (torch.rand(n, 2, generator=generator) * 2 - 1) * (1 - side[:, None])
        out = _crop_flip(x, side, side, centre[:, 0], centre[:, 1], _flips(n, generator))
        gain = _uniform(n, 1 - jitter, 1 + jitter, generator).view(-1, 1, 1, 1).to(x.device)
        bias = (jitter * torch.randn(n, 1, 1, 1, generator=generator)).to(x.device)
        out = out * gain + bias
    else:
        scale = _uniform(n, crop_scale, 1.0, generator)
        ratio = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), generator))
        half_w = torch.sqrt(scale * ratio).clamp(max=1.0)  # crop side / image side
        half_h = torch.sqrt(scale / ratio).clamp(max=1.0)
        cx = (2 * torch.rand(n, generator=generator) - 1) * (1 - half_w)
        cy = (2 * torch.rand(n, generator=generator) - 1) * (1 - half_h)
        out = _crop_flip(x, half_w, half_h, cx, cy, _flips(n, generator))
        contrast = _uniform(n, 1 - jitter, 1 + jitter, generator)
        brightness = _uniform(n, -jitter, jitter, generator)
        saturation = _uniform(n, 1 - jitter, 1 + jitter, generator)
        to_grey = torch.rand(n, generator=generator) < grey

        def per_image(v: torch.Tensor) -> torch.Tensor:
            return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)

        mean = out.mean((1, 2, 3), keepdim=True)
        out = per_image(contrast) * (out - mean) + mean + per_image(brightness)
        if channels > 1:
            g = out.mean(1, keepdim=True)
            out = g + per_image(saturation) * (out - g)
            out = torch.where(per_image(to_grey) > 0, g.expand_as(out), out)
    if noise > 0:
        out = out + (noise * torch.randn(x.shape, generator=generator)).to(x.device)
    return out


def flip_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips (probability ½) and integer shifts of up to ``shift`` pixels (zero-padded)
    of a batch, drawn from ``generator``."""
    n = x.shape[0]
    flips = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flips.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
    if shift <= 0:
        return x
    offsets = torch.randint(-shift, shift + 1, (n, 2), generator=generator).tolist()
    padded = F.pad(x, (shift, shift, shift, shift))
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, shift + dy: shift + dy + h, shift + dx: shift + dx + w]
                        for i, (dy, dx) in enumerate(offsets)])
