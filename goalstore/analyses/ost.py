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
  over the images both solve, with a bootstrap over those images for its error
  (:func:`bootstrap_ost_consistency`).
* **Model OSTs** (thesis §2.3.4, :func:`ost_model_analysis`): the model's "IT-preferred" layers are
  the ones whose features best predict the recording's IT units (noise-corrected predictivity with a
  PLS mapping of 25 components, :func:`~goalstore.analyses.consistency.model_predictivity`, on
  responses averaged over time bins); their units, over the model's time bins, feed the I1 decoder
  (a linear SVM on up to 1,000 PCA components, ``classifier="svm"``), and the OSTs so found are
  compared with the recording's own (same decoder on the area's trial-averaged units).  A
  feed-forward model (activations without ``time_bin``) gets its times from a time mapping
  (notes §2, :mod:`goalstore.activations.time_mapping`): its IT-preferred layers, in network order,
  spread over the recording's bins ``uniform``-ly (bin ``b`` reads layer ``⌊b·L/n_bins⌋``) or
  ``graded`` (units sampled from consecutive layers in proportion to the bin's position).  Each
  model's row of the size-vs-performance table carries its parameter and unit counts and task
  accuracy from the model store's catalog metadata.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import norm, rankdata, spearmanr
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.svm import SVC

from goalstore.analyses.consistency_summary import json_number
from goalstore.errors import AnalysisInputError

D_PRIME_LIMIT = 5.0

#: linear decoders of the I1: ``svm`` (the thesis') and ``logistic``
CLASSIFIERS = ("svm", "logistic")


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
    classifier: str = "logistic",
) -> np.ndarray:
    """Normalised I1 (image × time bin) from features (image × unit × time bin) and object labels.

    Each image's choice probabilities are averaged over the splits in which it was held out
    (an image never held out gets NaN).  ``classifier``: ``logistic`` (probabilities from a
    multinomial logistic regression) or ``svm`` (a linear SVM, the thesis' decoder, with libsvm's
    probability outputs: Platt-scaled one-vs-one decision values from an internal 5-fold fit,
    seeded, coupled over pairs; the I1 is then defined the same way for both).  (A sigmoid
    calibration of a one-vs-rest ``LinearSVC`` recovered planted solution times worse and ran
    slower.)
    The PCA keeps ``min(n_components, training images − 1, units)`` components.
    """
    if classifier not in CLASSIFIERS:
        raise AnalysisInputError(f"classifier {classifier!r}: unknown; expected {' or '.join(CLASSIFIERS)}")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 3 or len(features) != len(labels):
        raise AnalysisInputError(
            f"features: shape {features.shape}; expected (images={len(labels)}, units, bins)"
        )
    if not np.isfinite(features).all():
        raise AnalysisInputError("features: NaN or infinite values")
    names, codes = np.unique(labels, return_inverse=True)
    fewest = int(np.bincount(codes).argmin())
    if len(names) < 2 or np.bincount(codes)[fewest] < 4:
        raise AnalysisInputError(f"labels: {len(names)} object(s), {names[fewest]!r} with "
                                 f"{np.bincount(codes)[fewest]} image(s); the decoder needs at least two "
                                 "objects and four images of each")
    n_images, _, n_bins = features.shape
    n_objects = codes.max() + 1
    splits = list(StratifiedShuffleSplit(n_splits, test_size=test_size, random_state=seed).split(codes, codes))
    out = np.full((n_images, n_bins), np.nan)
    for t in range(n_bins):
        total = np.zeros((n_images, n_objects))
        seen = np.zeros(n_images)
        for train, test in splits:
            k = min(n_components, len(train) - 1, features.shape[1])
            probabilities = np.zeros((len(test), n_objects))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)  # a bin where every image looks the same
                model = PCA(k, random_state=seed).fit(features[train, :, t])
                x_train, x_test = model.transform(features[train, :, t]), model.transform(features[test, :, t])
                if classifier == "svm":
                    warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9 deprecates probability=True
                    fitted = SVC(kernel="linear", probability=True, random_state=seed)
                    fitted.fit(x_train, codes[train])
                    probabilities[:, fitted.classes_] = fitted.predict_proba(x_test)
                else:
                    fitted = LogisticRegression(max_iter=1000).fit(x_train, codes[train])
                    probabilities[:, fitted.classes_] = fitted.predict_proba(x_test)
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


