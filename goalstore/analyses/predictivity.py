"""Model-vs-brain leaderboard: several models' noise-corrected predictivity against one recording,
their best layers, and how close each comes to the inter-animal ceiling (notes §1).

For model ``m``, layer ``l``, area ``a`` and time bin ``t``, with ``p_m(l, u, t)`` the noise-corrected
predictivity of recorded unit ``u`` from the layer's features (thesis eq. 3.4 with the model as the
source, :func:`~goalstore.analyses.consistency.model_predictivity`) and ``c(u, t)`` the unit's
noise-corrected inter-animal consistency under the *same* mapping, stimulus splits and split-half
draws (:func:`~goalstore.analyses.consistency.inter_animal_consistency`)::

    P_m(l, a, t) = median_{u ∈ a} p_m(l, u, t)                     (predictivity_median)
    l*_m(a)      = argmax_l  mean_t P_m(l, a, t)                     (best layer: notes §1, "a model's
                                                                      score for an area is its best layer")
    C(a, t)      = median_{u ∈ a} c(u, t)                            (ceiling)
    F_m(a, t)    = P_m(l*_m(a), a, t) / C(a, t)                      (fraction_of_ceiling)

The inter-animal consistency is the ceiling because it measures how well one animal's responses
predict another's with the same mapping class: a model that is "as good as another animal" reaches
``F = 1`` (thesis §3.6.3).  ``F`` is undefined (NaN) where the ceiling is not positive.  Models are
ranked per area by ``mean_t F_m(a, t)`` (rank 1 = best; a model without a defined fraction ranks
after all others, ties in model order).  The best layer is chosen on the same data it is scored on,
so ``P_m(l*)`` is mildly optimistic for models with many layers; the ceiling has no such choice.

The leaderboard only orchestrates: every score comes from the two functions above; layers are the
union of the models' layer names (NaN where a model lacks a layer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from goalstore.analyses.consistency import inter_animal_consistency, model_predictivity
from goalstore.analyses.consistency_summary import json_number
from goalstore.analyses.stimulus_splits import SplitScheme
from goalstore.errors import AnalysisInputError

__all__ = ["MODEL_ATTRS", "predictivity_leaderboard", "summary"]

#: attrs read from each activations dataset to record which store / extraction / weights were scored
#: (result attr name → attr names looked up on the activations, first present wins)
MODEL_ATTRS: dict[str, tuple[str, ...]] = {
    "activation_stores": ("activation_store", "store_name"),
    "extraction_keys": ("extraction_key", "key"),
    "weights_hashes": ("weights_hash",),
}


def _model_attr(ds: xr.Dataset | xr.DataArray, names: tuple[str, ...]) -> str:
    for name in names:
        if ds.attrs.get(name) not in (None, ""):
            return str(ds.attrs[name])
    return ""


def _var(dims: tuple[str, ...], values: np.ndarray, description: str, units: str = "1") -> tuple:
    return dims, values, {"units": units, "description": description}


def _ranks(score: np.ndarray) -> np.ndarray:
    """Rank (1 = highest) of each model (axis 0) per area (axis 1); NaN scores rank last, ties in order."""
    key = np.where(np.isfinite(score), -score, np.inf)
    order = np.argsort(key, axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, score.shape[0] + 1)[:, None], axis=0)
    return ranks


def predictivity_leaderboard(
    recording: xr.Dataset | xr.DataArray,
    activations: Mapping[str, xr.Dataset | xr.DataArray],
    mapping: str | Any = "ridge",
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: str = "per_bin",
    pooled: bool = False,
    variable: str | None = None,
    progress: bool = False,
    executor: Any = None,
    **mapping_params: Any,
) -> xr.Dataset:
    """Rank models (``{model name: activations}``) by noise-corrected predictivity of ``recording``.

    Returns one labelled dataset (dims ``model`` × ``layer`` × ``area`` [× ``time_bin``]) with
    ``predictivity_median`` / ``_sem`` / ``_n_units`` per layer, ``best_layer_index`` /
    ``best_layer_predictivity`` / ``best_layer_sem`` per model and area, the inter-animal
    ``ceiling`` / ``ceiling_sem`` per area, ``fraction_of_ceiling`` and ``rank`` (see the module
    docstring for the definitions).  The ceiling and every model use the same mapping, stimulus
    splits (``scheme``), split-half draws (``n_draws``, ``seed``) and ``temporal`` mode; ``pooled``
    chooses the ceiling's source (all other animals pooled, or each other animal in turn).
    ``executor`` (a ``dask.distributed.Client``; ``None``: in process) spreads the ceiling's and each
    model's work (draws × mapping problems or layers) over its workers.  Pure: data in, labelled
    result out.
    """
    if not activations:
        raise AnalysisInputError("models: none given; the leaderboard needs at least one model's activations")
    scheme = scheme or SplitScheme(seed=seed)
    ceiling = inter_animal_consistency(recording, mapping, pooled, scheme, n_draws, seed, temporal, variable,
                                       progress, executor, **mapping_params)
    names = list(activations)
    per_model = {name: model_predictivity(recording, act, mapping, scheme, n_draws, seed, temporal, variable,
                                          progress=progress, executor=executor, **mapping_params)
                 for name, act in activations.items()}
    areas = [str(a) for a in ceiling["area_name"].values]
    layers = list(dict.fromkeys(str(layer) for ds in per_model.values() for layer in ds["layer_name"].values))
    has_bins = "time_bin" in ceiling["consistency_median"].dims
    bins = (ceiling.sizes["time_bin"],) if has_bins else ()
    shape = (len(names), len(layers), len(areas), *bins)
    median, sem, n_units = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape)
    best_index = np.zeros((len(names), len(areas)), dtype=np.int64)
    best_median = np.full((len(names), len(areas), *bins), np.nan)
    best_sem = np.full_like(best_median, np.nan)
    best_names: dict[str, dict[str, str]] = {}
    tail = ("time_bin",) if has_bins else ()
    for m, name in enumerate(names):
        ds = per_model[name]
        if [str(a) for a in ds["area_name"].values] != areas:
            raise AnalysisInputError(f"model {name!r}: scored areas {list(ds['area_name'].values)} differ from "
                                     f"the recording's {areas}")
        own = [layers.index(str(layer)) for layer in ds["layer_name"].values]
        order = ("layer", "area", *tail)
        median[m, own] = ds["predictivity_median"].transpose(*order).values
        sem[m, own] = ds["predictivity_sem"].transpose(*order).values
        n_units[m, own] = ds["predictivity_n_units"].transpose(*order).values
        best = np.atleast_1d(ds["best_layer_index"].transpose("area").values).astype(int)
        best_index[m] = [own[b] for b in best]
        best_median[m] = ds["best_layer_predictivity"].transpose("area", *tail).values
        best_sem[m] = np.stack([ds["predictivity_sem"].isel(layer=int(b), area=a).values
                                for a, b in enumerate(best)])
        best_names[name] = {area: layers[best_index[m, a]] for a, area in enumerate(areas)}
    ceil = ceiling["consistency_median"].transpose("area", *tail).values
    ceil_sem = ceiling["consistency_sem"].transpose("area", *tail).values
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(ceil[None] > 0, best_median / np.where(ceil[None] > 0, ceil[None], 1.0), np.nan)
    score = fraction.reshape(len(names), len(areas), -1)
    finite = np.isfinite(score)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_fraction = np.where(finite.any(-1), np.where(finite, score, 0).sum(-1) / finite.sum(-1), np.nan)
    rank = _ranks(mean_fraction)

    coords: dict[str, Any] = {"model_name": ("model", names), "layer_name": ("layer", layers),
                              "area_name": ("area", areas)}
    for c in ("time_bin_start", "time_bin_end"):
        if has_bins and c in ceiling.coords:
            coords[c] = ("time_bin", ceiling[c].values, ceiling[c].attrs)
    d_layer, d_area = ("model", "layer", "area", *tail), ("model", "area", *tail)
    result = xr.Dataset(
        {
            "predictivity_median": _var(d_layer, median, "median over an area's units of the noise-corrected "
                                        "predictivity from a model layer (NaN: the model lacks the layer)"),
            "predictivity_sem": _var(d_layer, sem, "s.e.m. over units of the predictivity"),
            "predictivity_n_units": _var(d_layer, n_units, "units with a finite predictivity"),
            "best_layer_index": _var(("model", "area"), best_index,
                                     "index along layer of the model's best layer (highest median "
                                     "predictivity, averaged over time bins)"),
            "best_layer_predictivity": _var(d_area, best_median, "median predictivity of the best layer"),
            "best_layer_sem": _var(d_area, best_sem, "s.e.m. over units of the best layer's predictivity"),
            "ceiling": _var(("area", *tail), ceil, "inter-animal ceiling: median over units of the "
                            "noise-corrected inter-animal consistency (same mapping, splits and draws)"),
            "ceiling_sem": _var(("area", *tail), ceil_sem, "s.e.m. over units of the inter-animal consistency"),
            "fraction_of_ceiling": _var(d_area, fraction, "best-layer median predictivity / ceiling "
                                        "(NaN where the ceiling is not positive)"),
            "mean_fraction_of_ceiling": _var(("model", "area"), mean_fraction,
                                             "fraction of the ceiling averaged over time bins (ranked on)"),
            "rank": _var(("model", "area"), rank.astype(np.int64),
                         "rank of the model in the area by mean fraction of the ceiling (1 = best)"),
        },
        coords=coords,
    )
    first = per_model[names[0]].attrs
    result.attrs.update({k: first[k] for k in ("mapping", "mapping_params", "split_scheme", "n_draws", "seed",
                                               "temporal", "repeated_trials", "goalstore_version")
                         if k in first})
    result.attrs.update({
        "analysis": "model predictivity leaderboard",
        "pooled": int(bool(pooled)),
        "models": names,
        **{key: [_model_attr(activations[n], look) for n in names] for key, look in MODEL_ATTRS.items()},
        "best_layers": json.dumps(best_names),
        "ceiling_definition": "median over an area's units of the noise-corrected inter-animal consistency; "
                              "fraction_of_ceiling = best-layer median predictivity / ceiling",
    })
    return result


def _mean(values: Any) -> float | None:
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None


def _listify(values: Any) -> list[float | None]:
    return [json_number(v) for v in np.asarray(values, dtype=float).ravel()]


def summary(result: xr.Dataset) -> dict[str, Any]:
    """JSON-ready leaderboard: per area the ceiling and the models in rank order, each with its best
    layer, the best layer's predictivity (mean over time bins of the median over units, and per bin),
    its s.e.m., the fraction of the ceiling and the median predictivity of every layer it has."""
    has_bins = "time_bin" in result.dims
    models = [str(m) for m in result["model_name"].values]
    layers = [str(layer) for layer in result["layer_name"].values]
    out: dict[str, Any] = {
        "recording": result.attrs.get("recording", ""),
        "models": models,
        "time_bins_ms": result["time_bin_start"].values.tolist() if has_bins else None,
        "config": {k: result.attrs.get(k) for k in ("mapping", "temporal", "pooled", "n_draws", "seed",
                                                    "split_scheme", "stimuli")},
        "areas": {},
    }
    for a, area in enumerate(str(x) for x in result["area_name"].values):
        rows = []
        for m, model in enumerate(models):
            sel = dict(model=m, area=a)
            best = int(result["best_layer_index"].isel(**sel))
            per_layer = result["predictivity_median"].isel(**sel)
            rows.append({
                "rank": int(result["rank"].isel(**sel)),
                "model": model,
                "best_layer": layers[best],
                "predictivity": _mean(result["best_layer_predictivity"].isel(**sel).values),
                "sem": _mean(result["best_layer_sem"].isel(**sel).values),
                "fraction_of_ceiling": _mean(result["mean_fraction_of_ceiling"].isel(**sel).values),
                "per_time_bin": {
                    "predictivity": _listify(result["best_layer_predictivity"].isel(**sel).values),
                    "fraction_of_ceiling": _listify(result["fraction_of_ceiling"].isel(**sel).values),
                } if has_bins else None,
                "layers": {layer: _mean(per_layer.isel(layer=k).values) for k, layer in enumerate(layers)
                           if np.isfinite(per_layer.isel(layer=k).values).any()},
            })
        out["areas"][area] = {
            "ceiling": {"median": _mean(result["ceiling"].isel(area=a).values),
                        "sem": _mean(result["ceiling_sem"].isel(area=a).values)},
            "ranking": sorted(rows, key=lambda r: r["rank"]),
        }
    return out
