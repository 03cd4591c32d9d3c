"""Bootstrap resampling as an array axis.

A bootstrap resample of ``n`` items is represented by its **multiplicities**:
how often each item was drawn.  Any statistic that is a sum over items becomes
a matrix product ``multiplicities @ per_item_values``, so all resamples are
evaluated at once.  :func:`bootstrap_indices` gives the draws themselves, so a
per-resample loop over the same draws (the reference) yields identical results.
"""

from __future__ import annotations

import numpy as np


def bootstrap_indices(n_items: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """``(n_bootstrap, n_items)`` indices drawn with replacement, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_bootstrap, n_items))


def multiplicities(indices: np.ndarray, n_items: int) -> np.ndarray:
    """``(n_bootstrap, n_items)`` counts of each item in each resample (float64)."""
    n_bootstrap = indices.shape[0]
    flat = indices + n_items * np.arange(n_bootstrap)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_bootstrap * n_items)
    return counts.reshape(n_bootstrap, n_items).astype(np.float64)