# ------------------------------------------------------------------ models against a recording (§2.3.4)
def bootstrap_ost_consistency(
    first: np.ndarray, second: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[float, np.ndarray, int]:
    """OST consistency (Spearman ρ over the images solved by both), its bootstrap distribution and the
    image count.

    Where either side's OSTs are all equal (e.g. every image solved in the first bin) there is no rank
    correlation: ρ is NaN. The bootstrap resamples the solved images with replacement, ``n_boot`` times at
    once (resample × image index array, ranks along the image axis with ties averaged, Pearson of the ranks
    per row), so its error is ``std`` over the ``n_boot`` values. Deterministic given ``seed``. Fewer than
    three images solved by both: ρ and every resample are NaN.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    both = np.isfinite(first) & np.isfinite(second)
    n = int(both.sum())
    if n < 3:
        return float("nan"), np.full(n_boot, np.nan), n
    x, y = first[both], second[both]
    rho = float(spearmanr(x, y).statistic) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
    index = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    rx, ry = rankdata(x[index], axis=1), rankdata(y[index], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (rx * ry).sum(axis=1) / np.where(denominator > 0, denominator, np.nan)
    return rho, draws, n


def _by_stimulus(da: xr.DataArray, ids: np.ndarray, what: str) -> xr.DataArray:
    """``da`` narrowed to (and ordered by) the stimulus ids ``ids``; missing ids are refused."""
    import pandas as pd

    have = np.asarray(da["stimulus_id"].values).astype(str)
    index = pd.Index(have).get_indexer(ids)
    if (index < 0).any():
        raise AnalysisInputError(f"coordinate 'stimulus_id': {(index < 0).sum()} of the recording's stimuli "
                                 f"are missing from {what} (first: {', '.join(ids[index < 0][:5])})")
    return da.isel(stimulus=index)


def _with_time_bins(da: xr.DataArray, what: str) -> xr.DataArray:
    if "time_bin" not in da.dims or da.sizes["time_bin"] < 2:
        raise AnalysisInputError(f"{what}: dim 'time_bin' missing or a single bin; object solution times need "
                                 "responses over at least two time bins")
    return da


def neural_features(recording: xr.Dataset | xr.DataArray, area: str = "IT") -> xr.DataArray:
    """The trial-averaged responses (stimulus × unit × time_bin) of the recording's units in ``area``
    (all animals pooled)."""
    from goalstore.analyses.responses import responses_of

    responses = _with_time_bins(responses_of(recording, None), "recording")
    areas = np.asarray(responses["area"].values).astype(str)
    if area not in areas:
        raise AnalysisInputError(f"coordinate 'area': no unit in area {area!r} "
                                 f"(areas {', '.join(sorted(set(areas)))})")
    responses = responses.isel(unit=np.flatnonzero(areas == area))
    if "trial" in responses.dims:
        responses = responses.mean("trial")
    return responses.transpose("stimulus", "unit", "time_bin")


def preferred_layers(
    recording: xr.Dataset | xr.DataArray,
    activations: xr.Dataset | xr.DataArray,
    area: str = "IT",
    n_layers: int = 1,
    pls_components: int = 25,
    n_splits: int = 10,
    n_draws: int = 20,
    seed: int = 0,
) -> tuple[list[str], dict[str, float]]:
    """The model's ``n_layers`` "IT-preferred" layers: those with the highest median (over the area's
    units) noise-corrected predictivity under a PLS mapping with ``pls_components`` components, with
    recording and activations averaged over their time bins (a layer is preferred for what it
    represents, whatever its timing).  Returns the layers (best first) and every layer's score."""
    from goalstore.analyses.consistency import model_predictivity
    from goalstore.analyses.responses import responses_of
    from goalstore.analyses.stimulus_splits import SplitScheme

    rec = responses_of(recording, None)
    act = responses_of(activations, None)
    rec = rec.mean("time_bin") if "time_bin" in rec.dims else rec
    act = act.mean("time_bin") if "time_bin" in act.dims else act
    scored = model_predictivity(rec, act, "pls", SplitScheme(n_splits, 0.5, None, seed), n_draws, seed,
                                n_components=pls_components)
    areas = [str(a) for a in scored["area_name"].values]
    if area not in areas:
        raise AnalysisInputError(f"coordinate 'area': no unit in area {area!r} (areas {', '.join(areas)})")
    median = scored["predictivity_median"].isel(area=areas.index(area)).values
    names = [str(layer) for layer in scored["layer_name"].values]
    order = np.argsort(np.where(np.isfinite(median), -median, np.inf), kind="stable")
    chosen = [names[i] for i in order[: max(1, n_layers)]]
    return chosen, {n: float(v) for n, v in zip(names, median, strict=True)}


