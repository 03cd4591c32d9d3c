"""Brain-Score / brainio netCDF assemblies → the canonical recording (stimulus × unit × time_bin × trial).

A brainio neural assembly is one ``DataArray`` stored with dims ``presentation × neuroid
[× time_bin]``: every presentation of an image is a row, with the image id (``stimulus_id``,
or ``image_id`` in older files) and its ``repetition`` index as coordinates on
``presentation``; units carry ``neuroid_id``, ``animal`` and ``region``.  The loader
groups presentations by stimulus, orders each stimulus' repetitions, and lays them out as
the ``trial`` dim.  Stimuli shown a different number of times are cut to the smallest
count (the number of presentations left out is recorded in the ``dropped_presentations``
attr).  The result is lazy (dask) when the file is opened with chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from goalstore.errors import AnalysisInputError
from goalstore.schema import recording_attrs

_STIMULUS_COORDS = ("stimulus_id", "image_id")
_CATEGORY_COORDS = ("category_name", "category")
_OBJECT_COORDS = ("object_name", "object")


def _first(names: tuple[str, ...], available: Any) -> str | None:
    return next((n for n in names if n in available), None)


def _assembly(raw: xr.Dataset | xr.DataArray, path: Any) -> xr.DataArray:
    if isinstance(raw, xr.DataArray):
        return raw
    arrays = [v for v in raw.data_vars if {"presentation", "neuroid"} <= set(raw[v].dims)]
    if len(arrays) != 1:
        raise AnalysisInputError(
            f"{path}: expected one presentation × neuroid variable (a brainio assembly); "
            f"found {list(raw.data_vars)}"
        )
    return raw[arrays[0]]


def from_brainio(
    assembly: xr.DataArray | xr.Dataset,
    *,
    source: str = "brainio assembly",
    species: str = "macaque",
    modality: str = "multi-unit array",
    license: str = "unknown",
    citation: str = "unknown",
    path: Any = "assembly",
) -> xr.Dataset:
    """Canonical recording from a brainio assembly (an in-memory or lazily opened one)."""
    da = _assembly(assembly, path)
    for dim in ("presentation", "neuroid"):
        if dim not in da.dims:
            raise AnalysisInputError(
                f"{path}: dim {dim!r} missing; a brainio assembly has presentation × "
                f"neuroid [× time_bin], got {da.dims}"
            )
    stim_name = _first(_STIMULUS_COORDS, da.coords)
    if stim_name is None:
        raise AnalysisInputError(f"{path}: no stimulus_id or image_id coordinate on 'presentation'")
    ids = np.asarray(da[stim_name].values).astype(str)
    reps = np.asarray(da["repetition"].values) if "repetition" in da.coords else np.zeros(len(ids), int)
    order = np.lexsort((reps, ids))  # by stimulus, then repetition
    stimuli, first, counts = np.unique(ids[order], return_index=True, return_counts=True)
    first_seen = np.unique(ids, return_index=True)[1]  # aligned with ``stimuli`` (both sorted)
    appearance = np.argsort(first_seen)  # keep the file's stimulus order
    stimuli, first, counts = stimuli[appearance], first[appearance], counts[appearance]
    n_trials = int(counts.min())
    index = order[first[:, None] + np.arange(n_trials)[None, :]]  # stimulus × trial → presentation
    has_time = "time_bin" in da.dims
    if not has_time:
        da = da.expand_dims("time_bin", axis=-1)
    da = da.transpose("presentation", "neuroid", "time_bin")
    data = da.data[index.ravel()]
    n_units, n_bins = da.shape[1], da.shape[2]
    data = data.reshape(len(stimuli), n_trials, n_units, n_bins).transpose(0, 2, 3, 1)
    first_rows = index[:, 0]
    coords: dict[str, Any] = {"stimulus_id": ("stimulus", stimuli)}
    for name, canonical in (
        (_first(_CATEGORY_COORDS, da.coords), "category"),
        (_first(_OBJECT_COORDS, da.coords), "object_name"),
    ):
        if name is not None and da[name].dims == ("presentation",):
            coords[canonical] = ("stimulus", np.asarray(da[name].values)[first_rows].astype(str))
    neuroid_ids = (da["neuroid_id"].values if "neuroid_id" in da.coords else np.arange(n_units)).astype(str)
    coords["unit_id"] = ("unit", neuroid_ids)
    coords["animal"] = (
        "unit",
        np.asarray(da["animal"].values).astype(str) if "animal" in da.coords else np.full(n_units, "unknown"),
    )
    coords["area"] = (
        "unit",
        np.asarray(da["region"].values).astype(str) if "region" in da.coords else np.full(n_units, "unknown"),
    )
    if "time_bin_start" in da.coords and da["time_bin_start"].dims == ("time_bin",):
        start = np.asarray(da["time_bin_start"].values, dtype=float)
        end = np.asarray(da["time_bin_end"].values, dtype=float)
    else:
        start, end = np.arange(n_bins, dtype=float) * 10.0, np.arange(1, n_bins + 1, dtype=float) * 10.0
    coords["time_bin_start"] = ("time_bin", start, {"units": "ms"})
    coords["time_bin_end"] = ("time_bin", end, {"units": "ms"})
    coords["trial_id"] = ("trial", np.arange(n_trials))
    return xr.Dataset(
        {
            "response": (
                ("stimulus", "unit", "time_bin", "trial"),
                data,
                {
                    "units": str(da.attrs.get("units", "spikes/s")),
                    "description": "responses per stimulus presentation, repetitions as trials",
                },
            )
        },
        coords=coords,
        attrs=recording_attrs(
            species=species,
            modality=modality,
            source=source,
            license=license,
            citation=citation,
            dropped_presentations=int(len(ids) - len(stimuli) * n_trials),
            description=f"converted from the brainio assembly {Path(str(path)).name}",
        ),
    )


def load_assembly(path: str | Path, chunks: dict | str | None = None, **attrs: str) -> xr.Dataset:
    """Open a brainio netCDF assembly lazily and convert it to the canonical recording."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisInputError(f"{path}: no such file (a brainio netCDF assembly)")
    raw = xr.open_dataset(path, chunks=chunks if chunks is not None else {})
    return from_brainio(raw, path=path, source=f"brainio netCDF {path.name}", **attrs)
