"""Transfer read-outs (thesis §3.4.3): how well each layer's features linearly encode the variables a
stimulus was made with — its category, pose, position and size — on held-out images.

For layer ``l`` with features ``X_l`` (stimulus × unit; time-averaged, or one read-out per time bin)
and stimulus variable ``y``, over seeded train/test splits ``s`` of the stimuli::

    Z = PCA_K(standardise(X_l))            both fitted on the training stimuli of split s only
    category  (labels):      ŷ = argmax softmax(W Z + b)        multinomial logistic regression, C = 1
                             score = mean_test [ŷ = y]           accuracy; chance = 1 / n_categories
    linear    (numbers):     ŷ = Z β + b                        ridge, α per target by leave-one-out
                             score = Corr(ŷ, y) over test        Pearson r; chance = 0
    circular  (angles):      (ĉ, ŝ) = ridge of (cos θ, sin θ);  θ̂ = atan2(ŝ, ĉ)
                             score = ρ_c(θ̂, θ) over test        circular correlation; chance = 0

    score(l, y) = mean_s score_s(l, y),   s.e.m. = sd_s / sqrt(n_splits)

**Angles.**  A coordinate whose ``units`` attr is ``deg`` or ``rad`` (the embedded set's ``rotation``)
is circular: 350° and 10° are 20° apart, not 340°, so regressing the raw number would punish a
decoder for the wrap-around.  It is decoded as the point ``(cos θ, sin θ)`` on the unit circle (two
ridge outputs) and scored by the Jammalamadaka–SenGupta circular correlation (Jammalamadaka &
SenGupta 2001, eq. 8.2.2) between decoded and true angles::

    ρ_c = Σ sin(θ̂ᵢ − θ̂̄) sin(θᵢ − θ̄) / sqrt( Σ sin²(θ̂ᵢ − θ̂̄) · Σ sin²(θᵢ − θ̄) )

with ``θ̄`` the circular mean; like Pearson's r it is 0 for unrelated and 1 for identical angles, and
it does not change when an angle is written as 350° or −10°.  (A shape with rotational symmetry
has its pose defined only modulo that symmetry; the score then measures the decodable part.)

**Splits** (thesis-like default): held-out *images*, ``test_fraction`` = 25 % of each category
(notes §1: primate 75/25 splits within object category), ``n_splits`` seeded splits from
:func:`~goalstore.analyses.stimulus_splits.stimulus_splits`; test images of a split may show objects
also seen (in other views) in training.  The s.e.m. over splits is the thesis' error bar; splits
share stimuli, so it understates the uncertainty of a new stimulus set.

**Estimators**: scikit-learn's ``StandardScaler`` → optional ``PCA`` (``n_components`` = K,
capped by training stimuli − 1 and units; for wide layers, to keep the fits fast) → one
``RidgeCV`` for every continuous output at once (``alpha_per_target``, alphas ``DEFAULT_ALPHAS``
chosen by efficient leave-one-out on the training stimuli) and one ``LogisticRegression`` (lbfgs,
multinomial, ``C`` = 1 on standardised features) per categorical target.  Every random choice
(splits, randomized PCA) takes the seed.  Pure: arrays in, labelled result out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from goalstore.analyses.consistency_summary import json_number
from goalstore.analyses.reliability import pearson
from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits
from goalstore.errors import AnalysisInputError

__all__ = ["DEFAULT_ALPHAS", "DEFAULT_TARGETS", "TEMPORAL_MODES", "ReadoutTarget", "aligned_stimuli",
           "circular_correlation", "decode_features", "layer_order", "readout_targets", "summary",
           "transfer_readouts"]

#: the embedded stimulus set's category, pose, position and size (thesis §3.4.3)
DEFAULT_TARGETS = ("category", "rotation", "position_x", "position_y", "size")
#: ridge penalties searched by leave-one-out on the training stimuli (standardised features)
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-2, 6, 9))
#: inverse L2 penalty of the logistic regression (scikit-learn's default)
DEFAULT_C = 1.0
#: ``mean``: one read-out of the time-averaged features; ``per_bin``: one per time bin
TEMPORAL_MODES = ("mean", "per_bin")
#: the period of a circular coordinate by its ``units`` attr
ANGLE_PERIODS = {"deg": 360.0, "degree": 360.0, "degrees": 360.0, "rad": 2 * np.pi, "radian": 2 * np.pi}
METRICS = {"category": "accuracy", "linear": "pearson_r", "circular": "circular_r"}


@dataclass(frozen=True)
class ReadoutTarget:
    """One stimulus variable to decode: ``kind`` ``category`` (``values``: class codes into ``classes``),
    ``linear`` (numbers) or ``circular`` (``values`` in radians)."""

    name: str
    kind: str
    values: np.ndarray
    classes: tuple[str, ...] = ()

    @property
    def metric(self) -> str:
        return METRICS[self.kind]

    @property
    def chance(self) -> float:
        """Accuracy of guessing (1 / number of classes); 0 for a correlation."""
        return 1.0 / len(self.classes) if self.kind == "category" else 0.0

    def columns(self) -> np.ndarray:
        """The ridge outputs (stimulus × 1 or 2): the value, or ``(cos θ, sin θ)`` of an angle."""
        if self.kind == "circular":
            return np.stack([np.cos(self.values), np.sin(self.values)], axis=1)
        return self.values[:, None].astype(float)


def readout_targets(stimuli: xr.Dataset, names: Sequence[str], where: str = "stimuli") -> list[ReadoutTarget]:
    """The targets ``names`` from the stimulus coordinates of ``stimuli`` (in its stimulus order); refuses
    a coordinate that is missing, not along ``stimulus``, has missing values, or does not vary (nothing
    to decode).  Strings and booleans are categories; numbers with ``units`` deg/rad are angles."""
    out = []
    for name in names:
        if name not in stimuli.coords or stimuli[name].dims != ("stimulus",):
            have = sorted(str(k) for k, c in stimuli.coords.items()
                          if c.dims == ("stimulus",) and k != "stimulus_id")
            raise AnalysisInputError(f"{where}: no stimulus coordinate {name!r} to decode (have "
                                     f"{', '.join(have) or 'none'})")
        coord = stimuli[name]
        values = np.asarray(coord.values)
        if values.dtype.kind in "OUSb":
            if pd.isna(values).any():
                raise AnalysisInputError(f"{where}: coordinate {name!r} has missing values")
            classes, codes = np.unique(values.astype(str), return_inverse=True)
            if len(classes) < 2:
                raise AnalysisInputError(f"{where}: coordinate {name!r} has a single value; nothing to decode")
            out.append(ReadoutTarget(name, "category", codes, tuple(classes.tolist())))
            continue
        if values.dtype.kind not in "iuf":
            raise AnalysisInputError(f"{where}: coordinate {name!r} is {values.dtype}; expected labels or "
                                     "numbers")
        values = values.astype(float)
        if not np.isfinite(values).all():
            raise AnalysisInputError(f"{where}: coordinate {name!r} has missing or infinite values")
        if np.ptp(values) == 0:
            raise AnalysisInputError(f"{where}: coordinate {name!r} is constant; nothing to decode")
        period = ANGLE_PERIODS.get(str(coord.attrs.get("units", "")).strip().lower())
        if period is not None:
            out.append(ReadoutTarget(name, "circular", values * (2 * np.pi / period)))
        else:
            out.append(ReadoutTarget(name, "linear", values))
    return out


def circular_correlation(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Jammalamadaka–SenGupta circular correlation of angles ``a`` and ``b`` (radians) along ``axis``
    (see the module docstring); NaN where either set of angles has no spread about its mean."""
    def centred(x: np.ndarray) -> np.ndarray:
        mean = np.arctan2(np.sin(x).sum(axis, keepdims=True), np.cos(x).sum(axis, keepdims=True))
        return np.sin(x - mean)

    sa, sb = centred(np.asarray(a, float)), centred(np.asarray(b, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sa * sb).sum(axis) / np.sqrt((sa * sa).sum(axis) * (sb * sb).sum(axis))


def _feature_map(n_components: int, n_train: int, n_units: int, seed: int) -> Any:
    """StandardScaler → PCA(min(K, n_train − 1, units)) (no PCA for K = 0), unfitted."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[Any] = [StandardScaler()]
    if n_components:
        steps.append(PCA(min(n_components, n_train - 1, n_units), random_state=seed))
    return make_pipeline(*steps)


def decode_features(
    features: np.ndarray,
    targets: Sequence[ReadoutTarget],
    train: np.ndarray,
    test: np.ndarray,
    n_components: int = 0,
    C: float = DEFAULT_C,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Held-out read-out scores of every target from ``features`` (stimulus × unit) for each split
    (``train``/``test``: split × stimulus indices, equal sizes per split).

    Returns ``(scores, alphas, n_components)``: scores and the ridge penalty chosen (geometric mean
    of a circular target's two outputs; NaN for a category) as split × target arrays, and the feature
    dimension the decoders saw.  Every split's predictions are stacked and scored in one pass."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, RidgeCV

    features = np.asarray(features, dtype=np.float64)
    n_splits, n_test = test.shape
    continuous = [t for t in targets if t.kind != "category"]
    owner = np.concatenate([[i] * t.columns().shape[1] for i, t in enumerate(continuous)]).astype(int) \
        if continuous else np.zeros(0, int)
    Y = (np.concatenate([t.columns() for t in continuous], axis=1) if continuous
         else np.zeros((len(features), 0)))
    predicted = np.empty((n_splits, n_test, Y.shape[1]))
    chosen = np.full((n_splits, len(targets)), np.nan)
    labels = {t.name: np.empty((n_splits, n_test), dtype=int) for t in targets if t.kind == "category"}
    width = features.shape[1]
    for s in range(n_splits):
        tr, te = train[s], test[s]
        embed = _feature_map(n_components, len(tr), features.shape[1], seed).fit(features[tr])
        z_train, z_test = embed.transform(features[tr]), embed.transform(features[te])
        width = z_train.shape[1]
        if continuous:
            ridge = RidgeCV(alphas=list(alphas), alpha_per_target=True).fit(z_train, Y[tr])
            predicted[s] = ridge.predict(z_test).reshape(n_test, -1)
            alpha = np.broadcast_to(np.asarray(ridge.alpha_, float), (Y.shape[1],))
            per_target = np.exp([np.log(alpha[owner == i]).mean() for i in range(len(continuous))])
            chosen[s, [targets.index(t) for t in continuous]] = per_target
        for t in targets:
            if t.kind == "category":
                with warnings.catch_warnings():  # a separable training set stops at max_iter: still a fit
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    clf = LogisticRegression(C=C, max_iter=500).fit(z_train, t.values[tr])
                labels[t.name][s] = clf.predict(z_test)
    scores = np.empty((n_splits, len(targets)))
    column = 0
    for i, t in enumerate(targets):
        truth = t.values[test]  # split × test stimuli
        if t.kind == "category":
            scores[:, i] = (labels[t.name] == truth).mean(axis=1)
        elif t.kind == "linear":
            scores[:, i] = pearson(predicted[..., column], truth, axis=1)
            column += 1
        else:
            angle = np.arctan2(predicted[..., column + 1], predicted[..., column])
            scores[:, i] = circular_correlation(angle, truth, axis=1)
            column += 2
    return scores, chosen, width


def layer_order(activations: xr.Dataset) -> list[str]:
    """The layers of an activations store in unit order (the extractor's: input to output)."""
    if "layer" not in activations.coords or activations["layer"].dims != ("unit",):
        raise AnalysisInputError("activations: coordinate 'layer' missing on its units")
    return list(dict.fromkeys(np.asarray(activations["layer"].values).astype(str).tolist()))


def aligned_stimuli(activations: xr.Dataset, stimuli: xr.Dataset | None, where: str = "stimuli") -> xr.Dataset:
    """``stimuli``'s stimulus coordinates in the activations' stimulus order (the activations' own
    coordinates when ``stimuli`` is None)."""
    if stimuli is None:
        return activations
    ids = np.asarray(activations["stimulus_id"].values).astype(str)
    index = pd.Index(np.asarray(stimuli["stimulus_id"].values).astype(str)).get_indexer(ids)
    if (index < 0).any():
        raise AnalysisInputError(f"{where}: {(index < 0).sum()} of the activations' {ids.size} stimulus ids "
                                 f"are missing (first: {', '.join(ids[index < 0][:5])})")
    coords = {k: c for k, c in stimuli.coords.items() if c.dims == ("stimulus",)}
    return xr.Dataset(coords=coords).isel(stimulus=index)


def transfer_readouts(
    activations: xr.Dataset,
    stimuli: xr.Dataset | None = None,
    targets: Sequence[str] = DEFAULT_TARGETS,
    layers: Sequence[str] | None = None,
    n_splits: int = 10,
    test_fraction: float = 0.25,
    stratify: str | None = "category",
    seed: int = 0,
    n_components: int = 0,
    temporal: str = "mean",
    C: float = DEFAULT_C,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> xr.Dataset:
    """Cross-validated linear read-outs of ``targets`` (stimulus coordinates of ``stimuli``, matched by
    ``stimulus_id``; None: the activations' own) from each of ``layers`` (default: all, in unit order)
    of ``activations`` (variable ``activation``: stimulus × unit [× time_bin], coordinate ``layer``).

    Returns a dataset with dims ``layer`` × ``target`` × ``split`` (× ``time_bin`` with ``temporal =
    "per_bin"``, refused for activations without ``time_bin``; ``"mean"`` averages the features over
    time bins first): ``score`` (mean over splits),
    ``score_sem``, ``score_split``, ``ridge_alpha`` (per split), ``chance`` per target, and per layer
    ``n_units`` and ``n_features`` (after PCA).  Target coordinates ``target_kind`` (category, linear,
    circular) and ``target_metric`` (accuracy, pearson_r, circular_r) say how each was scored (module
    docstring for the equations)."""
    if temporal not in TEMPORAL_MODES:
        raise AnalysisInputError(f"temporal {temporal!r}: unknown; expected {' or '.join(TEMPORAL_MODES)}")
    if n_components < 0:
        raise AnalysisInputError(f"n_components {n_components}: expected 0 (no PCA) or more")
    if not targets:
        raise AnalysisInputError("targets: none given")
    if len(set(targets)) != len(targets):
        twice = sorted({t for t in targets if list(targets).count(t) > 1})
        raise AnalysisInputError(f"targets: {', '.join(twice)} given more than once")
    if "activation" not in activations.data_vars:
        raise AnalysisInputError("activations: no variable 'activation'")
    act = activations["activation"]
    extra = [d for d in act.dims if d not in ("stimulus", "unit", "time_bin")]
    if extra or "stimulus" not in act.dims or "unit" not in act.dims:
        raise AnalysisInputError(f"activations: variable 'activation' has dims {act.dims}; expected (stimulus, "
                                 "unit[, time_bin])")
    have = layer_order(activations)
    chosen = have if not layers else [str(layer) for layer in layers]
    unknown = [layer for layer in chosen if layer not in have]
    if unknown:
        raise AnalysisInputError(f"layers: {', '.join(unknown)} not in the activations "
                                 f"(have {', '.join(have)})")
    chosen = [layer for layer in have if layer in chosen]  # input-to-output order
    coords = aligned_stimuli(activations, stimuli)
    parsed = readout_targets(coords, list(targets))
    labels = None
    if stratify:
        if stratify not in coords.coords or coords[stratify].dims != ("stimulus",):
            raise AnalysisInputError(f"stratify: no stimulus coordinate {stratify!r}")
        labels = np.asarray(coords[stratify].values).astype(str)
    if not 0.0 < test_fraction < 1.0:
        raise AnalysisInputError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    scheme = SplitScheme(n_splits, 1.0 - test_fraction, stratify or None, seed)
    train, test = stimulus_splits(act.sizes["stimulus"], scheme, labels)

    if temporal == "per_bin" and "time_bin" not in act.dims:
        raise AnalysisInputError("temporal per_bin: the activations have no dim 'time_bin' (one read-out of "
                                 "features that fire once); use mean")
    per_bin = temporal == "per_bin"
    n_bins = act.sizes["time_bin"] if per_bin else 1
    layer_values = np.asarray(activations["layer"].values).astype(str)
    shape = (len(chosen), len(parsed), n_splits, n_bins)
    scores, alpha = np.full(shape, np.nan), np.full(shape, np.nan)
    n_units, n_features = np.zeros(len(chosen), dtype=np.int64), np.zeros(len(chosen), dtype=np.int64)
    for li, layer in enumerate(chosen):
        units = np.flatnonzero(layer_values == layer)
        values = act.isel(unit=units)
        if "time_bin" in act.dims:
            values = values.transpose("stimulus", "unit", "time_bin")
            data = values.values if per_bin else values.mean("time_bin").values[..., None]
        else:
            data = values.transpose("stimulus", "unit").values[..., None]
        n_units[li] = len(units)
        for b in range(n_bins):
            s, a, n_features[li] = decode_features(data[..., b], parsed, train, test, n_components, C, alphas,
                                                   seed)
            scores[li, :, :, b], alpha[li, :, :, b] = s.T, a.T

    if not per_bin:
        scores, alpha = scores[..., 0], alpha[..., 0]
    tail = ("time_bin",) if per_bin else ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN splits (a constant test set) stay NaN
        mean = np.nanmean(scores, axis=2)
        finite = np.isfinite(scores).sum(axis=2)
        sem = np.nanstd(scores, axis=2, ddof=1) / np.sqrt(finite)
    sem = np.where(finite > 1, sem, np.nan)
    coords_out: dict[str, Any] = {
        "layer_name": ("layer", chosen),
        "target_name": ("target", [t.name for t in parsed]),
        "target_kind": ("target", [t.kind for t in parsed]),
        "target_metric": ("target", [t.metric for t in parsed]),
        "split_index": ("split", np.arange(n_splits)),
    }
    if per_bin:
        for c in ("time_bin_start", "time_bin_end"):
            if c in activations.coords:
                coords_out[c] = ("time_bin", activations[c].values, activations[c].attrs)
    result = xr.Dataset(
        {
            "score": (("layer", "target", *tail), mean,
                      {"units": "1", "description": "held-out read-out score, mean over splits: accuracy "
                       "(category), Pearson r (linear), circular correlation (circular)"}),
            "score_sem": (("layer", "target", *tail), sem, {"units": "1", "description": "s.e.m. over splits"}),
            "score_split": (("layer", "target", "split", *tail), scores,
                            {"units": "1", "description": "held-out read-out score of each split"}),
            "ridge_alpha": (("layer", "target", "split", *tail), alpha,
                            {"units": "1", "description": "ridge penalty chosen by leave-one-out on the "
                             "training stimuli (circular: geometric mean of cos/sin; NaN for a category)"}),
            "chance": (("target",), np.array([t.chance for t in parsed]),
                       {"units": "1", "description": "score of guessing: 1 / categories for accuracy, 0 for "
                        "a correlation"}),
            "n_units": (("layer",), n_units, {"units": "1", "description": "units of the layer"}),
            "n_features": (("layer",), n_features,
                           {"units": "1", "description": "features the decoders saw (after PCA)"}),
        },
        coords=coords_out,
    )
    result.attrs.update({
        "analysis": "transfer read-outs",
        "split_scheme": f"{n_splits} seeded splits, {test_fraction:g} of the stimuli held out"
                        + (f" within each {stratify}" if stratify else ""),
        "n_splits": int(n_splits), "test_fraction": float(test_fraction), "stratify": stratify or "",
        "seed": int(seed), "n_components": int(n_components), "temporal": temporal,
        "logistic_C": float(C), "ridge_alphas": [float(a) for a in alphas],
        "n_stimuli": int(act.sizes["stimulus"]),
        "categories": [",".join(t.classes) for t in parsed if t.kind == "category"],
    })
    return result


def summary(result: xr.Dataset) -> dict[str, Any]:
    """JSON-ready read-outs: per target its kind, metric, chance, the score ± s.e.m. of every layer
    (averaged over time bins where there are several; ``per_bin`` adds the values per bin) and the
    best layer."""
    layers = [str(v) for v in result["layer_name"].values]
    per_bin = "time_bin" in result["score"].dims
    score = result["score"].mean("time_bin") if per_bin else result["score"]
    sem = result["score_sem"].mean("time_bin") if per_bin else result["score_sem"]
    targets = {}
    for i, name in enumerate(str(v) for v in result["target_name"].values):
        values = score.isel(target=i).values
        best = int(np.nanargmax(values)) if np.isfinite(values).any() else None
        rows = []
        for li, layer in enumerate(layers):
            row: dict[str, Any] = {"layer": layer, "score": json_number(values[li]),
                                   "sem": json_number(sem.isel(target=i).values[li])}
            if per_bin:
                row["score_per_bin"] = [json_number(v) for v in result["score"].isel(target=i, layer=li).values]
            rows.append(row)
        targets[name] = {"kind": str(result["target_kind"].values[i]),
                         "metric": str(result["target_metric"].values[i]),
                         "chance": json_number(result["chance"].values[i]),
                         "best_layer": None if best is None else layers[best], "layers": rows}
    return {"layers": layers, "targets": targets,
            "time_bins_ms": [float(v) for v in result["time_bin_start"].values] if per_bin
            and "time_bin_start" in result.coords else [],
            "config": {k: result.attrs[k] for k in ("n_splits", "test_fraction", "stratify", "seed",
                                                    "n_components", "temporal", "n_stimuli",
                                                    "model", "activation_store", "stimuli")
                       if k in result.attrs}}
