"""Model ↔ MEC comparisons of spatial rate maps (thesis ch. 4 §4.3; notes §1–§3).

Two comparisons of a model's rate maps with recorded MEC maps:

* :func:`map_consistency` — how well a linear mapping from the source's maps predicts each target
  cell's map, with **position bins as the stimuli** (notes §1, MEC defaults: 20 % of the bins train,
  80 % test, 10 splits, pooled source = all source units).  Open-field maps have one map per cell and no
  repeated trials, so no noise ceiling exists (both denominator terms of eq. 3.4 are 1, eqs. 4.3–4.4):
  the score is the raw Pearson correlation over the test bins.
* :func:`score_distances` — how far apart the distributions of grid and border scores of the two
  populations are (two-sample Kolmogorov–Smirnov statistic).

Models live in a 2.2 m box, the Gerlei cells in a box of about 1 m: maps are compared in **box
fractions** (:func:`common_bins` resamples every map to the same grid of normalised arena coordinates).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from goalstore.analyses.mappings import fit_predict, make_mapping
from goalstore.errors import AnalysisInputError

#: fewest common visited bins a split may train / test on
MIN_TRAIN_BINS = 5
MIN_TEST_BINS = 10


def _fractions(centers: np.ndarray, name: str) -> np.ndarray:
    """Bin centres (cm) → position as a fraction of the box side, in [0, 1).

    The box is taken to extend half a bin beyond the first and last centres (rate maps tile the box)."""
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 1 or len(centers) < 2 or not np.all(np.isfinite(centers)):
        raise AnalysisInputError(f"coordinate {name}: expected at least 2 finite bin centres")
    step = np.diff(centers)
    if np.any(step <= 0):
        raise AnalysisInputError(f"coordinate {name}: bin centres must increase")
    lo = centers[0] - step[0] / 2
    hi = centers[-1] + step[-1] / 2
    return (centers - lo) / (hi - lo)


def _assignment(centers: np.ndarray, n_bins: int, name: str) -> np.ndarray:
    """One-hot matrix (n_bins × n_source): source bin j falls in target bin i."""
    index = np.minimum((_fractions(centers, name) * n_bins).astype(int), n_bins - 1)
    return (index[None, :] == np.arange(n_bins)[:, None]).astype(np.float64)


def _rate(maps: xr.DataArray | xr.Dataset, label: str) -> xr.DataArray:
    if isinstance(maps, xr.Dataset):
        if "rate" not in maps:
            raise AnalysisInputError(f"{label}: no variable 'rate' (expected a rate-map store, unit × x × y)")
        maps = maps["rate"]
    if set(maps.dims) != {"unit", "x", "y"}:
        raise AnalysisInputError(f"{label}: dimensions {tuple(maps.dims)}; expected unit × x × y")
    for coord in ("x_center", "y_center"):
        if coord not in maps.coords:
            raise AnalysisInputError(f"{label}: no coordinate {coord} (bin centres in cm)")
    return maps.transpose("unit", "x", "y")


def common_bins(maps: xr.DataArray, n_bins: int = 20) -> np.ndarray:
    """Rate maps resampled to ``n_bins × n_bins`` bins of **normalised arena coordinates**.

    ``maps``: unit × x × y (coordinates ``x_center`` / ``y_center`` in cm, any box size and bin count,
    NaN = unvisited).  Each position is expressed as a fraction of the box side, ``u = (x − x₀) / L`` in
    [0, 1) (the box extends half a bin beyond the outer centres), so a model's 2.2 m box and a recorded
    1 m box land on the same grid.  Target bin ``(a, b)`` gets the mean of the visited source bins whose
    centres fall in it, ``m_ab = Σ_{ij∈(a,b)} r_ij / #{visited ij ∈ (a,b)}``; NaN if it holds no visited
    source bin (also where the source is coarser than the target grid).

    Returns unit × (n_bins·n_bins) float64 (row-major over x then y).
    """
    if int(n_bins) < 2:
        raise AnalysisInputError(f"n_bins {n_bins}: expected at least 2")
    rate = _rate(maps, "maps")
    values = np.asarray(rate.values, dtype=np.float64)
    ax = _assignment(rate["x_center"].values, n_bins, "x_center")
    ay = _assignment(rate["y_center"].values, n_bins, "y_center")
    visited = np.isfinite(values)
    sums = np.einsum("ai,uij,bj->uab", ax, np.where(visited, values, 0.0), ay)
    counts = np.einsum("ai,uij,bj->uab", ax, visited.astype(np.float64), ay)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return means.reshape(len(values), n_bins * n_bins)


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along axis −2 of (…, n, q) arrays; NaN where either side is constant (up to rounding)."""
    ac = a - a.mean(axis=-2, keepdims=True)
    bc = b - b.mean(axis=-2, keepdims=True)
    na = np.sqrt((ac * ac).sum(axis=-2))
    nb = np.sqrt((bc * bc).sum(axis=-2))
    flat = (na <= 1e-12 * (np.abs(a).max(axis=-2) + 1e-300)) | (nb <= 1e-12 * (np.abs(b).max(axis=-2) + 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flat, np.nan, (ac * bc).sum(axis=-2) / (na * nb))


def map_consistency(
    source: xr.DataArray,
    target: xr.DataArray,
    mapping: str = "ridge",
    n_splits: int = 10,
    train_fraction: float = 0.2,
    n_bins: int = 20,
    seed: int = 0,
) -> xr.Dataset:
    """How well the source's rate maps predict each target cell's map, position bins as stimuli.

    Both stores are resampled to ``n_bins × n_bins`` bins of normalised arena coordinates
    (:func:`common_bins`; a 2.2 m model box and a 1 m recording box compare in box fractions).  The
    stimuli are the bins where every source and every target unit is finite.  For each of ``n_splits``
    seeded splits (an array axis), the mapping ``M(S; T)`` (:mod:`goalstore.analyses.mappings`) is fitted
    on a random ``train_fraction`` of them from all source units (the pooled source) to all target units,
    and each target unit's score is ``r = Corr(M(S_train; T_train)(S_test), T_test)`` over the other bins.

    Source units are z-scored on each split's training bins (units constant there become zero), so the
    mapping's regularisation means the same for model units of any scale and for rates in Hz.  A target
    unit constant on the test bins gets NaN.  No noise ceiling exists for these maps (one map per cell,
    no repeated trials): the scores are raw correlations, not noise-corrected.

    Returns ``score`` (target_unit × split), ``unit_score`` (target_unit; mean over splits) and
    ``median_score`` (median over target units of ``unit_score``), coordinate ``unit_id`` of the target.
    """
    if int(n_splits) < 1:
        raise AnalysisInputError(f"n_splits {n_splits}: expected at least 1")
    if not 0.0 < float(train_fraction) < 1.0:
        raise AnalysisInputError(f"train_fraction {train_fraction}: expected a fraction in (0, 1)")
    model = make_mapping(mapping)  # an unknown name is refused before any work
    source_rate, target_rate = _rate(source, "source"), _rate(target, "target")
    s = common_bins(source_rate, n_bins)
    t = common_bins(target_rate, n_bins)
    if len(s) == 0 or len(t) == 0:
        raise AnalysisInputError(f"{'source' if len(s) == 0 else 'target'}: no units (dimension unit is empty)")
    visited = np.isfinite(s).all(axis=0) & np.isfinite(t).all(axis=0)
    bins = np.flatnonzero(visited)
    n_train = round(float(train_fraction) * len(bins))
    n_test = len(bins) - n_train
    if n_train < MIN_TRAIN_BINS or n_test < MIN_TEST_BINS:
        raise AnalysisInputError(
            f"source/target coordinates x_center, y_center: {len(bins)} of {n_bins}x{n_bins} common bins are "
            f"visited by every unit of both stores ({n_train} train, {n_test} test); expected at least "
            f"{MIN_TRAIN_BINS} train and {MIN_TEST_BINS} test bins"
        )
    rng = np.random.default_rng(seed)
    order = rng.permuted(np.tile(bins, (int(n_splits), 1)), axis=1)  # split × bin
    train, test = order[:, :n_train], order[:, n_train:]
    x, y = s.T, t.T  # bin × unit
    x_train, x_test = x[train], x[test]  # split × bins × source unit
    mean = x_train.mean(axis=1, keepdims=True)
    std = x_train.std(axis=1, keepdims=True)
    std = np.where(std > 1e-12 * (np.abs(mean) + 1.0), std, np.inf)  # constant on train → column of zeros
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    predicted = fit_predict(model, x_train, y[train], x_test)  # split × test × target unit
    score = _pearson(np.asarray(predicted, dtype=np.float64), y[test]).T  # target unit × split
    with warnings.catch_warnings():  # all-NaN units (constant targets) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        unit_score = np.nanmean(score, axis=1)
        median = np.nanmedian(unit_score) if np.isfinite(unit_score).any() else np.nan
    unit_ids = target_rate["unit_id"].values if "unit_id" in target_rate.coords else np.arange(len(t))
    return xr.Dataset(
        {
            "score": (("target_unit", "split"), score, {"description": "Pearson r over the test bins"}),
            "unit_score": ("target_unit", unit_score, {"description": "mean of score over splits"}),
            "median_score": ((), float(median), {"description": "median over target units of unit_score"}),
        },
        coords={"unit_id": ("target_unit", np.asarray(unit_ids).astype(str)),
                "split": np.arange(int(n_splits))},
        attrs={
            "mapping": str(mapping),
            "n_splits": int(n_splits),
            "train_fraction": float(train_fraction),
            "n_bins": int(n_bins),
            "n_train_bins": n_train,
            "n_test_bins": n_test,
            "n_source_units": len(s),
            "source_scaling": "z-scored on each split's training bins",
            "noise_ceiling": "none (one map per cell, no repeated trials): raw correlations",
            "coordinates": "normalised arena coordinates (fraction of the box side)",
        },
    )


def score_distances(
    model: xr.Dataset, data: xr.Dataset, scores: Sequence[str] = ("grid_score", "border_score")
) -> xr.Dataset:
    """Distance between the model's and the data's distributions of each spatial score.

    ``model`` and ``data`` are :func:`goalstore.analyses.spatial.spatial_scores` results.  Per score, the
    two-sample Kolmogorov–Smirnov statistic ``D = sup_s |F_model(s) − F_data(s)|`` (F: empirical CDFs,
    NaN scores ignored) and its p-value (:func:`scipy.stats.ks_2samp`, two-sided): D = 0 for identical
    score sets, 1 for disjoint ones.  Variables ``ks_<score>``, ``ks_<score>_p``, ``n_model_<score>``,
    ``n_data_<score>`` and ``n_model`` / ``n_data`` (units in each result).
    """
    from scipy.stats import ks_2samp

    out: dict[str, tuple] = {}
    for score in scores:
        samples = {}
        for label, ds in (("model", model), ("data", data)):
            if score not in ds:
                raise AnalysisInputError(f"{label} scores: no variable {score!r} "
                                         "(expected a spatial_scores result)")
            values = np.asarray(ds[score].values, dtype=np.float64).ravel()
            samples[label] = values[np.isfinite(values)]
            if len(samples[label]) == 0:
                raise AnalysisInputError(f"{label} scores: no finite {score} (every unit NaN or no units)")
        test = ks_2samp(samples["model"], samples["data"])
        out[f"ks_{score}"] = ((), float(test.statistic), {"description": f"KS statistic D of {score}"})
        out[f"ks_{score}_p"] = ((), float(test.pvalue), {"description": f"two-sided KS p-value of {score}"})
        out[f"n_model_{score}"] = ((), len(samples["model"]))
        out[f"n_data_{score}"] = ((), len(samples["data"]))
    out["n_model"] = ((), int(model.sizes.get("unit", 0)))
    out["n_data"] = ((), int(data.sizes.get("unit", 0)))
    return xr.Dataset(out, attrs={"scores": ",".join(scores), "test": "two-sample Kolmogorov-Smirnov (scipy)"})
