"""Choosing the torch device a builder trains on."""

from __future__ import annotations

from typing import Any

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str = "auto") -> Any:
    """The ``torch.device`` for ``spec``: ``auto`` picks CUDA when available, else the CPU.

    ``cuda`` (or ``cuda:N``) on a machine without a usable GPU raises a ``ValueError``
    that says so, instead of failing later inside a training step.
    """
    import torch

    base = spec.split(":", 1)[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"device {spec!r}: expected one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: CUDA is not available on this machine "
                         "(install a CUDA build of torch, see README, or use --device cpu)")
    return torch.device(spec)
