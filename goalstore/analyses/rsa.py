"""Representational similarity analysis with noise correction (notes §1; thesis eqs. 3.9–3.10).

RDM = 1 − Pearson correlation between the response vectors (over units) of every pair
of stimuli; two RDMs are compared by the Pearson correlation of their upper triangles
(diagonal excluded).  Noise-corrected consistency of target animal B from source A::

    Corr(RDM(A¹), RDM(B²)) / sqrt( SB(Corr(RDM(A¹), RDM(A²))) · SB(Corr(RDM(B¹), RDM(B²))) )

one value per target animal (and time bin), averaged over split-half draws and source
animals.  A model is deterministic (``X¹ = X²``), so its reliability term is 1.  Draws
and time bins are batch axes of one computation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from goalstore.analyses.reliability import check_finite, pearson, spearman_brown, split_half_weights
from goalstore.analyses.responses import as_array
from goalstore.errors import AnalysisInputError


def rdm(responses: np.ndarray) -> np.ndarray:
    """Representational dissimilarity matrices of (… × stimulus × unit) responses → (… × stim × stim)."""
    x = np.asarray(responses, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = x / norm
    return 1.0 - np.matmul(z, np.swapaxes(z, -1, -2))


def upper_triangle(matrices: np.ndarray) -> np.ndarray:
    """The strictly upper triangles of (… × n × n) matrices as (… × n(n−1)/2) vectors."""
    rows, cols = np.triu_indices(matrices.shape[-1], k=1)
    return matrices[..., rows, cols]


def _triangles(halves: np.ndarray) -> np.ndarray:
    """(D × stimulus × unit × T) → RDM triangles (D × T × pairs)."""
    return upper_triangle(rdm(halves.transpose(0, 3, 1, 2)))


def rsa_scores(
    source: tuple[np.ndarray, np.ndarray | None], target: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Noise-corrected RSA per (draw × time bin); arrays are (draw × stimulus × unit × T), a source
    without a second half is deterministic (reliability 1)."""
    a1 = _triangles(source[0])
    b1, b2 = _triangles(target[0]), _triangles(target[1])
    numerator = pearson(a1, b2, axis=-1)
    rel_a = 1.0 if source[1] is None else spearman_brown(pearson(a1, _triangles(source[1]), axis=-1))
    rel_b = spearman_brown(pearson(b1, b2, axis=-1))
    valid = (np.asarray(rel_a) > 0) & (rel_b > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, numerator / np.sqrt(np.where(valid, rel_a * rel_b, 1.0)), np.nan)


def _values(responses: xr.DataArray) -> np.ndarray:
    """stimulus × unit × time bin × trial (float64), refusing data without repeated trials."""
    values = as_array(responses)
    if values.ndim != 4 or values.shape[3] < 2:
        raise AnalysisInputError("dim 'trial': noise-corrected RSA needs at least 2 repeated trials")
    return values


def rsa_consistency(
    responses: xr.DataArray,
    pooled: bool = False,
    n_draws: int = 100,
    seed: int = 0,
    model: xr.DataArray | None = None,
) -> xr.Dataset:
    """Noise-corrected RSA consistency per area and target animal (and time bin).

    Sources are the other animals of the area (pairwise, averaged; or ``pooled``), and,
    with ``model`` (stimulus × unit [× time_bin] with a ``layer`` unit coordinate, same
    stimulus order), every model layer (``rsa_predictivity``).
    """
    check_finite(responses)
    values = _values(responses)
    w1, w2 = split_half_weights(values.shape[3], n_draws, seed)
    h1 = np.einsum("sutr,dr->dsut", values, w1, optimize=True)
    h2 = np.einsum("sutr,dr->dsut", values, w2, optimize=True)
    animals = np.asarray(responses["animal"].values).astype(str)
    areas = np.asarray(responses["area"].values).astype(str)
    area_names, animal_names = sorted(set(areas.tolist())), sorted(set(animals.tolist()))
    n_bins = values.shape[2]
    out = np.full((len(area_names), len(animal_names), n_bins), np.nan)
    layers: list[str] = []
    model_out = None
    if model is not None:
        check_finite(model, "activations")
        mvals = np.asarray(
            model.transpose(*[d for d in ("stimulus", "unit", "time_bin") if d in model.dims]).values,
            dtype=np.float64,
        )
        mvals = mvals[:, :, None] if mvals.ndim == 2 else mvals
        if mvals.shape[0] != values.shape[0]:
            raise AnalysisInputError(
                f"dim 'stimulus': the model has {mvals.shape[0]} stimuli, the recording {values.shape[0]}"
            )
        mvals = np.repeat(mvals, n_bins, axis=2) if mvals.shape[2] == 1 else mvals
        layer_of = np.asarray(model["layer"].values).astype(str)
        layers = list(dict.fromkeys(layer_of.tolist()))
        model_out = np.full((len(layers), *out.shape), np.nan)
    for i, area in enumerate(area_names):
        for j, target in enumerate(animal_names):
            tgt = (areas == area) & (animals == target)
            if not tgt.any():
                continue
            others = [a for a in animal_names if a != target and ((areas == area) & (animals == a)).any()]
            groups = [others] if pooled else [[a] for a in others]
            scores = [
                rsa_scores((h1[:, :, src], h2[:, :, src]), (h1[:, :, tgt], h2[:, :, tgt]))
                for src in ((areas == area) & np.isin(animals, g) for g in groups if g)
            ]
            if scores:
                out[i, j] = np.nanmean(np.concatenate(scores), axis=0)
            for k, layer in enumerate(layers):
                x = mvals[None, :, layer_of == layer]
                model_out[k, i, j] = np.nanmean(rsa_scores((x, None), (h1[:, :, tgt], h2[:, :, tgt])), axis=0)
    coords: dict[str, Any] = {
        "area_name": ("area", area_names),
        "target_animal_name": ("target_animal", animal_names),
    }
    dims: tuple[str, ...] = ("area", "target_animal", "time_bin")
    for c in responses.coords:
        if responses[c].dims == ("time_bin",):
            coords[c] = ("time_bin", responses[c].values, responses[c].attrs)
    squeeze = "time_bin" not in responses.dims
    ds = xr.Dataset(coords=coords)
    ds["rsa_consistency"] = (
        dims[:2] if squeeze else dims,
        out[..., 0] if squeeze else out,
        {"units": "1", "description": "noise-corrected RSA consistency per target animal"},
    )
    if model_out is not None:
        ds["rsa_predictivity"] = (
            ("layer", *(dims[:2] if squeeze else dims)),
            model_out[..., 0] if squeeze else model_out,
            {"units": "1", "description": "noise-corrected RSA of each model layer per target animal"},
        )
        ds = ds.assign_coords(layer_name=("layer", layers))
    ds.attrs.update({"rsa_pooled": int(bool(pooled)), "rsa_n_draws": int(n_draws), "rsa_seed": int(seed)})
    return ds
