"""Kesten-process model of synaptic weight dynamics (thesis §6.2; notes §6).

A Kesten process ``w(t+1) = ε(t)·w(t) + η(t)`` with Gaussian ε, η gives weight
changes ``Δw = w(t+1) − w(t)`` with

    E[Δw | w]   = a·w + c          (a = E[ε] − 1, c = E[η])
    Var[Δw | w] = b·w² + d         (b = Var[ε],   d = Var[η]).

The fit pairs every non-zero weight ``w(t)`` with its change ``Δw(t)`` (all
synapses, all sessions but the last, whose change is unknown; a synapse that
disappears has Δw = −w), sorts the pairs by ``w`` (ties by pair order) and cuts
them into ``n_bins`` equal-count bins by rank (bin of rank r = ⌊r·n_bins/n⌋).
Per bin it takes the mean w, mean Δw and (population) variance of Δw, then
regresses mean Δw on mean w and Var Δw on (mean w)², with the additive
(intercept) terms c, d and without them.  R² is ``1 − SS_res / SS_tot`` with
the centred total sum of squares in both cases, so the two are comparable.

:func:`bootstrap_kesten` evaluates all bootstrap resamples at once from
cumulative sums over the sorted pairs (no loop over resamples).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from goalstore.errors import AnalysisInputError

PARAMETERS = ("a", "b", "c", "d", "r2_mean", "r2_var", "a_no_additive", "b_no_additive",
              "r2_mean_no_additive", "r2_var_no_additive")


@dataclass(frozen=True)
class KestenPairs:
    """Weights ``w(t) > 0`` (t < T − 1), their changes, and the synapse each pair belongs to,
    sorted by weight (ties broken by pair order)."""

    weight: np.ndarray
    change: np.ndarray
    synapse: np.ndarray


def kesten_pairs(weights: np.ndarray) -> KestenPairs:
    """All (w, Δw) pairs with non-zero w, sorted by w."""
    current, change = weights[:, :-1], np.diff(weights, axis=1)
    synapse = np.broadcast_to(np.arange(weights.shape[0])[:, None], current.shape)
    keep = current > 0
    w, dw, syn = current[keep], change[keep], synapse[keep]
    order = np.lexsort((np.arange(w.size), w))
    return KestenPairs(w[order], dw[order], syn[order])


def rank_boundaries(n: np.ndarray | int, n_bins: int) -> np.ndarray:
    """Rank where each equal-count bin starts: ⌈k·n/n_bins⌉ for k = 0..n_bins (last = n)."""
    k = np.arange(n_bins + 1)
    return -((-k * np.asarray(n)[..., None]) // n_bins)


def binned_moments(pairs: KestenPairs, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-count bin: mean w, mean Δw and population variance of Δw (reference implementation)."""
    n = pairs.weight.size
    if n < n_bins:
        raise AnalysisInputError(f"{n} weight/change pairs cannot fill {n_bins} equal-count bins")
    bins = list(pairwise(rank_boundaries(n, n_bins)))
    mean_w = np.array([pairs.weight[lo:hi].mean() for lo, hi in bins])
    mean_dw = np.array([pairs.change[lo:hi].mean() for lo, hi in bins])
    var_dw = np.array([pairs.change[lo:hi].var() for lo, hi in bins])
    return mean_w, mean_dw, var_dw


