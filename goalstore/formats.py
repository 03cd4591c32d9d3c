"""The file formats goalstore reads and writes: one :class:`Format` record each, in :data:`FORMATS`.

A format knows its file suffix, the kind of object it holds (``array``: an ``xarray.Dataset``;
``table``: a Parquet dataset; ``model``: a network's weights, a
:class:`~goalstore.schema.models.ModelWeights`; ``file``: a whole file a catalog entry points at), how to write
an object to a path, how to open a path lazily (dask-backed), and which Intake reader opens it
for plain ``intake`` users.  Array, table and model formats are the *store* formats
(:data:`STORE_FORMATS`) a :class:`~goalstore.store.StoreRoot` writes; file formats are only
registered (remote or shipped entries).

Writing is deterministic — identical content gives identical files (and content checksum):
zarr v2 consolidated, netCDF through h5netcdf, Parquet with fixed part names, safetensors with its
attrs as one JSON header entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from intake.readers import datatypes, readers

from goalstore.errors import CorruptStoreError, GoalstoreError, SchemaError
from goalstore.schema import TABLES, ModelWeights, validate_array, validate_model, validate_table


@dataclass(frozen=True)
class Format:
    """One file format: its name, suffix, kind of object and its I/O."""

    name: str
    suffix: str
    kind: str  #: "array" (xarray.Dataset), "table" (Parquet dataset), "model" (ModelWeights) or "file"
    #: ``write(obj, path, kind=None)``: write ``obj`` at ``path`` (which must not exist); tables
    #: need their table ``kind`` and return ``(rows, columns)``
    write: Callable[..., Any]
    #: ``open(path, name=None)``: the content, lazily; :class:`CorruptStoreError` naming store
    #: ``name`` (else the path) when it cannot be read
    open: Callable[..., Any]
    #: ``reader(url, metadata)``: the Intake reader that opens ``url`` lazily
    reader: Callable[[str, dict[str, Any]], readers.BaseReader]
    #: ``check(path, kind)``: read a freshly written store back through the schema
    check: Callable[[Path, str | None], None] | None = None


def _spoken(names: Iterable[str]) -> str:
    """``"a, b or c"``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _unreadable(path: Path, name: str | None, exc: BaseException) -> CorruptStoreError:
    label = f"store {name!r}" if name else str(path)
    return CorruptStoreError(f"{label}: cannot read {path}: {exc}")


def no_lazy_reader(path: Path, fmt: str | None, name: str | None) -> GoalstoreError:
    """The refusal to open a file goalstore has no lazy reader for (e.g. a pickle)."""
    return GoalstoreError(f"entry {name!r} is a {fmt} file at {path}; it has no lazy reader "
                          "(see the entry's description for the importer to use)")


