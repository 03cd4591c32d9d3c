"""The Markov check: correlation of consecutive weight changes against lag.

For changes ``Δw(t) = w(t+1) − w(t)`` of all synapses, centred by their overall
mean, the normalised cross-correlation at lag ``k`` is

    r(k) = ⟨Δw(t) Δw(t+k)⟩ / ⟨Δw(t)²⟩,     r(0) = 1,

averaged over all synapses and all t with both changes defined (notes §6).  For
a Markov process the changes carry no memory beyond what the current weight
implies, so data and trajectories sampled from the fitted chain should agree.
"""

from __future__ import annotations

import numpy as np


def change_correlation(weights: np.ndarray) -> np.ndarray:
    """``r(k)`` for k = 0 .. T−2 of a synapse × session weight matrix."""
    changes = np.diff(weights, axis=1)
    changes = changes - changes.mean()
    lag0 = np.mean(changes * changes)
    n_lags = changes.shape[1]
    out = np.empty(n_lags)
    for lag in range(n_lags):
        out[lag] = np.mean(changes[:, : n_lags - lag] * changes[:, lag:]) / lag0
    return out