def linear_fit(x: np.ndarray, y: np.ndarray, intercept: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares ``y ≈ slope·x (+ offset)`` over the last axis; returns slope, offset, R²."""
    if intercept:
        xm, ym = x.mean(axis=-1, keepdims=True), y.mean(axis=-1, keepdims=True)
        slope = ((x - xm) * (y - ym)).sum(axis=-1) / ((x - xm) ** 2).sum(axis=-1)
        offset = ym[..., 0] - slope * xm[..., 0]
    else:
        slope = (x * y).sum(axis=-1) / (x * x).sum(axis=-1)
        offset = np.zeros_like(slope)
    residual = y - (slope[..., None] * x + offset[..., None])
    total = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    return slope, offset, 1.0 - (residual**2).sum(axis=-1) / total


def fit_from_moments(mean_w: np.ndarray, mean_dw: np.ndarray, var_dw: np.ndarray) -> dict[str, np.ndarray]:
    """Kesten parameters from per-bin moments (leading axes are batches)."""
    a, c, r2_mean = linear_fit(mean_w, mean_dw, intercept=True)
    b, d, r2_var = linear_fit(mean_w**2, var_dw, intercept=True)
    a0, _, r2_mean0 = linear_fit(mean_w, mean_dw, intercept=False)
    b0, _, r2_var0 = linear_fit(mean_w**2, var_dw, intercept=False)
    return {"a": a, "b": b, "c": c, "d": d, "r2_mean": r2_mean, "r2_var": r2_var,
            "a_no_additive": a0, "b_no_additive": b0,
            "r2_mean_no_additive": r2_mean0, "r2_var_no_additive": r2_var0}


def fit_kesten(weights: np.ndarray, n_bins: int = 20) -> tuple[dict[str, np.ndarray], tuple, int]:
    """Fit one weight matrix: parameters, the per-bin moments, and the number of pairs used."""
    pairs = kesten_pairs(weights)
    moments = binned_moments(pairs, n_bins)
    return fit_from_moments(*moments), moments, pairs.weight.size


def _binned_sums(mult: np.ndarray, values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin sums of ``values`` (N, 3) and bin sizes for resamples with pair multiplicities
    ``mult`` (B, N), bins being equal-count in rank space (see :func:`bootstrap_kesten`)."""
    n_rows, n_items = mult.shape
    cum_count = np.cumsum(mult, axis=1)
    totals = cum_count[:, -1]
    if (totals < n_bins).any():
        raise AnalysisInputError(f"a resample has fewer than {n_bins} weight/change pairs")
    ranks = rank_boundaries(totals, n_bins)  # (B, n_bins + 1), int
    # item holding rank r (0-based): first i with cum_count[i] > r; one search for all rows
    offsets = (np.arange(n_rows, dtype=np.int64) * (int(totals.max()) + 1))[:, None]
    item = (np.searchsorted((cum_count + offsets).ravel(), (ranks[:, :-1] + offsets).ravel(),
                            side="right").reshape(n_rows, n_bins)
            - np.arange(n_rows)[:, None] * n_items)
    before = np.where(item > 0, np.take_along_axis(cum_count, np.maximum(item - 1, 0), axis=1), 0)
    spill = (ranks[:, :-1] - before).astype(np.float64)  # copies of item[k] before the boundary
    starts = (item + np.arange(n_rows)[:, None] * n_items).ravel()
    sums = np.empty((n_rows, n_bins, values.shape[1]))
    for column in range(values.shape[1]):
        # a row's last segment runs on into the next row only over items it did not draw (zeros)
        sums[..., column] = np.add.reduceat((mult * values[:, column]).ravel(), starts).reshape(
            n_rows, n_bins)
    sums[:, :-1][item[:, :-1] == item[:, 1:]] = 0.0  # a bin inside one item's copies
    edge = values[item]  # (B, n_bins, 3)
    sums -= spill[..., None] * edge
    sums[:, :-1] += spill[:, 1:, None] * edge[:, 1:]
    return sums, np.diff(ranks, axis=1).astype(np.float64)


def bootstrap_kesten(pairs: KestenPairs, synapse_multiplicity: np.ndarray, n_bins: int = 20,
                     block_items: int = 1 << 18) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Kesten fits of all resamples at once; ``synapse_multiplicity`` is (B, n_synapses).

    Equivalent to refitting each resampled weight matrix (its pairs sorted by
    weight; copies of one pair are interchangeable).  With ``m[b, i]`` the
    multiplicity of sorted pair ``i`` in resample ``b``, the equal-count bin
    boundaries in rank space are found on the cumulative multiplicities; each
    bin's sums of w, Δw and Δw² are segment sums (``add.reduceat`` over all
    resamples of a block), corrected for the copies of the pair that straddles a
    boundary.  Resamples are processed in blocks of about ``block_items``
    multiplicities so that temporaries stay cache-sized and memory bounded.
    Returns the parameters (each (B,)) and the number of pairs per resample.
    """
    values = np.stack([pairs.weight, pairs.change, pairs.change**2], axis=1)
    n_rows = synapse_multiplicity.shape[0]
    rows_per_block = max(1, block_items // max(1, pairs.weight.size))
    sums = np.empty((n_rows, n_bins, 3))
    counts = np.empty((n_rows, n_bins))
    multiplicity = synapse_multiplicity.astype(np.int64)
    for lo in range(0, n_rows, rows_per_block):
        block = multiplicity[lo: lo + rows_per_block][:, pairs.synapse]
        sums[lo: lo + rows_per_block], counts[lo: lo + rows_per_block] = _binned_sums(block, values,
                                                                                     n_bins)
    mean_w, mean_dw = sums[..., 0] / counts, sums[..., 1] / counts
    var_dw = sums[..., 2] / counts - mean_dw**2
    return fit_from_moments(mean_w, mean_dw, var_dw), counts.sum(axis=1)


def simulate_kesten(params: dict[str, float], initial: np.ndarray, n_steps: int, seed: int) -> np.ndarray:
    """Simulate ``w(t+1) = ε w(t) + η`` from ``initial`` weights for ``n_steps`` steps.

    ε ~ N(1 + a, b), η ~ N(c, d) (negative fitted variances are taken as 0); a
    weight that would become negative is set to 0 (the synapse disappears) and
    stays absent.  Returns (n, n_steps + 1).
    """
    rng = np.random.default_rng([seed, 13])
    eps_sd, eta_sd = np.sqrt(max(float(params["b"]), 0.0)), np.sqrt(max(float(params["d"]), 0.0))
    out = np.empty((initial.size, n_steps + 1))
    out[:, 0] = initial
    for t in range(1, n_steps + 1):
        eps = rng.normal(1.0 + float(params["a"]), eps_sd, initial.size)
        eta = rng.normal(float(params["c"]), eta_sd, initial.size)
        nxt = np.maximum(eps * out[:, t - 1] + eta, 0.0)
        out[:, t] = np.where(out[:, t - 1] > 0, nxt, 0.0)
    return out
