"""Summaries of consistency results: per-area medians and s.e.m., the best layers, the JSON report.

:func:`area_summaries` adds the per-area variables to a result while it is built;
:func:`summary` turns a finished :func:`~goalstore.analyses.consistency.consistency_analysis`
dataset into the JSON-ready report the CLI prints.  :func:`json_number` is how every analysis'
JSON report writes one number (the OST and transfer summaries use it too).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr


def area_summaries(per_unit: xr.DataArray, areas: np.ndarray, prefix: str) -> dict[str, xr.DataArray]:
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


def json_best_layers(ds: xr.Dataset) -> str:
    """``{mapping: {temporal: {area: layer}}}`` as JSON (attrs must be plain strings)."""
    out: dict[str, Any] = {}
    for m, mapping in enumerate(ds["mapping_name"].values.tolist()):
        for t, mode in enumerate(ds["temporal_mode"].values.tolist()):
            best = ds["best_layer_index"].isel(mapping=m, temporal=t)
            out.setdefault(mapping, {})[mode] = {
                str(area): str(ds["layer_name"].values[int(i)])
                for area, i in zip(ds["area_name"].values.tolist(), np.atleast_1d(best.values), strict=True)
            }
    return json.dumps(out)


def json_number(value: Any) -> float | None:
    """``value`` as a JSON number: a float, or None (JSON null) when it is NaN or infinite."""
    value = float(value)
    return value if np.isfinite(value) else None


def _listify(values: Any) -> Any:
    arr = np.asarray(values, dtype=float)
    return [json_number(v) for v in arr.ravel()] if arr.ndim else json_number(arr)


def summary(result: xr.Dataset) -> dict[str, Any]:
    """JSON-ready summary: per area and mapping ``median``, ``sem``, ``n_units`` and per-unit values
    (lists over time bins for temporal data); model predictivity per layer with the best layer; RSA."""
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
