"""Inter-animal consistency and noise-corrected model predictivity (notes §1; thesis eq. 3.4).

For a target unit of animal B and a source ``S`` (another animal A, the pooled other
animals, or a model layer), with trials split into halves 1 and 2 and all correlations
taken across *test* stimuli::

                    Corr( M(S¹; B¹), B² )
    ───────────────────────────────────────────────────────────
    sqrt( SB(Corr( M(S¹; B¹), M(S²; B²) )) · SB(Corr( B¹, B² )) )

``M`` is fitted on training stimuli.  A model is deterministic, so ``S¹ = S² = X``.
With no repeated trials both denominator terms are 1 and the score is the plain
test-set correlation ``Corr(M(S; B), B)`` (thesis eqs. 4.3–4.4).  The score is averaged
over split-half draws, stimulus splits and source animals, per target unit; a draw in
which either reliability term is not positive (an unreliable map or target) is left out
of the mean, and a unit with no valid draw gets NaN.

Split-half draws, stimulus splits and (per-bin) time bins are batch axes of one
computation; draws are processed in chunks of bounded memory with a progress bar.
Temporal data are mapped either per time bin (``temporal="per_bin"``: a weight set per
bin) or temporally fixed (``"fixed"``: one weight set for all bins, the bins of the
training stimuli stacked as samples); results keep the ``time_bin`` dim.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import xarray as xr

from goalstore.analyses.mappings import fit_predict, make_mapping, mapping_name
from goalstore.analyses.reliability import check_finite, pearson, spearman_brown, split_half_weights
from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits
from goalstore.errors import AnalysisInputError

TEMPORAL_MODES = ("per_bin", "fixed")
_CHUNK_BYTES = 256 * 2**20


# ------------------------------------------------------------------ array core
def _design(a: np.ndarray, idx: np.ndarray, temporal: str) -> np.ndarray:
    """Rows of ``a`` (D × stimulus × unit × T) for the stimulus indices ``idx`` (S × n), laid out
    as (D × S × T' × samples × unit): per bin T' = T; fixed T' = 1 and samples = n·T."""
    sel = a[:, idx]  # D × S × n × unit × T
    if temporal == "per_bin":
        return sel.transpose(0, 1, 4, 2, 3)
    d, s, n, u, t = sel.shape
    return sel.transpose(0, 1, 2, 4, 3).reshape(d, s, 1, n * t, u)


def _unfold(pred: np.ndarray, n_bins: int, temporal: str) -> np.ndarray:
    """Predictions back to (D × S × T × n_test × unit)."""
    if temporal == "per_bin":
        return pred
    d, s, _, nt, q = pred.shape
    return pred.reshape(d, s, nt // n_bins, n_bins, q).transpose(0, 1, 3, 2, 4)


def _map(
    mapping: Any, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, temporal: str
) -> np.ndarray:
    """``M(x; y)`` fitted on ``train`` stimuli, predicted on ``test`` → (D × S × T × n_test × q).

    ``x`` may have a single draw (a model) while ``y`` has many: a column-independent
    mapping then solves all draws as extra target columns of one problem.
    """
    n_bins = y.shape[-1]
    xtr, xte, ytr = _design(x, train, temporal), _design(x, test, temporal), _design(y, train, temporal)
    d = ytr.shape[0]
    if x.shape[0] == 1 and d > 1 and getattr(mapping, "column_independent", False):
        q = ytr.shape[-1]
        stacked = np.moveaxis(ytr, 0, -2).reshape(*ytr.shape[1:-1], d * q)
        pred = fit_predict(mapping, xtr[0], stacked, xte[0])  # S × T' × n_test × (d·q)
        pred = np.moveaxis(pred.reshape(*pred.shape[:-1], d, q), -2, 0)
    else:
        if x.shape[0] != d:
            xtr = np.broadcast_to(xtr, (d, *xtr.shape[1:]))
            xte = np.broadcast_to(xte, (d, *xte.shape[1:]))
        pred = fit_predict(mapping, xtr, ytr, xte)
    return _unfold(pred, n_bins, temporal)


def _test_rows(y: np.ndarray, test: np.ndarray) -> np.ndarray:
    return y[:, test].transpose(0, 1, 4, 2, 3)  # D × S × T × n_test × q


def corrected_scores(
    source: tuple[np.ndarray, np.ndarray | None],
    target: tuple[np.ndarray, np.ndarray | None],
    train: np.ndarray,
    test: np.ndarray,
    mapping: Any,
    temporal: str = "per_bin",
) -> np.ndarray:
    """Noise-corrected score per (draw × split × time bin × target unit).

    ``source`` and ``target`` are the two split-half averages, each (draw × stimulus ×
    unit × time bin); a source with one draw (a model) is shared by all target draws.
    A second half of ``None`` means no repeated trials: the score is then the plain
    test-set correlation.  ``train``/``test`` are (split × stimuli) index arrays.
    """
    if temporal not in TEMPORAL_MODES:
        raise AnalysisInputError(f"temporal {temporal!r}: unknown; expected one of {', '.join(TEMPORAL_MODES)}")
    s1, s2 = source
    b1, b2 = target
    p1 = _map(mapping, s1, b1, train, test, temporal)
    if b2 is None:
        return pearson(p1, _test_rows(b1, test), axis=-2)
    p2 = _map(mapping, s1 if s2 is None else s2, b2, train, test, temporal)
    t1, t2 = _test_rows(b1, test), _test_rows(b2, test)
    numerator = pearson(p1, t2, axis=-2)
    map_reliability = spearman_brown(pearson(p1, p2, axis=-2))
    target_reliability = spearman_brown(pearson(t1, t2, axis=-2))
    valid = (map_reliability > 0) & (target_reliability > 0)  # both terms, not just their product
    denominator = np.where(valid, map_reliability * target_reliability, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, numerator / np.sqrt(denominator), np.nan)


# ------------------------------------------------------------ data preparation
def _responses(data: xr.Dataset | xr.DataArray, variable: str | None) -> xr.DataArray:
    if isinstance(data, xr.Dataset):
        names = [variable] if variable else list(data.data_vars)
        if not names or names[0] not in data.data_vars:
            raise AnalysisInputError(
                f"variable {variable!r}: not in the store (has {', '.join(data.data_vars)})"
            )
        data = data[names[0]]
    for dim in ("stimulus", "unit"):
        if dim not in data.dims:
            raise AnalysisInputError(
                f"dim {dim!r}: missing; responses need stimulus × unit [× time_bin] [× trial], got {data.dims}"
            )
    return data


def _as_array(da: xr.DataArray) -> np.ndarray:
    """(stimulus × unit × time bin [× trial]) float64 array; a missing time_bin becomes one bin."""
    order = ["stimulus", "unit", "time_bin", "trial"]
    if "time_bin" not in da.dims:
        da = da.expand_dims("time_bin", axis=-1)
    extra = [d for d in da.dims if d not in order]
    if extra:
        raise AnalysisInputError(f"dim {extra[0]!r}: not expected in responses (allowed: {', '.join(order)})")
    return np.asarray(da.transpose(*[d for d in order if d in da.dims]).values, dtype=np.float64)


def _halves(values: np.ndarray, draws: slice, w1: np.ndarray | None, w2: np.ndarray | None):
    """Split-half averages for a chunk of draws: two (draws × stimulus × unit × T) arrays, or
    (values, None) with no repeated trials."""
    if w1 is None:
        return values[None], None
    flat = values.reshape(-1, values.shape[-1]).T  # trial × (stimulus·unit·T), a view
    shape = (-1, *values.shape[:-1])
    return np.matmul(w1[draws], flat).reshape(shape), np.matmul(w2[draws], flat).reshape(shape)


def _draw_chunks(n_draws: int, per_draw_bytes: int) -> list[slice]:
    size = max(1, min(n_draws, _CHUNK_BYTES // max(per_draw_bytes, 1)))
    return [slice(i, min(i + size, n_draws)) for i in range(0, n_draws, size)]


def _summaries(per_unit: xr.DataArray, areas: np.ndarray, prefix: str) -> dict[str, xr.DataArray]:
    """Median and s.e.m. over units per area (``sem`` = std/√n of the per-unit values)."""
    names = sorted(set(areas.tolist()))
    medians, sems, counts = [], [], []
    for area in names:
        values = per_unit.isel(unit=np.flatnonzero(areas == area))
        medians.append(values.median("unit", skipna=True))
        n = values.notnull().sum("unit")
        sems.append(values.std("unit", ddof=1, skipna=True) / np.sqrt(n.where(n > 0)))
        counts.append(n)
    area_coord = {"area_name": ("area", names)}

    def stack(items: list[xr.DataArray], units: str, description: str) -> xr.DataArray:
        out = xr.concat(items, dim="area").assign_coords(area_coord)
        out.attrs = {"units": units, "description": description}
        return out

    return {
        f"{prefix}_median": stack(medians, "1", f"median over target units of {prefix}"),
        f"{prefix}_sem": stack(sems, "1", f"s.e.m. over target units of {prefix}"),
        f"{prefix}_n_units": stack(counts, "1", "target units with a finite score"),
    }


def _config_attrs(
    kind: str,
    mapping: Any,
    scheme: SplitScheme,
    n_draws: int,
    seed: int,
    temporal: str,
    repeated: bool,
    **extra: Any,
) -> dict[str, Any]:
    import json

    from goalstore._version import __version__

    return {
        "analysis": kind,
        "mapping": type(mapping).__name__,
        "mapping_params": json.dumps(
            {
                k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                for k, v in mapping.get_params().items()
            }
        ),
        "split_scheme": json.dumps(asdict(scheme)),
        "n_draws": int(n_draws),
        "seed": int(seed),
        "temporal": temporal,
        "repeated_trials": int(repeated),
        "goalstore_version": __version__,
        **extra,
    }


# ---------------------------------------------------------------- public API
def _unit_blocks(units: np.ndarray, per_unit_bytes: int, budget: int | None = None) -> list[np.ndarray]:
    """``units`` in blocks whose loaded data stay near ``budget`` bytes (recordings larger than RAM)."""
    size = max(1, (budget or _CHUNK_BYTES) // max(per_unit_bytes, 1))
    return [units[i : i + size] for i in range(0, len(units), size)] or [units]


def _load(responses: xr.DataArray, units: np.ndarray) -> np.ndarray:
    """The responses of ``units`` as float64 (stimulus × unit × T [× trial]); NaN refused, naming the unit."""
    block = responses.isel(unit=units)
    values = _as_array(block)
    if not np.isfinite(values).all():
        check_finite(block)
    return values


def _shape(responses: xr.DataArray) -> tuple[int, int, bool]:
    """(stimuli, time bins, repeated trials?) without reading data."""
    n_bins = responses.sizes.get("time_bin", 1)
    return responses.sizes["stimulus"], n_bins, responses.sizes.get("trial", 1) > 1


def _squeeze_trials(values: np.ndarray, repeated: bool) -> np.ndarray:
    return values[..., 0] if values.ndim == 4 and not repeated else values


def inter_animal_consistency(
    recording: xr.Dataset | xr.DataArray,
    mapping: str | Any = "ridge",
    pooled: bool = False,
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: str = "per_bin",
    variable: str | None = None,
    progress: bool = False,
    **mapping_params: Any,
) -> xr.Dataset:
    """Noise-corrected inter-animal consistency of every unit (thesis eq. 3.4).

    Within each area, every animal in turn is the target: its units are predicted from
    each other animal (pairwise; scores averaged over source animals) or, with
    ``pooled``, from the concatenated units of all other animals.  Returns a dataset
    with ``consistency`` per target unit (and time bin), ``consistency_median`` /
    ``_sem`` / ``_n_units`` per area, and the units' split-half ``internal_consistency``.

    A lazily opened recording is read per mapping problem: the source units plus a block of
    target units at a time, so memory is bounded by a source animal and a target block.
    """
    scheme = scheme or SplitScheme(seed=seed)
    responses = _responses(recording, variable)
    mapping = make_mapping(mapping, **mapping_params)
    n_stimuli, n_bins, repeated = _shape(responses)
    n_trials = responses.sizes.get("trial", 1)
    animals = np.asarray(responses["animal"].values).astype(str)
    areas = np.asarray(responses["area"].values).astype(str)
    if scheme.stratify and scheme.stratify not in responses.coords:
        raise AnalysisInputError(f"coordinate {scheme.stratify!r}: not on the stimuli; cannot stratify by it")
    categories = np.asarray(responses[scheme.stratify].values) if scheme.stratify else None
    train, test = stimulus_splits(n_stimuli, scheme, categories)
    w1, w2 = split_half_weights(n_trials, n_draws, seed) if repeated else (None, None)
    n_draws_used = n_draws if repeated else 1
    total = np.zeros((n_bins, len(animals)))
    count = np.zeros((n_bins, len(animals)))
    if not any(len(set(animals[areas == a].tolist())) > 1 for a in set(areas.tolist())):
        names = ", ".join(sorted(set(animals.tolist())))
        raise AnalysisInputError(f"recording: no area has units of two animals (animals {names}); "
                                 "inter-animal consistency needs at least two per area")
    tasks = []  # (source unit indices, target unit indices) of one mapping problem
    for area in sorted(set(areas.tolist())):
        in_area = areas == area
        names = sorted(set(animals[in_area].tolist()))
        for target in names:
            target_units = np.flatnonzero(in_area & (animals == target))
            sources = [[a for a in names if a != target]] if pooled else [[a] for a in names if a != target]
            for source in sources:
                tasks.append((np.flatnonzero(in_area & np.isin(animals, source)), target_units))
    if not pooled and getattr(mapping, "column_independent", False):  # one fit per source, all its targets
        merged: dict[bytes, list[np.ndarray]] = {}
        for src, tgt in tasks:
            merged.setdefault(src.tobytes(), [src]).append(tgt)
        tasks = [(v[0], np.concatenate(v[1:])) for v in merged.values()]
    per_unit = 8 * n_stimuli * n_bins * (n_trials + 6 * scheme.n_splits)
    jobs = []
    for src, tgt in tasks:
        blocks = (
            [tgt]
            if not getattr(mapping, "column_independent", False)
            else _unit_blocks(tgt, per_unit, max(_CHUNK_BYTES - per_unit * len(src), _CHUNK_BYTES // 4))
        )
        jobs += [(src, block) for block in blocks]
    bar = _progress(len(jobs), progress, "consistency")
    for src, tgt in jobs:
        values = _squeeze_trials(_load(responses, np.concatenate([src, tgt])), repeated)
        s_idx, t_idx = np.arange(len(src)), np.arange(len(src), len(src) + len(tgt))
        for chunk in _draw_chunks(n_draws_used, 8 * n_stimuli * values.shape[1] * n_bins * 6 * scheme.n_splits):
            h1, h2 = _halves(values, chunk, w1, w2)
            scores = corrected_scores(
                (h1[:, :, s_idx], None if h2 is None else h2[:, :, s_idx]),
                (h1[:, :, t_idx], None if h2 is None else h2[:, :, t_idx]),
                train,
                test,
                mapping,
                temporal,
            )  # D × S × T × q
            finite = np.isfinite(scores)
            np.add.at(total, (slice(None), tgt), np.where(finite, scores, 0.0).sum(axis=(0, 1)))
            np.add.at(count, (slice(None), tgt), finite.sum(axis=(0, 1)))
        bar.update(1)
    bar.close()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.where(count > 0, count, 1), np.nan).T  # unit × T
    if not np.isfinite(mean).any():
        raise AnalysisInputError("recording: no unit has a defined consistency (constant or unreliable "
                                 "responses in every unit: the noise ceiling is zero or undefined)")
    ds = _result(
        responses,
        mean,
        "consistency",
        "noise-corrected inter-animal consistency per target unit "
        "(mean over source animals, split-half draws and stimulus splits)",
    )
    ds.update(_summaries(ds["consistency"], areas, "consistency"))
    if repeated:
        ds["internal_consistency"] = _internal(responses, w1, w2, per_unit)
    ds.attrs.update(
        _config_attrs(
            "inter-animal consistency",
            mapping,
            scheme,
            n_draws_used,
            seed,
            temporal,
            repeated,
            pooled=int(bool(pooled)),
        )
    )
    return ds


def model_predictivity(
    recording: xr.Dataset | xr.DataArray,
    activations: xr.Dataset | xr.DataArray,
    mapping: str | Any = "ridge",
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: str = "per_bin",
    variable: str | None = None,
    activation_variable: str | None = None,
    progress: bool = False,
    **mapping_params: Any,
) -> xr.Dataset:
    """Noise-corrected predictivity of every recorded unit from each model layer.

    The model's units carry a ``layer`` coordinate; each layer is a source ``X`` with
    ``X¹ = X²``.  Stimuli are matched by ``stimulus_id`` (a recorded stimulus missing from
    the activations is an error).  Activations without ``time_bin`` are used for every
    bin.  Returns ``predictivity`` (layer × unit [× time_bin]), per-layer medians per area,
    and the ``best_layer`` per area (highest median, averaged over bins).  A lazily opened
    recording is read in blocks of units, so memory does not grow with the recording.
    """
    import pandas as pd

    scheme = scheme or SplitScheme(seed=seed)
    responses = _responses(recording, variable)
    model = _responses(activations, activation_variable)
    check_finite(model, "activations")
    ids = np.asarray(responses["stimulus_id"].values)
    model_ids = np.asarray(model["stimulus_id"].values)
    missing = np.setdiff1d(ids, model_ids)
    if missing.size:
        raise AnalysisInputError(
            f"coordinate 'stimulus_id': {missing.size} recorded stimuli are missing from the "
            f"activations (e.g. {', '.join(map(str, missing[:3]))}); source and target "
            "must show the same stimuli"
        )
    model = model.isel(stimulus=pd.Index(model_ids).get_indexer(ids))
    if "layer" not in model.coords:
        raise AnalysisInputError("coordinate 'layer': missing on the activations' units")
    mapping = make_mapping(mapping, **mapping_params)
    n_stimuli, n_bins, repeated = _shape(responses)
    n_trials = responses.sizes.get("trial", 1)
    x_all = _as_array(model)
    if x_all.shape[2] == 1 and n_bins > 1:
        x_all = np.repeat(x_all, n_bins, axis=2)
    elif x_all.shape[2] != n_bins:
        raise AnalysisInputError(
            f"dim 'time_bin': activations have {x_all.shape[2]} bins, the recording {n_bins}"
        )
    categories = np.asarray(responses[scheme.stratify].values) if scheme.stratify else None
    train, test = stimulus_splits(n_stimuli, scheme, categories)
    w1, w2 = split_half_weights(n_trials, n_draws, seed) if repeated else (None, None)
    n_draws_used = n_draws if repeated else 1
    layers = list(dict.fromkeys(np.asarray(model["layer"].values).astype(str).tolist()))
    layer_of = np.asarray(model["layer"].values).astype(str)
    n_units = responses.sizes["unit"]
    total = np.zeros((len(layers), n_bins, n_units))
    count = np.zeros_like(total)
    per_unit = 8 * n_stimuli * n_bins * (n_trials + 6 * scheme.n_splits)
    blocks = (
        _unit_blocks(np.arange(n_units), per_unit)
        if getattr(mapping, "column_independent", False)
        else [np.arange(n_units)]
    )
    bar = _progress(len(blocks) * len(layers), progress, "predictivity")
    for block in blocks:
        values = _squeeze_trials(_load(responses, block), repeated)
        chunks = _draw_chunks(n_draws_used, 8 * n_stimuli * len(block) * n_bins * 6 * scheme.n_splits)
        for li, layer in enumerate(layers):
            x = x_all[None, :, layer_of == layer]
            for chunk in chunks:
                h1, h2 = _halves(values, chunk, w1, w2)
                scores = corrected_scores((x, None), (h1, h2), train, test, mapping, temporal)
                finite = np.isfinite(scores)
                total[li][:, block] += np.where(finite, scores, 0.0).sum(axis=(0, 1))
                count[li][:, block] += finite.sum(axis=(0, 1))
            bar.update(1)
    bar.close()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.where(count > 0, count, 1), np.nan).transpose(0, 2, 1)
    per_layer = [_result(responses, m, "predictivity", "")["predictivity"] for m in mean]
    predictivity = xr.concat(per_layer, dim="layer").assign_coords(layer_name=("layer", layers))
    predictivity.attrs = {
        "units": "1",
        "description": "noise-corrected predictivity of each recorded unit "
        "from a model layer (mean over split-half draws and "
        "stimulus splits)",
    }
    ds = xr.Dataset({"predictivity": predictivity})
    areas = np.asarray(responses["area"].values).astype(str)
    ds.update(_summaries(ds["predictivity"], areas, "predictivity"))
    score = ds["predictivity_median"].mean("time_bin") if "time_bin" in ds.dims else ds["predictivity_median"]
    best = score.fillna(-np.inf).argmax("layer")
    ds["best_layer_index"] = best.assign_attrs(
        units="1", description="index along layer of the best layer (highest median predictivity)"
    )
    ds["best_layer_predictivity"] = (
        ds["predictivity_median"]
        .isel(layer=best)
        .drop_vars(["layer_name"], errors="ignore")
        .assign_attrs(units="1", description="median predictivity of the best layer per area")
    )
    ds.attrs.update(
        _config_attrs(
            "model predictivity",
            mapping,
            scheme,
            n_draws_used,
            seed,
            temporal,
            repeated,
            model=str(model.attrs.get("model", model.name or "model")),
            best_layers=[layers[int(i)] for i in np.atleast_1d(best.values)],
        )
    )
    return ds


def _internal(responses: xr.DataArray, w1: np.ndarray, w2: np.ndarray, per_unit: int) -> xr.DataArray:
    """Split-half internal consistency across all stimuli (mean over draws), unit × T, read in unit blocks."""
    n_units = responses.sizes["unit"]
    total = np.zeros((n_units, responses.sizes.get("time_bin", 1)))
    for block in _unit_blocks(np.arange(n_units), per_unit):
        values = _load(responses, block)
        for chunk in _draw_chunks(len(w1), 16 * int(np.prod(values.shape[:3]))):
            a, b = _halves(values, chunk, w1, w2)
            total[block] += spearman_brown(pearson(a, b, axis=1)).sum(axis=0)
    return _result(
        responses,
        total / len(w1),
        "internal_consistency",
        "Spearman-Brown corrected split-half reliability across all stimuli (mean over split-half draws)",
    )["internal_consistency"]


def _result(responses: xr.DataArray, per_unit: np.ndarray, name: str, description: str) -> xr.Dataset:
    """A dataset of one unit [× time_bin] variable carrying the recording's unit / bin coordinates."""
    unit_coords = {c: ("unit", responses[c].values) for c in responses.coords if responses[c].dims == ("unit",)}
    dims: tuple[str, ...] = ("unit",)
    coords = dict(unit_coords)
    values = per_unit[:, 0] if "time_bin" not in responses.dims else per_unit
    if "time_bin" in responses.dims:
        dims = ("unit", "time_bin")
        for c in responses.coords:
            if responses[c].dims == ("time_bin",):
                coords[c] = ("time_bin", responses[c].values, responses[c].attrs)
    return xr.Dataset({name: (dims, values, {"units": "1", "description": description})}, coords=coords)


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="fit")


# ------------------------------------------------------------- whole analysis
def consistency_analysis(
    recording: xr.Dataset | xr.DataArray,
    mappings: tuple[str, ...] = ("ridge",),
    pooled: bool = False,
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: tuple[str, ...] = ("per_bin",),
    model: xr.Dataset | xr.DataArray | None = None,
    variable: str | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """Inter-animal consistency (and, with ``model``, predictivity per layer) for each mapping and
    temporal mode, as one labelled dataset (dims ``mapping`` × ``temporal`` × …).

    ``rsa`` among ``mappings`` adds the noise-corrected RSA variables instead of a
    regression.  Pure: data in, labelled result out.
    """
    from goalstore.analyses.rsa import rsa_consistency

    scheme = scheme or SplitScheme(seed=seed)
    for mode in temporal:
        if mode not in TEMPORAL_MODES:
            raise AnalysisInputError(f"temporal {mode!r}: unknown; expected one of {', '.join(TEMPORAL_MODES)}")
    names = [mapping_name(m) for m in mappings]
    for name in names:
        if name != "rsa":
            make_mapping(name)  # refuse unknown names before any work
    regressions = [n for n in names if n != "rsa"]
    parts, pred_parts = [], []
    internal = None
    for name in regressions:
        per_mode, pred_mode = [], []
        for mode in temporal:
            part = inter_animal_consistency(
                recording, name, pooled, scheme, n_draws, seed, mode, variable, progress
            )
            if "internal_consistency" in part:
                internal = part["internal_consistency"]
                part = part.drop_vars("internal_consistency")
            per_mode.append(part)
            if model is not None:
                pred_mode.append(
                    model_predictivity(
                        recording, model, name, scheme, n_draws, seed, mode, variable, progress=progress
                    )
                )
        parts.append(
            xr.concat(
                per_mode, dim="temporal", data_vars="all", coords="minimal", compat="override"
            ).assign_coords(temporal_mode=("temporal", list(temporal)))
        )
        if pred_mode:
            pred_parts.append(
                xr.concat(
                    pred_mode, dim="temporal", data_vars="all", coords="minimal", compat="override"
                ).assign_coords(temporal_mode=("temporal", list(temporal)))
            )
    ds = xr.Dataset()
    if parts:
        ds = xr.concat(parts, dim="mapping", data_vars="all", coords="minimal", compat="override")
        ds = ds.assign_coords(mapping_name=("mapping", regressions))
        if internal is not None:
            ds["internal_consistency"] = internal
        if pred_parts:
            pred = xr.concat(pred_parts, dim="mapping", data_vars="all", coords="minimal", compat="override")
            pred = pred.assign_coords(mapping_name=("mapping", regressions))
            ds = xr.merge(
                [ds, pred[[v for v in pred.data_vars]]], compat="override", combine_attrs="drop_conflicts"
            )
    if "rsa" in names:
        responses = _responses(recording, variable)
        model_da = None if model is None else _responses(model, None)
        if model_da is not None:
            import pandas as pd

            ids = np.asarray(responses["stimulus_id"].values)
            model_da = model_da.isel(
                stimulus=pd.Index(np.asarray(model_da["stimulus_id"].values)).get_indexer(ids)
            )
        rsa = rsa_consistency(responses, pooled, n_draws, seed, model_da)
        ds = xr.merge([ds, rsa], compat="override", combine_attrs="override" if not parts else "drop_conflicts")
    ds.attrs.update(parts[0].attrs if parts else {})
    ds.attrs.update(
        {
            "mappings": ",".join(names),
            "temporal_modes": ",".join(temporal),
            "pooled": int(bool(pooled)),
            "n_draws": int(n_draws),
            "seed": int(seed),
        }
    )
    ds.attrs.pop("mapping", None)
    ds.attrs.pop("mapping_params", None)
    ds.attrs.pop("temporal", None)
    if pred_parts:
        ds.attrs["best_layers"] = json_best_layers(ds)
    return ds


def json_best_layers(ds: xr.Dataset) -> str:
    """``{mapping: {temporal: {area: layer}}}`` as JSON (attrs must be plain strings)."""
    import json

    out: dict[str, Any] = {}
    for m, mapping in enumerate(ds["mapping_name"].values.tolist()):
        for t, mode in enumerate(ds["temporal_mode"].values.tolist()):
            best = ds["best_layer_index"].isel(mapping=m, temporal=t)
            out.setdefault(mapping, {})[mode] = {
                str(area): str(ds["layer_name"].values[int(i)])
                for area, i in zip(ds["area_name"].values.tolist(), np.atleast_1d(best.values), strict=True)
            }
    return json.dumps(out)


def _listify(values: Any) -> Any:
    arr = np.asarray(values, dtype=float)
    clean = np.where(np.isfinite(arr), arr, np.nan)
    return (
        [None if np.isnan(v) else float(v) for v in clean.ravel()]
        if clean.ndim
        else (None if np.isnan(clean) else float(clean))
    )


def summary(result: xr.Dataset) -> dict[str, Any]:
    """JSON-ready summary: per area and mapping ``median``, ``sem``, ``n_units`` and per-unit values
    (lists over time bins for temporal data); model predictivity per layer with the best layer; RSA."""
    import json

    has_bins = "time_bin" in result.dims
    modes = result["temporal_mode"].values.tolist() if "temporal_mode" in result.coords else []

    def key(m: str, t: str) -> str:
        return m if len(modes) <= 1 else f"{m}:{t}"

    out: dict[str, Any] = {
        "areas": {},
        "time_bins_ms": (result["time_bin_start"].values.tolist() if has_bins else None),
        "config": {
            k: result.attrs.get(k)
            for k in ("mappings", "temporal_modes", "pooled", "n_draws", "seed", "split_scheme")
        },
    }
    if "consistency" in result:
        units = result["unit_id"].values.astype(str)
        unit_areas = result["area"].values.astype(str)
        for a, area in enumerate(result["area_name"].values.astype(str)):
            entry = out["areas"].setdefault(area, {"consistency": {}})
            mask = unit_areas == area
            for m, mapping in enumerate(result["mapping_name"].values.astype(str)):
                for t, mode in enumerate(modes):
                    sel = dict(mapping=m, temporal=t)
                    per_unit = result["consistency"].isel(**sel).values[mask]
                    entry["consistency"][key(mapping, mode)] = {
                        "median": _listify(result["consistency_median"].isel(**sel, area=a).values),
                        "sem": _listify(result["consistency_sem"].isel(**sel, area=a).values),
                        "n_units": int(mask.sum()),
                        "units": {u: _listify(v) for u, v in zip(units[mask], per_unit, strict=True)},
                    }
            if "internal_consistency" in result:
                entry["internal_consistency_median"] = _listify(
                    np.nanmedian(result["internal_consistency"].values[mask], axis=0)
                )
            if "predictivity" in result:
                best = json.loads(result.attrs.get("best_layers", "{}"))
                entry["predictivity"] = {}
                for m, mapping in enumerate(result["mapping_name"].values.astype(str)):
                    for t, mode in enumerate(modes):
                        sel = dict(mapping=m, temporal=t, area=a)
                        entry["predictivity"][key(mapping, mode)] = {
                            "best_layer": best.get(mapping, {}).get(mode, {}).get(area),
                            "layers": {
                                str(layer): {
                                    "median": _listify(
                                        result["predictivity_median"].isel(**sel, layer=k).values
                                    ),
                                    "sem": _listify(result["predictivity_sem"].isel(**sel, layer=k).values),
                                }
                                for k, layer in enumerate(result["layer_name"].values)
                            },
                        }
    if "rsa_consistency" in result:
        for a, area in enumerate(result["area_name"].values.astype(str)):
            entry = out["areas"].setdefault(area, {})
            values = result["rsa_consistency"].isel(area=a)
            entry["rsa"] = {
                "per_animal": {
                    str(animal): _listify(values.isel(target_animal=j).values)
                    for j, animal in enumerate(result["target_animal_name"].values)
                },
                "median": _listify(values.median("target_animal", skipna=True).values),
            }
            if "rsa_predictivity" in result:
                entry["rsa"]["layers"] = {
                    str(layer): _listify(
                        result["rsa_predictivity"]
                        .isel(layer=k, area=a)
                        .median("target_animal", skipna=True)
                        .values
                    )
                    for k, layer in enumerate(result["layer_name"].values)
                }
    return out
