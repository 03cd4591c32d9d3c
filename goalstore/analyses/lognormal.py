"""Log-normal fit of the synaptic weight distribution, per session (thesis §6.2.2).

The non-zero weights ``w`` of one session are fitted by maximum likelihood with
a log-normal distribution, ``ln w ~ N(μ, σ²)``:

    μ = mean(ln w),   σ = sqrt(mean((ln w − μ)²))   (ddof = 0, the ML estimate).

Goodness of fit is the Kolmogorov–Smirnov statistic

    D = sup_x |F_n(x) − Φ((ln x − μ) / σ)|

with its p-value from the Kolmogorov distribution (``scipy.stats.kstest``).
Because μ and σ are estimated from the same weights, that p-value is
conservative (Lilliefors): it rejects a true log-normal less often than its
nominal level, so read D as the effect size.  No I/O happens here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from goalstore.errors import AnalysisInputError


@dataclass(frozen=True)
class LognormalFit:
    """Per session: μ, σ of ln w, KS statistic and p-value, number of non-zero weights."""

    mu: np.ndarray
    sigma: np.ndarray
    ks_statistic: np.ndarray
    ks_pvalue: np.ndarray
    n: np.ndarray


def fit_lognormal(values: np.ndarray) -> tuple[float, float, float, float]:
    """μ, σ (ML) of ``ln values`` and the KS statistic and p-value of the fit (values > 0)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2 or (values <= 0).any():
        raise AnalysisInputError(f"log-normal fit needs at least 2 positive weights, got {values.size} "
                                 f"({int((values <= 0).sum())} not positive)")
    logs = np.log(values)
    mu, sigma = float(logs.mean()), float(logs.std())
    if sigma == 0:
        return mu, sigma, float("nan"), float("nan")
    test = stats.kstest(logs, "norm", args=(mu, sigma))
    return mu, sigma, float(test.statistic), float(test.pvalue)


def lognormal_per_session(weights: np.ndarray) -> LognormalFit:
    """:func:`fit_lognormal` of each session's non-zero weights (NaN for a session with fewer than 2)."""
    fits = np.array([fit_lognormal(col[col > 0]) if (col > 0).sum() >= 2 else (np.nan,) * 4
                     for col in weights.T])
    return LognormalFit(*fits.T, n=(weights > 0).sum(axis=0))


def log_histograms(weights: np.ndarray, n_bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Density of ``ln w`` per session over ``n_bins`` equal-width bins spanning all non-zero weights.

    Returns the bin edges (n_bins + 1,) and the densities (T, n_bins), each row integrating to 1.
    """
    logs = np.log(weights[weights > 0])
    edges = np.linspace(logs.min(), logs.max(), n_bins + 1)
    density = np.array([np.histogram(np.log(col[col > 0]), bins=edges, density=True)[0]
                        for col in weights.T])
    return edges, density
