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
   bounds are numbers;
9. attrs (of the dataset, of each coordinate and of each data variable) are values every
   format stores faithfully (zarr and netCDF alike, so a store reads back equal and can be
   rewritten in the other format): a ``str``, an ``int`` (within int64), a ``float``, or a
   1-D list / tuple / array of numbers or of strings.  Refused: ``bool`` (netCDF has no
   boolean type; store ``0``/``1``), ``None``, dicts, lists of dicts, nested or mixed lists,
   complex numbers, bytes and dates (serialise structured values as a JSON string);
10. every string (attrs, string coordinates) is encodable as UTF-8: no lone surrogates such as
    ``"\\udc80"`` (what ``os.fsdecode`` makes of undecodable bytes);
11. no coordinate holds a missing value (NaN, None) or ±inf;
12. no data variable holds ±inf (a division by zero, an overflow or a log of 0 upstream), and
    only the kinds in :data:`NAN_ALLOWED` hold NaN, where it marks a missing value:
    ``recording`` (trials not recorded, synapses not imaged, bins not visited), ``corpus``
    (padding to the widest layer) and ``result`` (a score that is undefined, e.g. a unit
    without reliable responses).  ``activations`` refuse NaN: a model's features are
    deterministic and always defined, so NaN means a diverged or broken extraction (the
    analyses refuse them too).
13. a ``stimuli`` store holds its images as variable ``image`` with dims exactly
    ``(stimulus, channel, height, width)`` and dtype ``uint8`` (0–255 intensities), one channel
    (``L``) or three (``R``, ``G``, ``B``); other variables of a stimuli store are per-stimulus.
14. a ``trajectories`` store holds float variables ``x``, ``y`` (m: the position before step t), ``vx``,
    ``vy``, ``speed`` (m/s: the velocity of step t, so ``p_{t+1} = p_t + v_t·dt``) and ``heading`` (rad:
    the direction of step t), each with dims exactly ``(path, step)`` and those units; its attrs
    ``arena`` (``square``, ``circle`` or ``track``), ``size`` (m, > 0), ``dt`` (s, > 0) and ``seed`` (int);
    other variables are per path × step or per path.
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


#: The layout of a stimuli store's images (rule 13).
IMAGE_DIMS = ("stimulus", "channel", "height", "width")
IMAGE_CHANNELS = (("L",), ("R", "G", "B"))

#: The layout of a trajectories store (rule 14): required variables with their units, and arenas.
TRAJECTORY_DIMS = ("path", "step")
TRAJECTORY_VARIABLES = {"x": "m", "y": "m", "vx": "m/s", "vy": "m/s", "speed": "m/s", "heading": "rad"}
TRAJECTORY_ARENAS = ("square", "circle", "track")

#: Store kinds whose data variables may hold NaN (a missing value); see rule 12.
NAN_ALLOWED = ("recording", "corpus", "result")

#: What an attr may be (rule 9), for messages.
ATTR_VALUES = "a str, int, float, or a 1-D list of numbers or of strings"

_INT64 = np.iinfo(np.int64)


def _fail(where: str, problem: str, expected: str) -> SchemaError:
    return SchemaError(f"{where}: {problem}; expected {expected}")


def _has_missing(values: np.ndarray) -> bool:
    if values.dtype.kind in "fc":
        return bool(np.isnan(values).any())
    if values.dtype.kind == "O":
        return bool(pd.isna(values).any())
    return False


def _unencodable(text: str) -> int | None:
    """Position of the first character of ``text`` that UTF-8 cannot encode (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _string_problem(text: str) -> str | None:
    position = _unencodable(text)
    if position is None:
        return None
    return f"{text!r} has a character UTF-8 cannot encode at position {position} (a lone surrogate)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _attr_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored faithfully as an attr in every format (rule 9), or None."""
    if isinstance(value, (bool, np.bool_)):
        return f"is a boolean ({value!r}; netCDF has no boolean type, store 0 or 1)"
    if isinstance(value, str):
        return _string_problem(value)
    if _is_number(value):
        if isinstance(value, (int, np.integer)) and not _INT64.min <= int(value) <= _INT64.max:
            return f"is an integer outside int64 ({value!r})"
        return None
    if value is None:
        return "is None"
    if isinstance(value, dict):
        return "is a dict (nested attrs; store it as a JSON string)"
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return f"is a {value.ndim}-D array"
        if value.dtype.kind in "iuf":
            return _attr_problem(value.tolist()) if value.dtype.kind in "iu" else None
        if value.dtype.kind not in "UO":
            return f"is an array of dtype {value.dtype}"
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if isinstance(item, (list, tuple, dict, np.ndarray)):
                return f"item {i} is a {type(item).__name__} (nested lists and dicts are not stored " \
                       "faithfully; store them as a JSON string)"
        if all(isinstance(item, str) for item in value):
            for i, item in enumerate(value):
                problem = _string_problem(item)
                if problem:
                    return f"item {i}: {problem}"
            return None
        for i, item in enumerate(value):
            if not _is_number(item):
                return f"item {i} is a {type(item).__name__} ({item!r}) in a list that is not all numbers " \
                       "or all strings"
            problem = _attr_problem(item)
            if problem:
                return f"item {i} {problem}"
        return None
    return f"is a {type(value).__name__} ({value!r})"


