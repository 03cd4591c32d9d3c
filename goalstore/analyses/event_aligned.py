"""Synaptic weights aligned to a synapse's addition or elimination (thesis §6.2.2).

An **elimination** is a synapse present on session ``t − 1`` and absent on
``t``; an **addition** is a synapse absent on ``t − 1`` and present on ``t``
(``t ≥ 1``: whether a synapse present on the first session was just added is
unknown).  Weights are aligned to that session, offset ``k`` in sessions:

* elimination, ``k = −1, −2, …``: ``w(t + k)`` while the synapse has been present
  without a gap from ``t + k`` to ``t − 1`` (its last life before disappearing);
* addition, ``k = 0, 1, …``: ``w(t + k)`` while it stays present from ``t`` to
  ``t + k`` (its first life after appearing).

Every event counts once (a synapse that disappears twice gives two events).  Per
offset: the mean weight over events, its s.e.m. (ddof = 1) and the number of
events observed that far from the event (fewer the further, as sessions run out).
No I/O happens here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlignedWeights:
    """Mean weight, s.e.m. and event count per offset (sessions relative to the event)."""

    offset: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    count: np.ndarray


def _runs(present: np.ndarray, reverse: bool) -> np.ndarray:
    """Length of the run of presence ending at (or, with ``reverse``, starting at) each session."""
    p = present[:, ::-1] if reverse else present
    run = np.zeros(p.shape, dtype=int)
    run[:, 0] = p[:, 0]
    for t in range(1, p.shape[1]):
        run[:, t] = np.where(p[:, t], run[:, t - 1] + 1, 0)
    return run[:, ::-1] if reverse else run


def _summarise(offsets: np.ndarray, values: np.ndarray, valid: np.ndarray) -> AlignedWeights:
    count = valid.sum(axis=0)
    safe = np.maximum(count, 1)
    mean = np.where(count > 0, (values * valid).sum(axis=0) / safe, np.nan)
    sq = (((values - mean) ** 2) * valid).sum(axis=0)
    sem = np.where(count > 1, np.sqrt(sq / np.maximum(count - 1, 1)) / np.sqrt(safe), np.nan)
    return AlignedWeights(offsets, mean, sem, count)


def aligned_to_elimination(weights: np.ndarray) -> AlignedWeights:
    """Mean weight on the sessions before each elimination, offsets −1 … −(T − 1)."""
    present = weights > 0
    n_sessions = weights.shape[1]
    runs = _runs(present, reverse=False)
    offsets = -np.arange(1, n_sessions)
    t = np.arange(1, n_sessions)
    events = present[:, :-1] & ~present[:, 1:]  # (n, T-1): elimination on session t = 1..T-1
    k = -offsets  # (K,)
    source = t[:, None] - k[None, :]  # (T-1, K): session t - k
    valid = events[:, :, None] & (source >= 0) & (runs[:, t - 1][:, :, None] >= k)
    values = weights[:, np.clip(source, 0, None)]  # (n, T-1, K)
    return _summarise(offsets, values.reshape(-1, k.size), valid.reshape(-1, k.size))


def aligned_to_addition(weights: np.ndarray) -> AlignedWeights:
    """Mean weight on the sessions from each addition on, offsets 0 … T − 2."""
    present = weights > 0
    n_sessions = weights.shape[1]
    runs = _runs(present, reverse=True)
    offsets = np.arange(n_sessions - 1)
    t = np.arange(1, n_sessions)
    events = ~present[:, :-1] & present[:, 1:]  # addition on session t = 1..T-1
    target = t[:, None] + offsets[None, :]  # (T-1, K)
    valid = (events[:, :, None] & (target < n_sessions)
             & (runs[:, t][:, :, None] >= offsets + 1))
    values = weights[:, np.clip(target, None, n_sessions - 1)]
    return _summarise(offsets, values.reshape(-1, offsets.size), valid.reshape(-1, offsets.size))
