"""Grid and border scores of a store's cells, labelled, with the shuffle test (notes §3; thesis §4.8).

The definitions and the vectorised array core (rate maps, autocorrelograms, grid and border
scores, their thresholds) are in :mod:`goalstore.analyses.spatial_core`; the shuffle test is
:mod:`goalstore.analyses.spatial_shuffles`.  This module validates a rate-map store, scores
every cell and returns the labelled result with its summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from goalstore.analyses.spatial_core import (  # noqa: F401  (the public names of the spatial analysis)
    BORDER_THRESHOLD,
    GRID_THRESHOLD,
    autocorrelograms,
    border_scores,
    grid_scores,
    rate_maps_from_activations,
    rate_maps_from_spikes,
)
from goalstore.errors import AnalysisInputError


# ------------------------------------------------------------------ labelled
def spatial_scores(
    maps: xr.Dataset | xr.DataArray,
    variable: str | None = None,
    field_threshold: float = 0.3,
    min_field_bins: int = 8,
    n_shuffles: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> xr.Dataset:
    """Grid and border scores of every cell of a rate-map store (unit × x × y), labelled by unit.

    With ``n_shuffles`` ≥ 1 also the shuffle test (:mod:`goalstore.analyses.spatial_shuffles`):
    per cell the 95th percentile of its shuffled maps' scores (``grid_threshold``,
    ``border_threshold``), the p-values (``grid_p``, ``border_p``) and the classification by
    them (``is_grid_cell_shuffle``, ``is_border_cell_shuffle``); ``is_grid_cell`` and
    ``is_border_cell`` stay the fixed-threshold rule.
    """
    if isinstance(maps, xr.Dataset):
        name = variable or next(iter(maps.data_vars))
        if name not in maps.data_vars:
            raise AnalysisInputError(f"variable {name!r}: not in the store")
        maps = maps[name]
    for dim in ("unit", "x", "y"):
        if dim not in maps.dims:
            raise AnalysisInputError(f"dim {dim!r}: missing; rate maps need unit × x × y, got {maps.dims}")
    values = np.asarray(maps.transpose("unit", "x", "y").values, dtype=np.float64)
    if np.isinf(values).any():
        raise AnalysisInputError("rate maps: infinite values (NaN marks unvisited bins)")
    if np.isnan(values).all(axis=(1, 2)).any():
        bad = np.asarray(maps["unit_id"].values)[np.isnan(values).all(axis=(1, 2))]
        raise AnalysisInputError(f"rate maps: unit(s) {', '.join(map(str, bad[:5]))} have no visited bin")
    constant = np.nanmax(values, axis=(1, 2)) == np.nanmin(values, axis=(1, 2))
    if constant.all():  # every score would be undefined: refuse rather than return all-null results
        raise AnalysisInputError("rate maps: every map is constant (e.g. all zero); grid and border scores "
                                 "are undefined")
    if n_shuffles:
        from goalstore.analyses.spatial_shuffles import _check_n_shuffles

        _check_n_shuffles(n_shuffles)  # refuse bad input before scoring
    grid, per_radius, radii = grid_scores(values)
    border = border_scores(values, field_threshold, min_field_bins)
    unit_coords = {c: ("unit", maps[c].values) for c in maps.coords if maps[c].dims == ("unit",)}
    ds = xr.Dataset(
        {
            "grid_score": (
                "unit",
                grid,
                {
                    "units": "1",
                    "description": "max over annulus radii of mean(r60, r120) - mean(r30, r90, r150)",
                },
            ),
            "grid_score_per_radius": (("unit", "radius"), per_radius, {"units": "1"}),
            "border_score": ("unit", border, {"units": "1", "description": "(cM - dM) / (cM + dM)"}),
            "is_grid_cell": (
                "unit",
                np.nan_to_num(grid, nan=-np.inf) > GRID_THRESHOLD,
                {"units": "1", "description": f"grid score > {GRID_THRESHOLD}"},
            ),
            "is_border_cell": (
                "unit",
                np.nan_to_num(border, nan=-np.inf) > BORDER_THRESHOLD,
                {"units": "1", "description": f"border score > {BORDER_THRESHOLD}"},
            ),
        },
        coords={**unit_coords, "radius_bins": ("radius", radii)},
    )
    ds.attrs.update({"field_threshold": field_threshold, "min_field_bins": min_field_bins,
                     "n_shuffles": int(n_shuffles)})
    if n_shuffles:
        ds = _add_shuffle_test(ds, values, int(n_shuffles), int(seed), field_threshold, min_field_bins,
                               progress)
    return ds


def _add_shuffle_test(ds: xr.Dataset, values: np.ndarray, n_shuffles: int, seed: int, field_threshold: float,
                      min_field_bins: int, progress: bool) -> xr.Dataset:
    from goalstore.analyses.spatial_shuffles import SHUFFLE_PERCENTILE, map_shuffle_test

    test = map_shuffle_test(values, n_shuffles, seed, field_threshold, min_field_bins, progress)
    pct = f"{SHUFFLE_PERCENTILE:g}th percentile of the score over {n_shuffles} shuffled maps"
    p_text = "(1 + #{shuffles with score >= observed}) / (1 + n_shuffles)"
    ds = ds.assign(
        grid_threshold=("unit", test.grid_threshold, {"units": "1", "description": f"grid score: {pct}"}),
        grid_p=("unit", test.grid_p, {"units": "1", "description": f"grid score shuffle p-value {p_text}"}),
        border_threshold=("unit", test.border_threshold,
                          {"units": "1", "description": f"border score: {pct}"}),
        border_p=("unit", test.border_p,
                  {"units": "1", "description": f"border score shuffle p-value {p_text}"}),
        is_grid_cell_shuffle=("unit", test.is_grid_cell,
                              {"units": "1", "description": "grid score > grid_threshold"}),
        is_border_cell_shuffle=("unit", test.is_border_cell,
                                {"units": "1", "description": "border score > border_threshold"}),
    )
    ds.attrs.update({"shuffle_seed": seed, "shuffle_percentile": SHUFFLE_PERCENTILE,
                     "shuffle": "rate-map spectral shuffle (goalstore.analyses.spatial_shuffles)"})
    return ds


def summary(result: xr.Dataset) -> dict[str, Any]:
    """Per cell ``grid_score`` and ``border_score`` (JSON-ready), plus the counts of grid and border cells;
    after a shuffle test also per cell ``grid_threshold``, ``grid_p``, ``border_threshold``,
    ``border_p`` and the counts by the shuffle rule."""

    def num(v: float) -> float | None:
        return None if not np.isfinite(v) else float(v)

    names = ["grid_score", "border_score"]
    shuffled = "grid_p" in result.data_vars
    if shuffled:
        names += ["grid_threshold", "grid_p", "border_threshold", "border_p"]
    columns = [result[n].values for n in names]
    cells = {
        str(u): {n: num(v) for n, v in zip(names, row, strict=True)}
        for u, *row in zip(result["unit_id"].values, *columns, strict=True)
    }
    out = {
        "cells": cells,
        "n_cells": len(cells),
        "n_grid_cells": int(result["is_grid_cell"].sum()),
        "n_border_cells": int(result["is_border_cell"].sum()),
        "thresholds": {"grid": GRID_THRESHOLD, "border": BORDER_THRESHOLD},
        "n_shuffles": int(result.attrs.get("n_shuffles", 0)),
    }
    if shuffled:
        out["n_grid_cells_shuffle"] = int(result["is_grid_cell_shuffle"].sum())
        out["n_border_cells_shuffle"] = int(result["is_border_cell_shuffle"].sum())
    return out