def _check_attrs(attrs: Any, owner: str) -> None:
    for key, value in attrs.items():
        if not isinstance(key, str) or _unencodable(key) is not None:
            raise _fail(f"attr {key!r}{owner}", "has a name that is not a UTF-8 string", "string attr names")
        problem = _attr_problem(value)
        if problem:
            raise _fail(f"attr {key!r}{owner}", problem, ATTR_VALUES)


def _position(index: int, shape: tuple[int, ...], dims: tuple[Any, ...]) -> str:
    if len(shape) <= 1:
        return f"index {index}"
    return "index " + ", ".join(f"{d}={i}" for d, i in zip(dims, np.unravel_index(index, shape), strict=True))


def _check_coordinate(name: str, coord: xr.DataArray) -> None:
    """No missing value (NaN, None), no ±inf, no unencodable string in a coordinate (rules 10, 11)."""
    values = np.asarray(coord.values)
    flat = values.ravel()
    where = f"coordinate {name!r}"
    if values.dtype.kind in "fc":
        bad = ~np.isfinite(flat)
        if bad.any():
            i = int(np.argmax(bad))
            what = "a missing value (NaN)" if np.isnan(flat[i]) else repr(float(np.real(flat[i])))
            raise _fail(where, f"holds {what} at {_position(i, values.shape, coord.dims)}",
                        "finite values (a coordinate labels every element)")
    elif values.dtype.kind in "OU":
        if values.dtype.kind == "O":
            missing = pd.isna(flat)
            if missing.any():
                i = int(np.argmax(missing))
                at = _position(i, values.shape, coord.dims)
                raise _fail(where, f"holds a missing value ({flat[i]!r}) at {at}", "a value for every element")
        strings = [v for v in flat.tolist() if isinstance(v, str)]
        if _unencodable("".join(strings)) is not None:
            for i, v in enumerate(flat.tolist()):
                problem = isinstance(v, str) and _string_problem(v)
                if problem:
                    raise _fail(where, f"value at {_position(i, values.shape, coord.dims)}: {problem}",
                                "strings UTF-8 can encode")
    _check_attrs(coord.attrs, f" of coordinate {name!r}")


def _scan(data: Any, want_nan: bool) -> tuple[bool, bool]:
    """(holds ±inf, holds NaN) of a float or complex array; a dask array is reduced lazily, in one
    streaming pass over its chunks, never loaded whole."""
    if not isinstance(data, np.ndarray) and hasattr(data, "dask"):
        import dask
        import dask.array as da

        checks = [da.isinf(data).any()] + ([da.isnan(data).any()] if want_nan else [])
        found = [bool(x) for x in dask.compute(*checks)]
        return found[0], bool(want_nan and found[1])
    values = np.asarray(data)
    parts = (values.real, values.imag) if values.dtype.kind == "c" else (values,)
    has_inf = has_nan = False
    for part in parts:  # reductions: no temporary the size of the data
        flat = part.ravel()
        has_inf |= bool(np.fmax.reduce(flat) == np.inf or np.fmin.reduce(flat) == -np.inf)
        if want_nan:
            has_nan |= bool(np.isnan(np.maximum.reduce(flat)))
    return has_inf, has_nan


def _first(var: xr.DataArray, test: Any) -> str:
    """Count and first position of the values ``test`` flags (only for in-memory arrays, on failure)."""
    if not isinstance(var.data, np.ndarray):
        return ""
    bad = test(var.values).ravel()
    return f" ({int(bad.sum())} values, the first at {_position(int(np.argmax(bad)), var.shape, var.dims)})"


def _check_values(name: str, var: xr.DataArray, kind: str) -> None:
    """No ±inf in a data variable; no NaN unless ``kind`` allows it (rule 12)."""
    if var.dtype.kind not in "fc":
        return
    nan_allowed = kind in NAN_ALLOWED
    has_inf, has_nan = _scan(var.data, want_nan=not nan_allowed)
    if has_inf:
        raise _fail(f"variable {name!r}", "holds +inf or -inf" + _first(var, np.isinf),
                    f"finite numbers (or NaN for a missing value in {', '.join(NAN_ALLOWED)} stores)")
    if has_nan:
        raise _fail(f"variable {name!r}", f"holds NaN{_first(var, np.isnan)} in a {kind!r} store",
                    f"no NaN in {kind} stores (NaN marks a missing value only in {', '.join(NAN_ALLOWED)} "
                    "stores; a model's activations are always defined)")


