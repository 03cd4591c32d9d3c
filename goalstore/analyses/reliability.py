"""Split-half reliability (internal consistency) of recorded units (notes §1).

A unit's trials are split at random into two halves; each half is averaged per
stimulus (``B¹``, ``B²``) and the halves are correlated across stimuli, then
Spearman–Brown corrected, ``SB(r) = 2r / (1 + r)``.  Split-half draws are an array
axis (``bootstrap``): the trial averages of all draws are one contraction of the
trial axis with a (draw × trial) weight matrix, so nothing loops over draws or units.
On a dask-backed recording the computation stays lazy and runs per unit chunk, so
memory is bounded by a chunk, not by the recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from goalstore.errors import AnalysisInputError


def spearman_brown(r: Any) -> Any:
    """Spearman–Brown correction of a split-half correlation, ``2r / (1 + r)`` (r = −1 gives −inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * r / (1.0 + r)


def centred(a: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parts of :func:`pearson` that depend on one input: ``a`` centred along ``axis``, its
    norm, and whether it varies (spread above ``1e-10`` of its magnitude, see :func:`pearson`).
    Several correlations of the same arrays (:func:`correlation` of these parts) centre each once."""
    a = np.asarray(a, dtype=np.float64)
    scale = np.abs(a).max(axis=axis) * np.sqrt(a.shape[axis])
    a = a - a.mean(axis=axis, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=axis))
    return a, norm, norm > 1e-10 * scale


def correlation(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray],
                axis: int = -1) -> np.ndarray:
    """Pearson correlation from the :func:`centred` parts of two inputs (NaN where either is constant)."""
    ok = a[2] & b[2]
    num = (a[0] * b[0]).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / np.where(ok, a[1] * b[1], 1.0), np.nan)


def pearson(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson correlation of ``a`` and ``b`` along ``axis``, broadcast over all other axes.

    A constant input gives NaN (no variance to correlate).  "Constant" allows for
    rounding: a vector whose spread around its mean is below ``1e-10`` of its magnitude
    (e.g. a sparse mapping's all-intercept prediction, whose float mean differs from its
    value in the last bit) counts as constant.
    """
    return correlation(centred(a, axis), centred(b, axis), axis)


def split_half_weights(n_trials: int, n_draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Averaging weights of the two halves of each draw: two (draw × trial) matrices.

    Each draw permutes the trials and gives the first ``n_trials // 2`` to half 1 and the
    next ``n_trials // 2`` to half 2 (an odd trial out is left out), so both halves
    average equally many trials.  Deterministic given ``seed``.
    """
    if n_trials < 2:
        raise AnalysisInputError(
            f"dim 'trial': {n_trials} trial(s) is too few for split halves; need at least 2"
        )
    if n_draws < 1:
        raise AnalysisInputError(f"n_draws must be at least 1; got {n_draws}")
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_draws, n_trials)), axis=1)
    half = n_trials // 2
    w1 = np.zeros((n_draws, n_trials))
    w2 = np.zeros((n_draws, n_trials))
    rows = np.arange(n_draws)[:, None]
    w1[rows, order[:, :half]] = 1.0 / half
    w2[rows, order[:, half : 2 * half]] = 1.0 / half
    return w1, w2


def split_halves(responses: xr.DataArray, n_draws: int, seed: int) -> tuple[xr.DataArray, xr.DataArray]:
    """Trial averages of the two halves of each draw, with a new leading ``bootstrap`` dim.

    Lazy when ``responses`` is dask-backed (the contraction is ``xarray.dot``).
    """
    if "trial" not in responses.dims:
        raise AnalysisInputError("dim 'trial': missing; split halves need repeated trials")
    w1, w2 = split_half_weights(responses.sizes["trial"], n_draws, seed)
    coords = {"bootstrap_id": ("bootstrap", np.arange(n_draws))}
    halves = []
    for w in (w1, w2):
        weights = xr.DataArray(w, dims=("bootstrap", "trial"))
        half = xr.dot(weights, responses.astype(np.float64), dim="trial")
        halves.append(half.assign_coords(coords))
    return halves[0], halves[1]


def check_finite(responses: xr.DataArray, name: str = "responses") -> None:
    """Refuse NaN or infinite values, naming the units that carry them (reads the data)."""
    values = np.asarray(responses.values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        where = ""
        if "unit" in responses.dims:
            unit_axis = responses.dims.index("unit")
            per_unit = bad.any(axis=tuple(i for i in range(bad.ndim) if i != unit_axis))
            ids = (
                responses["unit_id"].values[per_unit]
                if "unit_id" in responses.coords
                else np.flatnonzero(per_unit)
            )
            where = f" in unit(s) {', '.join(map(str, ids[:5]))}{' …' if len(ids) > 5 else ''}"
        raise AnalysisInputError(
            f"{name}: {int(bad.sum())} NaN or infinite value(s){where}; "
            "drop or impute them before computing consistency"
        )


def _sb_corr_core(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    if np.isnan(h1).any() or np.isnan(h2).any():
        raise AnalysisInputError(
            "responses: NaN values in a unit chunk; split-half reliability needs "
            "complete responses (drop or impute the units first)"
        )
    return spearman_brown(pearson(h1, h2, axis=-1))


def split_half_reliability(responses: xr.DataArray, n_draws: int = 100, seed: int = 0,
                           chunk_bytes: int = 128 * 2**20) -> xr.DataArray:
    """Spearman–Brown corrected split-half correlation per unit and draw (notes §1).

    ``responses`` has dims ``stimulus`` and ``trial`` (plus ``unit``, ``time_bin`` …);
    the result has ``bootstrap`` and the remaining dims, correlation across stimuli.
    Average over ``bootstrap`` for the internal consistency.  Lazy for dask input, with unit
    chunks made small enough that one task's working memory (the two halves and their
    centred products, float64) stays near ``chunk_bytes``.
    NaN input is an error (at compute time for dask input).
    """
    if "stimulus" not in responses.dims:
        raise AnalysisInputError("dim 'stimulus': missing; reliability correlates across stimuli")
    if responses.sizes["stimulus"] < 3:
        raise AnalysisInputError(
            f"dim 'stimulus': {responses.sizes['stimulus']} stimuli are too few to correlate; need at least 3"
        )
    if responses.chunks is None:
        check_finite(responses)
    elif "unit" in responses.dims:  # bound the memory of one task: halves and their products in float64
        per_unit = 8 * 6 * n_draws * responses.sizes["stimulus"] * int(np.prod(
            [responses.sizes[d] for d in responses.dims if d not in ("unit", "stimulus", "trial")]))
        units = max(1, min(responses.sizes["unit"], chunk_bytes // max(per_unit, 1)))
        if max(responses.data.chunks[responses.get_axis_num("unit")]) > units:
            responses = responses.chunk({"unit": units})
    h1, h2 = split_halves(responses, n_draws, seed)
    result = xr.apply_ufunc(
        _sb_corr_core,
        h1,
        h2,
        input_core_dims=[["stimulus"], ["stimulus"]],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    result.attrs = {
        "units": "1",
        "description": "Spearman-Brown corrected split-half correlation across stimuli, per split-half draw",
        "n_draws": int(n_draws),
        "seed": int(seed),
    }
    return result
