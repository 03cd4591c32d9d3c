"""goalstore builders: model training and store-population code (PyTorch).

Builders run on the CPU everywhere and use CUDA when it is present
(``--device auto|cpu|cuda``).  They are deterministic given their config and
write through :mod:`goalstore`'s store root, so every store they produce is
validated, versioned and carries its provenance.
"""

from builders.device import resolve_device

__all__ = ["resolve_device"]
