"""Validation of array stores (``xarray.Dataset``) against the canonical schema.

The rules, each of which raises :class:`~goalstore.errors.SchemaError` naming the
attr, dim, coordinate or variable at fault:

1. the object is an ``xarray.Dataset`` with at least one data variable;
2. every attr in :data:`~goalstore.schema.vocabulary.REQUIRED_ATTRS` is a non-empty
   string, ``kind`` is one of :data:`~goalstore.schema.vocabulary.KINDS` (and the
   expected kind, when one is given), ``schema_version`` is the current one;
3. every dim belongs to the vocabulary;
4. each dim carries its required coordinates, each 1-D along exactly that dim;
   its identifying coordinate is unique and has no missing values;
5. coordinates with physical units declare them in a ``units`` attr
   (:data:`~goalstore.schema.vocabulary.COORD_UNITS`); time bins end after they start;
6. no pandas MultiIndex anywhere (plain coordinates only);
7. data variables are numeric or boolean and declare their ``units`` attr;
8. variable and coordinate names are plain identifiers (letters, digits, '_', '.', '-'; no
   path separators, nothing empty), every dim has at least one element, and time-bin
   bounds are numbers.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from goalstore.errors import SchemaError
from goalstore.schema.vocabulary import (
    COORD_UNITS,
    DIMS,
    KINDS,
    REQUIRED_ATTRS,
    SCHEMA_VERSION,
)

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _fail(where: str, problem: str, expected: str) -> SchemaError:
    return SchemaError(f"{where}: {problem}; expected {expected}")


def _has_missing(values: np.ndarray) -> bool:
    if values.dtype.kind in "fc":
        return bool(np.isnan(values).any())
    if values.dtype.kind == "O":
        return bool(pd.isna(values).any())
    return False


def validate_array(ds: Any, kind: str | None = None) -> None:
    """Raise :class:`SchemaError` unless ``ds`` is a canonical array store.

    ``kind``, if given, is the store kind the caller expects (e.g. ``"recording"``).
    Only metadata is inspected, so validating a dask-backed dataset reads no data.
    """
    if isinstance(ds, xr.DataArray):
        raise _fail("object", "is an xarray.DataArray", "an xarray.Dataset (use .to_dataset(name=...))")
    if not isinstance(ds, xr.Dataset):
        raise _fail("object", f"is a {type(ds).__name__}", "an xarray.Dataset")

    for attr in REQUIRED_ATTRS:
        value = ds.attrs.get(attr)
        if not isinstance(value, str) or not value.strip():
            raise _fail(f"attr {attr!r}", "is missing or empty", "a non-empty string")
    if ds.attrs["kind"] not in KINDS:
        raise _fail("attr 'kind'", f"is {ds.attrs['kind']!r}", f"one of {', '.join(KINDS)}")
    if kind is not None and ds.attrs["kind"] != kind:
        raise _fail("attr 'kind'", f"is {ds.attrs['kind']!r}", repr(kind))
    if ds.attrs["schema_version"] != SCHEMA_VERSION:
        raise _fail("attr 'schema_version'", f"is {ds.attrs['schema_version']!r}", repr(SCHEMA_VERSION))

    for name in (*ds.variables, *ds.dims):
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
            raise _fail(f"variable {name!r}", "is not a plain name",
                        "letters, digits, '_', '.' or '-' (from a letter or '_'), no '/'")
    for dim in ds.dims:
        if dim not in DIMS:
            raise _fail(f"dim {dim!r}", "is not in the vocabulary", f"one of {', '.join(DIMS)}")
        if ds.sizes[dim] == 0:
            raise _fail(f"dim {dim!r}", "has length 0", "at least one element")

    for name, index in ds.xindexes.items():
        if isinstance(index.to_pandas_index(), pd.MultiIndex):
            raise _fail(f"coordinate {name!r}", "is a pandas MultiIndex", "plain 1-D coordinates")

    for dim in ds.dims:
        spec = DIMS[dim]
        for coord in spec.coords:
            if coord not in ds.coords:
                raise _fail(f"dim {dim!r}", f"has no coordinate {coord!r}",
                            f"coordinates {', '.join(spec.coords)}")
        for coord in (*spec.coords, *spec.optional_coords):
            if coord in ds.coords and ds[coord].dims != (dim,):
                raise _fail(f"coordinate {coord!r}", f"has dims {ds[coord].dims}", f"({dim!r},)")
        if spec.unique:
            values = np.asarray(ds[spec.unique].values)
            if _has_missing(values):
                raise _fail(f"coordinate {spec.unique!r}", "has missing values", "an identifier per element")
            if pd.Index(values).has_duplicates:
                dup = pd.Index(values)[pd.Index(values).duplicated()][0]
                raise _fail(f"coordinate {spec.unique!r}", f"repeats the value {dup!r}", "unique identifiers")

    for coord, units in COORD_UNITS.items():
        if coord in ds.coords and ds[coord].attrs.get("units") != units:
            raise _fail(f"coordinate {coord!r}", f"has units {ds[coord].attrs.get('units')!r}",
                        f"units attr {units!r}")
    if "time_bin" in ds.dims:
        for coord in ("time_bin_start", "time_bin_end"):
            if ds[coord].dtype.kind not in "iuf":
                raise _fail(f"coordinate {coord!r}", f"has dtype {ds[coord].dtype}", "numbers (ms)")
        start = np.asarray(ds["time_bin_start"].values, dtype=float)
        end = np.asarray(ds["time_bin_end"].values, dtype=float)
        if not np.all(end > start):
            raise _fail("coordinate 'time_bin_end'", "is not after time_bin_start in every bin",
                        "time_bin_end > time_bin_start")

    if not ds.data_vars:
        raise _fail("dataset", "has no data variables", "at least one")
    for name, var in ds.data_vars.items():
        if var.dtype.kind not in "biufc":
            raise _fail(f"variable {name!r}", f"has dtype {var.dtype}", "a numeric or boolean dtype")
        if not str(var.attrs.get("units", "")).strip():
            raise _fail(f"variable {name!r}", "has no 'units' attr",
                        "a units attr (e.g. 'spikes/s', 'a.u.', '1')")
