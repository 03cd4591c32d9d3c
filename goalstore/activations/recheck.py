"""Comparing re-extracted activations with stored ones (``goalstore verify NAME --recheck N``).

A seeded sample of stimuli (:func:`sample_indices`) is re-extracted and compared per layer with
:func:`compare`: values agree when ``|fresh − stored| ≤ ATOL·max|stored| + RTOL·|stored|`` elementwise,
with :data:`RTOL` = :data:`ATOL` = 1e-4 — far above the float32 rounding differences of another batch
size, device or thread count (~1e-6 relative), far below any real change of weights or inputs.
"""

from __future__ import annotations

import numpy as np

RTOL = 1e-4
ATOL = 1e-4  #: relative to the layer's largest stored magnitude


def sample_indices(n_stimuli: int, n: int, seed: int = 0) -> np.ndarray:
    """``min(n, n_stimuli)`` distinct stimulus indices drawn with ``numpy.random.default_rng(seed)``, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_stimuli, size=min(int(n), n_stimuli), replace=False))


def compare(fresh: np.ndarray, stored: np.ndarray, layer: str) -> str | None:
    """None when ``fresh`` and ``stored`` agree (see the module docstring); else what differs."""
    if fresh.shape != stored.shape:
        return (f"layer {layer!r}: re-extracted shape {list(fresh.shape)} differs from stored "
                f"{list(stored.shape)}")
    scale = float(np.nanmax(np.abs(stored))) if stored.size else 0.0
    bad = ~(np.abs(fresh - stored) <= ATOL * max(scale, 1e-12) + RTOL * np.abs(stored))
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"layer {layer!r}: {int(bad.sum())} value(s) differ from a re-extraction (first at sample/unit/"
            f"time {list(first)}: stored {stored[first]!r}, re-extracted {fresh[first]!r})")