#: IT-preferred layers decoded when ``n_layers`` is 0: one for a model over time bins, three for a feed-forward
#: model (the layers its time mapping spreads over the bins)
AUTO_LAYERS = {"timed": 1, "feedforward": 3}
#: metric names read as a model's task accuracy, first present wins (``val_knn_accuracy``: a self-supervised
#: model's task metric, the cosine 1-nearest-neighbour accuracy of its embedding)
ACCURACY_METRICS = ("val_accuracy", "test_accuracy", "accuracy", "train_accuracy", "val_knn_accuracy")


def model_size(metadata: dict[str, Any]) -> dict[str, float]:
    """``n_parameters``, ``n_units`` and ``task_accuracy`` (the first of :data:`ACCURACY_METRICS` in its
    ``metrics``) from a model store's catalog metadata; NaN where it does not say."""
    metrics = metadata.get("metrics") or {}
    accuracy = next((metrics[k] for k in ACCURACY_METRICS if k in metrics), np.nan)
    return {"n_parameters": float(metadata.get("n_parameters", np.nan)),
            "n_units": float(metadata.get("n_units", np.nan)), "task_accuracy": float(accuracy)}


def ost_model_analysis(
    recording: xr.Dataset | xr.DataArray,
    activations: dict[str, xr.Dataset | xr.DataArray],
    labels: str = "category",
    behaviour: str = "behaviour_i1",
    area: str = "IT",
    n_components: int = 1000,
    n_splits: int = 10,
    n_layers: int = 0,
    pls_components: int = 25,
    n_draws: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
    sizes: dict[str, dict[str, Any]] | None = None,
    time_mapping: str = "uniform",
) -> xr.Dataset:
    """OSTs of the recording's ``area`` and of each model (``{name: activations over time_bin}``), their
    consistency with bootstrap error, and the size-vs-performance table (thesis §2.3.4).

    ``labels``: the stimulus coordinate holding the object each image shows (the classes of the
    decoder); ``behaviour``: the stimulus coordinate holding the behavioural I1 (each image's
    threshold, notes §2), or a number: one fixed I1 threshold for every image, for recordings
    without behaviour (not the thesis' definition; recorded in the result's attrs).
    Models are matched to the recording by ``stimulus_id`` and by time bin (a model must have the
    recording's bins: as many, starting at the same ``time_bin_start`` where both say —
    :func:`~goalstore.analyses.consistency.check_same_bins`; OSTs are in the recording's ms).
    ``sizes``: each model's catalog metadata (``n_parameters``, ``n_units``, ``metrics``).  A model
    without ``time_bin`` (feed-forward) is spread over the recording's bins by ``time_mapping``
    (``uniform`` or ``graded``, seeded by ``seed``) applied to its IT-preferred layers in the order of
    its ``layer`` coordinate.
    ``n_layers``: how many IT-preferred layers are decoded; 0 = :data:`AUTO_LAYERS` (one for a model over
    time bins, its best; three for a feed-forward model, so the time mapping has layers to spread).
    Pure: data in, labelled result out.
    """
    from goalstore.activations.time_mapping import MAPPINGS, map_time
    from goalstore.analyses.consistency import check_same_bins

    if time_mapping not in MAPPINGS[1:]:
        raise AnalysisInputError(f"time mapping {time_mapping!r}: unknown; expected uniform or graded")
    if not activations:
        raise AnalysisInputError("models: none given; the OST analysis needs at least one model")
    if n_boot < 1 or n_components < 1 or n_layers < 0:
        raise AnalysisInputError(f"bootstrap {n_boot}, components {n_components}, layers {n_layers}: "
                                 "expected at least 1 (layers: 0 = automatic)")
    neural = neural_features(recording, area)
    ids = np.asarray(neural["stimulus_id"].values).astype(str)
    fixed = _fixed_threshold(behaviour)
    for coord in (labels,) + (() if fixed is not None else (behaviour,)):
        if coord not in neural.coords or neural[coord].dims != ("stimulus",):
            raise AnalysisInputError(f"coordinate {coord!r}: not on the recording's stimuli"
                                     + ("; pass --behaviour with the stimulus coordinate holding the "
                                        "behavioural I1, or a fixed threshold" if coord == behaviour else ""))
    object_labels = np.asarray(neural[labels].values).astype(str)
    times = np.asarray(neural["time_bin_start"].values, dtype=float)
    ends = np.asarray(neural["time_bin_end"].values, dtype=float)
    kw = dict(n_components=n_components, n_splits=n_splits, seed=seed, classifier="svm")
    i1_neural = i1_over_time(neural.values, object_labels, **kw)
    if fixed is not None:
        threshold = np.full(len(ids), fixed)
    else:
        threshold = np.asarray(neural[behaviour].values, dtype=float)
    ost_neural = object_solution_times(i1_neural, threshold, times)

    names = list(activations)
    n_images, n_bins = i1_neural.shape
    i1_model = np.full((len(names), n_images, n_bins), np.nan)
    ost_model = np.full((len(names), n_images), np.nan)
    rho = np.full(len(names), np.nan)
    boot = np.full((len(names), n_boot), np.nan)
    solved = np.zeros(len(names), dtype=np.int64)
    chosen: dict[str, list[str]] = {}
    scores: dict[str, dict[str, float]] = {}
    for m, name in enumerate(names):
        from goalstore.analyses.responses import responses_of

        act = responses_of(activations[name], None)
        timed = "time_bin" in act.dims
        act = _by_stimulus(_with_time_bins(act, f"model {name!r}") if timed else act, ids,
                           f"the activations of model {name!r}")
        if timed and act.sizes["time_bin"] != n_bins:
            raise AnalysisInputError(f"dim 'time_bin': model {name!r} has {act.sizes['time_bin']} bins, the "
                                     f"recording {n_bins}; extract as many time steps as it has bins")
        if timed:
            try:
                check_same_bins(neural, act)
            except AnalysisInputError as exc:
                raise AnalysisInputError(f"model {name!r}: {exc}") from None
        if "layer" not in act.coords:
            raise AnalysisInputError(f"coordinate 'layer': missing on the units of model {name!r}")
        rec = recording if isinstance(recording, xr.DataArray) else responses_of(recording, None)
        kept = n_layers or AUTO_LAYERS["timed" if timed else "feedforward"]
        chosen[name], scores[name] = preferred_layers(rec, act, area, kept, pls_components, n_splits,
                                                      n_draws, seed)
        layer_of = np.asarray(act["layer"].values).astype(str)
        if timed:
            units = np.flatnonzero(np.isin(layer_of, chosen[name]))
            x = np.asarray(act.isel(unit=units).transpose("stimulus", "unit", "time_bin").values, np.float64)
        else:  # feed-forward: the chosen layers in network order, spread over the bins
            ordered = [layer for layer in dict.fromkeys(layer_of.tolist()) if layer in chosen[name]]
            values = np.asarray(act.transpose("stimulus", "unit").values, dtype=np.float64)
            x = map_time(time_mapping, [values[:, layer_of == layer] for layer in ordered], n_bins, seed)
        i1_model[m] = i1_over_time(x, object_labels, **kw)
        ost_model[m] = object_solution_times(i1_model[m], threshold, times)
        rho[m], boot[m], solved[m] = bootstrap_ost_consistency(ost_model[m], ost_neural, n_boot, seed)
    layers = list(dict.fromkeys(layer for s in scores.values() for layer in s))
    layer_score = np.array([[scores[n].get(layer, np.nan) for layer in layers] for n in names])
    size = [model_size((sizes or {}).get(n, {})) for n in names]
    with warnings.catch_warnings():  # a model with fewer than 3 images solved by both has no bootstrap
        warnings.simplefilter("ignore", RuntimeWarning)
        sem = np.nanstd(boot, axis=1)
        low, high = (np.nanpercentile(boot, q, axis=1) for q in (2.5, 97.5))

    def var(dims: tuple[str, ...], values: Any, description: str, units: str = "1") -> tuple:
        return dims, values, {"units": units, "description": description}

    import json

    return xr.Dataset(
        {
            "behaviour_i1": var(("image",), threshold, "the I1 each image's OST is the first time to reach "
                                + (f"(a fixed threshold {fixed}, not behaviour)" if fixed is not None
                                   else f"(behaviour, coordinate {behaviour!r})")),
            "i1_neural": var(("image", "time_bin"), i1_neural, f"normalised I1 of the {area} population"),
            "ost_neural": var(("image",), ost_neural, f"object solution time of the {area} population "
                              "(NaN: never reaches the behavioural I1)", "ms"),
            "i1_model": var(("model", "image", "time_bin"), i1_model, "normalised I1 of the model's "
                            "IT-preferred layers"),
            "ost_model": var(("model", "image"), ost_model, "object solution time of the model", "ms"),
            "ost_consistency": var(("model",), rho, "Spearman correlation of model and neural OSTs over "
                                   "the images both solve"),
            "ost_consistency_bootstrap": var(("model", "bootstrap"), boot, "OST consistency on images "
                                             "resampled with replacement"),
            "ost_consistency_sem": var(("model",), sem, "standard deviation of the bootstrap"),
            "ost_consistency_ci_low": var(("model",), low, "2.5th percentile of the bootstrap"),
            "ost_consistency_ci_high": var(("model",), high, "97.5th percentile of the bootstrap"),
            "n_images_solved_by_both": var(("model",), solved, "images with a model and a neural OST"),
            "n_parameters": var(("model",), np.array([s["n_parameters"] for s in size]),
                                "scalar parameters of the model (catalog metadata; NaN: unknown)"),
            "n_units": var(("model",), np.array([s["n_units"] for s in size]),
                           "units of the model's observed layers (catalog metadata; NaN: unknown)"),
            "task_accuracy": var(("model",), np.array([s["task_accuracy"] for s in size]),
                                 "the model's task accuracy (catalog metrics; NaN: unknown)"),
            "layer_predictivity": var(("model", "layer"), layer_score, f"median noise-corrected PLS "
                                      f"predictivity of {area} from each layer (time-averaged; NaN: no such "
                                      "layer)"),
        },
        coords={
            "image_id": ("image", ids),
            "object_label": ("image", object_labels),
            "time_bin_start": ("time_bin", times, {"units": "ms"}),
            "time_bin_end": ("time_bin", ends, {"units": "ms"}),
            "model_name": ("model", names),
            "layer_name": ("layer", layers),
            "bootstrap_id": ("bootstrap", np.arange(n_boot)),
        },
        attrs={"analysis": "object solution times", "area": area, "labels": labels, "behaviour": behaviour,
               "classifier": "linear SVM (libsvm, Platt-scaled pairwise probabilities) on PCA components",
               "n_components": int(n_components), "n_splits": int(n_splits), "n_layers": int(n_layers),
               "pls_components": int(pls_components), "n_draws": int(n_draws), "n_boot": int(n_boot),
               "seed": int(seed), "preferred_layers": json.dumps(chosen),
               "time_mapping": time_mapping,
               "time_mapped_models": [n for n in names if "time_bin" not in activations[n].dims]},
    )


