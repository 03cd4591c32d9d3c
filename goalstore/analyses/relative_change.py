"""Relative weight change of persistent synapses over time (thesis §6.2.2).

For the synapses present on every session whose first-session weight lies
between the ``low``-th and ``high``-th percentile (defaults 25 and 75) of the
first-session weights of those persistent synapses, the relative change on
session ``t`` is

    r_s(t) = |ln(w_s(t) / w_s(0))|,

reported as the mean over synapses ± its standard error (s.e.m., ddof = 1), and
``exp(mean) − 1`` as the typical fractional change.  Restricting to mid-sized
synapses keeps regression to the mean of the smallest and largest weights out
of the measure; restricting to persistent synapses keeps the logarithm finite.
Percentiles are NumPy's linear interpolation and both bounds are inclusive.

Bootstrap bands resample the selected synapses with replacement (seeded); the
selection itself is kept fixed.  No I/O happens here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalstore.analyses.resampling import multiplicities
from goalstore.errors import AnalysisInputError


@dataclass(frozen=True)
class RelativeChange:
    """Mean, s.e.m. and bootstrap resamples of |ln(w(t)/w(0))| per session."""

    mean: np.ndarray  #: (T,)
    sem: np.ndarray  #: (T,)
    boot: np.ndarray  #: (n_bootstrap, T) means of the resamples
    selected: np.ndarray  #: (n_synapses,) bool, the synapses averaged

    @property
    def n_synapses(self) -> int:
        return int(self.selected.sum())

    @property
    def fractional_change(self) -> np.ndarray:
        """``exp(mean) − 1``: the typical fractional weight change per session."""
        return np.expm1(self.mean)


def select_mid_persistent(weights: np.ndarray, low: float = 25.0, high: float = 75.0) -> np.ndarray:
    """Synapses present on every session whose first weight is within the [low, high] percentiles
    of the persistent synapses' first weights (bool mask over rows)."""
    if not 0.0 <= low < high <= 100.0:
        raise AnalysisInputError(f"percentiles low={low}, high={high}: expected 0 <= low < high <= 100")
    persistent = (weights > 0).all(axis=1)
    if persistent.sum() < 2:
        raise AnalysisInputError(f"{int(persistent.sum())} synapses present on every session; the "
                                 "relative weight change needs at least 2")
    lo, hi = np.percentile(weights[persistent, 0], [low, high])
    return persistent & (weights[:, 0] >= lo) & (weights[:, 0] <= hi)


def relative_change(weights: np.ndarray, low: float = 25.0, high: float = 75.0, n_bootstrap: int = 30,
                    seed: int = 0) -> RelativeChange:
    """|ln(w(t)/w(0))| of the mid-sized persistent synapses: mean, s.e.m. and bootstrap means."""
    selected = select_mid_persistent(weights, low, high)
    rows = weights[selected]
    change = np.abs(np.log(rows / rows[:, :1]))
    n = rows.shape[0]
    sem = change.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(weights.shape[1], np.nan)
    draws = np.random.default_rng([seed, 17]).integers(0, n, size=(n_bootstrap, n))
    boot = multiplicities(draws, n) @ change / n
    return RelativeChange(change.mean(axis=0), sem, boot, selected)
