"""Object solution times (OST) and OST consistency (notes §2; thesis §2.5.8).

* **I1** per image and time bin: a linear classifier over the object labels (logistic
  regression on PCA-reduced features, fitted on training images of repeated splits) gives
  each held-out image a hit rate (probability of its true object) and each object a
  false-alarm rate (mean probability given to it by images of other objects);
  ``d' = Z(hit) − Z(false alarm)``, clipped to [−5, 5], normalised by subtracting the mean
  d' of the images of the same object.
* **OST** of an image: the first time at which its I1 reaches the behavioural I1 of that
  image, linearly interpolated between bins (NaN if never reached).
* **OST consistency**: Spearman correlation between two sets of OSTs (e.g. model and IT)
  over the images both solve.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import norm, spearmanr
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit

from goalstore.errors import AnalysisInputError

D_PRIME_LIMIT = 5.0


def i1_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Normalised per-image d' from (image × object) choice probabilities and integer labels."""
    n_images = len(labels)
    eps = 1e-6
    hit = np.clip(probabilities[np.arange(n_images), labels], eps, 1 - eps)
    n_objects = probabilities.shape[1]
    false_alarm = np.empty(n_objects)
    for c in range(n_objects):
        others = labels != c
        false_alarm[c] = probabilities[others, c].mean() if others.any() else np.nan
    false_alarm = np.clip(false_alarm, eps, 1 - eps)
    d_prime = np.clip(norm.ppf(hit) - norm.ppf(false_alarm[labels]), -D_PRIME_LIMIT, D_PRIME_LIMIT)
    object_mean = np.bincount(labels, weights=d_prime, minlength=n_objects) / np.maximum(
        np.bincount(labels, minlength=n_objects), 1
    )
    return d_prime - object_mean[labels]


def i1_over_time(
    features: np.ndarray,
    labels: np.ndarray,
    n_components: int = 100,
    n_splits: int = 10,
    test_size: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Normalised I1 (image × time bin) from features (image × unit × time bin) and object labels.

    Each image's choice probabilities are averaged over the splits in which it was held out
    (an image never held out gets NaN).
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 3 or len(features) != len(labels):
        raise AnalysisInputError(
            f"features: shape {features.shape}; expected (images={len(labels)}, units, bins)"
        )
    if not np.isfinite(features).all():
        raise AnalysisInputError("features: NaN or infinite values")
    codes = np.unique(labels, return_inverse=True)[1]
    n_images, _, n_bins = features.shape
    n_objects = codes.max() + 1
    splits = list(StratifiedShuffleSplit(n_splits, test_size=test_size, random_state=seed).split(codes, codes))
    out = np.full((n_images, n_bins), np.nan)
    for t in range(n_bins):
        total = np.zeros((n_images, n_objects))
        seen = np.zeros(n_images)
        for train, test in splits:
            k = min(n_components, len(train) - 1, features.shape[1])
            model = PCA(k, random_state=seed).fit(features[train, :, t])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                classifier = LogisticRegression(max_iter=1000).fit(
                    model.transform(features[train, :, t]), codes[train]
                )
            probabilities = np.zeros((len(test), n_objects))
            probabilities[:, classifier.classes_] = classifier.predict_proba(
                model.transform(features[test, :, t])
            )
            total[test] += probabilities
            seen[test] += 1
        solved = seen > 0
        out[solved, t] = i1_from_probabilities(total[solved] / seen[solved, None], codes[solved])
    return out


def object_solution_times(i1: np.ndarray, behaviour: np.ndarray, times: np.ndarray) -> np.ndarray:
    """First time each image's I1 (image × bin) reaches its behavioural I1, linearly interpolated
    between bins; NaN where it never does.  Vectorised over images."""
    i1 = np.asarray(i1, dtype=np.float64)
    behaviour = np.asarray(behaviour, dtype=np.float64)[:, None]
    times = np.asarray(times, dtype=np.float64)
    reached = i1 >= behaviour
    ever = reached.any(axis=1)
    k = reached.argmax(axis=1)
    rows = np.arange(len(i1))
    previous = np.maximum(k - 1, 0)
    below, above = i1[rows, previous], i1[rows, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(above > below, (behaviour[:, 0] - below) / (above - below), 0.0)
    ost = np.where(k == 0, times[0], times[previous] + fraction * (times[k] - times[previous]))
    return np.where(ever, ost, np.nan)


def ost_consistency(first: np.ndarray, second: np.ndarray) -> tuple[float, int]:
    """Spearman correlation of two OST vectors over images solved by both, and that image count."""
    both = np.isfinite(first) & np.isfinite(second)
    if both.sum() < 3:
        return float("nan"), int(both.sum())
    return float(spearmanr(first[both], second[both]).statistic), int(both.sum())


def ost_analysis(
    source: xr.DataArray,
    reference: xr.DataArray,
    behaviour_i1: np.ndarray,
    labels: Any,
    n_components: int = 100,
    n_splits: int = 10,
    seed: int = 0,
) -> xr.Dataset:
    """I1 over time, OSTs and their consistency for a source (e.g. a model: image × unit × time_bin)
    against a reference (e.g. IT, trial-averaged if it has trials), with the behavioural I1."""
    arrays = []
    for name, da in (("source", source), ("reference", reference)):
        if "trial" in da.dims:
            da = da.mean("trial")
        for dim in ("stimulus", "unit", "time_bin"):
            if dim not in da.dims:
                raise AnalysisInputError(f"{name}: dim {dim!r} missing; expected stimulus × unit × time_bin")
        arrays.append(da.transpose("stimulus", "unit", "time_bin"))
    if arrays[0].sizes["time_bin"] != arrays[1].sizes["time_bin"]:
        raise AnalysisInputError("source and reference must have the same time bins")
    if not np.array_equal(arrays[0]["stimulus_id"].values, arrays[1]["stimulus_id"].values):
        raise AnalysisInputError("coordinate 'stimulus_id': source and reference show different images")
    labels = np.asarray(labels)
    times = np.asarray(arrays[1]["time_bin_start"].values, dtype=float)
    i1 = [i1_over_time(a.values, labels, n_components, n_splits, seed=seed) for a in arrays]
    osts = [object_solution_times(v, behaviour_i1, times) for v in i1]
    rho, n = ost_consistency(osts[0], osts[1])
    coords = {
        "image_id": ("image", arrays[1]["stimulus_id"].values),
        "time_bin_start": ("time_bin", times, {"units": "ms"}),
        "time_bin_end": ("time_bin", np.asarray(arrays[1]["time_bin_end"].values, float), {"units": "ms"}),
    }
    return xr.Dataset(
        {
            "i1_source": (("image", "time_bin"), i1[0], {"units": "1"}),
            "i1_reference": (("image", "time_bin"), i1[1], {"units": "1"}),
            "ost_source": ("image", osts[0], {"units": "ms"}),
            "ost_reference": ("image", osts[1], {"units": "ms"}),
            "behaviour_i1": ("image", np.asarray(behaviour_i1, float), {"units": "1"}),
        },
        coords=coords,
        attrs={"ost_consistency": rho, "n_images_solved_by_both": n},
    )