def _fixed_threshold(behaviour: str) -> float | None:
    """The fixed I1 threshold ``behaviour`` spells (None: it names a coordinate)."""
    try:
        value = float(behaviour)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(value):
        raise AnalysisInputError(f"behaviour {behaviour!r}: a fixed threshold must be a finite number")
    return value


def summary(result: xr.Dataset) -> dict[str, Any]:
    """JSON-ready summary: the size-vs-performance table (one row per model) and the neural OSTs."""
    import json

    chosen = json.loads(result.attrs.get("preferred_layers", "{}"))
    rows = []
    for m, name in enumerate(str(n) for n in result["model_name"].values):
        row = {"model": name, "preferred_layers": chosen.get(name, [])}
        for key in ("n_parameters", "n_units", "task_accuracy", "ost_consistency", "ost_consistency_sem",
                    "ost_consistency_ci_low", "ost_consistency_ci_high", "n_images_solved_by_both"):
            row[key] = json_number(result[key].values[m])
        for key in ("n_parameters", "n_units", "n_images_solved_by_both"):
            row[key] = None if row[key] is None else int(row[key])
        row["models_solved"] = int(np.isfinite(result["ost_model"].values[m]).sum())
        rows.append(row)
    ost = result["ost_neural"].values
    return {
        "recording": result.attrs.get("recording", ""),
        "area": result.attrs.get("area"),
        "behaviour": result.attrs.get("behaviour"),
        "n_images": int(result.sizes["image"]),
        "time_bins_ms": result["time_bin_start"].values.tolist(),
        "neural": {"images_solved": int(np.isfinite(ost).sum()),
                   "median_ost_ms": json_number(np.nanmedian(ost)) if np.isfinite(ost).any() else None},
        "models": rows,
        "config": {k: result.attrs.get(k) for k in ("labels", "n_components", "n_splits", "n_layers",
                                                    "pls_components", "n_draws", "n_boot", "seed", "stimuli")},
    }