# ------------------------------------------------------------------- arrays
def _portable(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    for name in list(ds.variables):  # object-dtype strings → fixed-width unicode for portability
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    for attrs in (ds.attrs, *(ds[name].attrs for name in ds.variables)):
        for key, value in attrs.items():  # numpy strings: netCDF has no conversion for them
            if isinstance(value, np.str_):
                attrs[key] = str(value)
    return ds


def _write_zarr(ds: xr.Dataset, path: Path, kind: str | None = None) -> None:
    _portable(ds).to_zarr(path, mode="w-", zarr_format=2, consolidated=True, compute=True)


def _write_netcdf(ds: xr.Dataset, path: Path, kind: str | None = None) -> None:
    _portable(ds).to_netcdf(path, engine="h5netcdf", mode="w")


def _array_opener(engine: str) -> Callable[..., xr.Dataset]:
    def open_array(path: Path, name: str | None = None) -> xr.Dataset:
        try:
            return xr.open_dataset(path, engine=engine, chunks={})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _unreadable(path, name, exc) from None

    open_array.__name__ = open_array.__qualname__ = f"open_{engine}"
    return open_array


def _check_array(fmt: str) -> Callable[[Path, str | None], None]:
    def check(path: Path, kind: str | None) -> None:
        validate_array(FORMATS[fmt].open(path), kind, check_values=False)  # values: checked before

    return check


def _zarr_reader(url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    return readers.XArrayDatasetReader(datatypes.Zarr(url=url), engine="zarr", chunks={}, metadata=metadata)


def _netcdf_reader(url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    return readers.XArrayDatasetReader(datatypes.HDF5(url=url, path=""), engine="h5netcdf", chunks={},
                                       metadata=metadata)


# ------------------------------------------------------------------- tables
def _write_table(table: pa.Table | pa.RecordBatchReader, path: Path, kind: str | None = None
                 ) -> tuple[int, list[str]]:
    """Write a validated table, or a reader's batches each validated, as a Parquet dataset
    partitioned as ``kind`` declares; return (rows, columns).  File names are fixed (batch and
    part number), so identical content gives an identical store (and checksum)."""
    if kind is None:
        raise SchemaError(f"table {path.name!r}: no table kind given; expected one of {', '.join(TABLES)}")
    partition_by = list(TABLES[kind].partition_by) or None
    tables = (validate_table(pa.Table.from_batches([b]), kind) for b in table) \
        if isinstance(table, pa.RecordBatchReader) else iter([table])
    rows, columns = 0, None
    for i, part in enumerate(tables):
        pq.write_to_dataset(part, root_path=str(path), partition_cols=partition_by,
                            existing_data_behavior="overwrite_or_ignore",
                            basename_template="part-{i}.parquet" if i == 0 else f"part-{i}-{{i}}.parquet")
        rows += part.num_rows
        columns = columns or part.column_names
    if columns is None:
        raise SchemaError(f"table {kind!r}: no rows to write")
    return rows, columns


def _check_table(path: Path, kind: str | None) -> None:
    """Read the written dataset back, batch by batch (bounded memory), through the schema."""
    import pyarrow.dataset as pads

    for batch in pads.dataset(str(path), format="parquet", partitioning="hive").to_batches(
            batch_readahead=1, fragment_readahead=1):
        validate_table(pa.Table.from_batches([batch]), kind)


def _open_table(path: Path, name: str | None = None) -> Any:
    import dask.dataframe as dd

    try:
        return dd.read_parquet(str(path))
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        raise _unreadable(path, name, exc) from None


def _parquet_reader(url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    return readers.DaskParquet(datatypes.Parquet(url=url), metadata=metadata)


# ------------------------------------------------------------------- models
#: the one header entry of a model store's safetensors file holding its attrs (one entry: the
#: header's other entries come from a hash map, so several would be written in varying order)
MODEL_HEADER_KEY = "goalstore"


def _write_safetensors(model: ModelWeights, path: Path, kind: str | None = None) -> None:
    import json

    from safetensors.numpy import save_file

    # ascontiguousarray makes a 0-d array 1-d: reshape keeps e.g. BatchNorm's num_batches_tracked 0-d
    tensors = {name: np.ascontiguousarray(model.tensors[name]).reshape(np.shape(model.tensors[name]))
               for name in sorted(model.tensors)}
    header = {MODEL_HEADER_KEY: json.dumps(model.attrs, sort_keys=True, allow_nan=False)}
    save_file(tensors, str(path), metadata=header)


def _open_safetensors(path: Path, name: str | None = None) -> ModelWeights:
    """A model store: its attrs, and its tensors memory-mapped and read on access."""
    import json

    from safetensors import safe_open

    from goalstore.schema.models import LazyTensors

    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
        attrs = json.loads(header[MODEL_HEADER_KEY])
        return ModelWeights(LazyTensors(path), attrs)
    except Exception as exc:  # safetensors raises its own error types
        raise _unreadable(path, name, exc) from None


def _check_safetensors(path: Path, kind: str | None) -> None:
    validate_model(_open_safetensors(path))  # the hash of the tensors as read back


def _safetensors_reader(url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    return readers.FileByteReader(datatypes.FileData(url=url), metadata=metadata)


# -------------------------------------------------------------------- files
def _write_npy(obj: Any, path: Path, kind: str | None = None) -> None:
    with open(path, "xb") as handle:  # np.save(path) would append ".npy" to other names
        np.save(handle, np.asarray(obj), allow_pickle=False)


def _open_npy(path: Path, name: str | None = None) -> Any:
    """One ``.npy`` file as a dask array over a memory map (a folder of them: no lazy reader)."""
    import dask.array as da

    if Path(path).is_dir():
        raise no_lazy_reader(path, "npy", name)
    try:
        return da.from_array(np.load(path, mmap_mode="r", allow_pickle=False), chunks="auto")
    except (OSError, ValueError) as exc:
        raise _unreadable(path, name, exc) from None


def _npy_reader(url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    return readers.NumpyReader(datatypes.NumpyFile(url=url), metadata=metadata)


def _write_pickle(obj: Any, path: Path, kind: str | None = None) -> None:
    raise SchemaError("format 'pickle': goalstore never writes pickles (unpickling runs code); "
                      f"expected {_spoken(STORE_FORMATS)}")


def _open_pickle(path: Path, name: str | None = None) -> Any:
    raise no_lazy_reader(path, "pickle", name)


def _write_zip(obj: Any, path: Path, kind: str | None = None) -> None:
    raise SchemaError("format 'zip': goalstore does not write zip archives (a zip is only read, by the loader "
                      f"of a remote entry such as a brainio stimulus set); expected {_spoken(STORE_FORMATS)}")


def _open_zip(path: Path, name: str | None = None) -> Any:
    raise no_lazy_reader(path, "zip", name)


def _bytes_reader(url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    return readers.FileByteReader(datatypes.FileData(url=url), metadata=metadata)


#: Every format, by name; store formats first.
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("zarr", ".zarr", "array", _write_zarr, _array_opener("zarr"), _zarr_reader, _check_array("zarr")),
    Format("netcdf", ".nc", "array", _write_netcdf, _array_opener("h5netcdf"), _netcdf_reader,
           _check_array("netcdf")),
    Format("parquet", ".parquet", "table", _write_table, _open_table, _parquet_reader, _check_table),
    Format("safetensors", ".safetensors", "model", _write_safetensors, _open_safetensors, _safetensors_reader,
           _check_safetensors),
    Format("npy", ".npy", "file", _write_npy, _open_npy, _npy_reader),
    Format("pickle", ".pkl", "file", _write_pickle, _open_pickle, _bytes_reader),
    Format("zip", ".zip", "file", _write_zip, _open_zip, _bytes_reader),
)}

#: Formats of array stores (``xarray.Dataset``), the first the default.
ARRAY_FORMATS = tuple(name for name, f in FORMATS.items() if f.kind == "array")
#: Formats a store root writes stores in.
STORE_FORMATS = tuple(name for name, f in FORMATS.items() if f.kind in ("array", "table", "model"))
#: Formats a remote entry may be registered with (in the order the refusal lists them).
REMOTE_FORMATS = ("netcdf", "zarr", "parquet", "pickle", "zip")


def get_format(name: Any, among: Iterable[str] | None = None, context: str = "") -> Format:
    """The :class:`Format` called ``name``, if it is one of ``among`` (default: all);
    else :class:`SchemaError` ``"format 'x': unknown{context}; expected a, b or c"``."""
    allowed = tuple(FORMATS) if among is None else tuple(among)
    if not isinstance(name, str) or name not in allowed or name not in FORMATS:
        raise SchemaError(f"format {name!r}: unknown{context}; expected {_spoken(allowed)}")
    return FORMATS[name]


def suffixes(kind: str) -> dict[str, str]:
    """``{suffix: format name}`` of the formats holding ``kind`` (array, table or file)."""
    return {f.suffix: name for name, f in FORMATS.items() if f.kind == kind}


def open_file(path: Path, fmt: str | None, name: str | None = None) -> Any:
    """Open ``path`` of format ``fmt`` lazily; a format without a lazy reader (or none) is refused."""
    if fmt not in FORMATS:
        raise no_lazy_reader(path, fmt, name)
    return FORMATS[fmt].open(path, name)


def reader(fmt: str, url: str, metadata: dict[str, Any]) -> readers.BaseReader:
    """The Intake reader opening ``url`` of format ``fmt``; bytes for a format goalstore does not know."""
    return FORMATS[fmt].reader(url, metadata) if fmt in FORMATS else _bytes_reader(url, metadata)


__all__ = ["ARRAY_FORMATS", "FORMATS", "REMOTE_FORMATS", "STORE_FORMATS", "Format", "get_format",
           "open_file", "reader", "suffixes"]