def _check_stimuli(ds: xr.Dataset) -> None:
    """Rule 13: the ``image`` variable of a stimuli store."""
    if "image" not in ds.data_vars:
        raise _fail("variable 'image'", "is missing from a stimuli store",
                    f"an image variable with dims {IMAGE_DIMS}, dtype uint8")
    image = ds["image"]
    if image.dims != IMAGE_DIMS:
        raise _fail("variable 'image'", f"has dims {image.dims}", f"{IMAGE_DIMS}")
    if image.dtype != np.uint8:
        raise _fail("variable 'image'", f"has dtype {image.dtype}", "uint8 (intensities 0-255)")
    channels = tuple(str(c) for c in ds["channel_name"].values)
    if channels not in IMAGE_CHANNELS:
        raise _fail("coordinate 'channel_name'", f"is {list(channels)}", "['L'] or ['R', 'G', 'B']")
    for name, var in ds.data_vars.items():
        if name != "image" and var.dims != ("stimulus",):
            raise _fail(f"variable {name!r}", f"has dims {var.dims} in a stimuli store", "('stimulus',)")


def _check_trajectories(ds: xr.Dataset) -> None:
    """Rule 14: the variables and attrs of a trajectories store."""
    for name, units in TRAJECTORY_VARIABLES.items():
        if name not in ds.data_vars:
            raise _fail(f"variable {name!r}", "is missing from a trajectories store",
                        f"variables {', '.join(TRAJECTORY_VARIABLES)} with dims {TRAJECTORY_DIMS}")
        var = ds[name]
        if var.dims != TRAJECTORY_DIMS:
            raise _fail(f"variable {name!r}", f"has dims {var.dims}", f"{TRAJECTORY_DIMS}")
        if var.dtype.kind != "f":
            raise _fail(f"variable {name!r}", f"has dtype {var.dtype}", "a float dtype")
        if var.attrs.get("units") != units:
            raise _fail(f"variable {name!r}", f"has units {var.attrs.get('units')!r}", f"units attr {units!r}")
    for name, var in ds.data_vars.items():
        if var.dims not in (TRAJECTORY_DIMS, ("path",)):
            raise _fail(f"variable {name!r}", f"has dims {var.dims} in a trajectories store",
                        f"{TRAJECTORY_DIMS} or ('path',)")
    if ds.attrs.get("arena") not in TRAJECTORY_ARENAS:
        raise _fail("attr 'arena'", f"is {ds.attrs.get('arena')!r}", f"one of {', '.join(TRAJECTORY_ARENAS)}")
    for attr in ("size", "dt"):
        value = ds.attrs.get(attr)
        if not _is_number(value) or not float(value) > 0:
            raise _fail(f"attr {attr!r}", f"is {value!r}", "a positive number (size in m, dt in s)")
    seed = ds.attrs.get("seed")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        raise _fail("attr 'seed'", f"is {seed!r}", "an integer (the simulation's seed)")


def validate_array(ds: Any, kind: str | None = None, *, check_values: bool = True) -> None:
    """Raise :class:`SchemaError` unless ``ds`` is a canonical array store.

    ``kind``, if given, is the store kind the caller expects (e.g. ``"recording"``).
    Attrs, dims and coordinates are checked from metadata and the (small) coordinate
    values.  With ``check_values`` (the default) the float data variables are also
    scanned for ±inf, and for NaN where the store's kind forbids it (rule 12 of this
    module: NaN marks a missing value in ``recording``, ``corpus`` and ``result`` stores;
    ``activations`` hold none; ±inf and NaN are refused everywhere else, coordinates included).
    A dask-backed variable is scanned lazily, in one streaming pass over its chunks, never
    loaded into memory whole; ``check_values=False`` skips that pass (e.g. when re-validating
    a store just written from a dataset that passed).
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
    _check_attrs(ds.attrs, "")

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

    for name, coord in ds.coords.items():
        _check_coordinate(str(name), coord)

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
    if ds.attrs["kind"] == "stimuli":
        _check_stimuli(ds)
    if ds.attrs["kind"] == "trajectories":
        _check_trajectories(ds)
    for name, var in ds.data_vars.items():
        if var.dtype.kind not in "biufc":
            raise _fail(f"variable {name!r}", f"has dtype {var.dtype}", "a numeric or boolean dtype")
        if not str(var.attrs.get("units", "")).strip():
            raise _fail(f"variable {name!r}", "has no 'units' attr",
                        "a units attr (e.g. 'spikes/s', 'a.u.', '1')")
        _check_attrs(var.attrs, f" of variable {name!r}")
        if check_values:
            _check_values(str(name), var, ds.attrs["kind"])
