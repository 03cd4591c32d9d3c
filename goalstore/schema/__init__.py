"""The canonical schema of every goalstore store, in one place.

* :mod:`goalstore.schema.vocabulary` — dims, their required coordinates and units,
  required attrs and store kinds of **array stores** (``xarray.Dataset``).
* :mod:`goalstore.schema.arrays` — the validation rules of array stores.
* :mod:`goalstore.schema.tables` — declared pyarrow schemas of **table stores** (Parquet).
* :mod:`goalstore.schema.attrs` — :func:`store_attrs` / :func:`recording_attrs`, the required attrs
  of an array store (``kind`` and ``schema_version`` filled in).
* :mod:`goalstore.schema.models` — **model stores** (weights in safetensors): :class:`ModelWeights`,
  its attrs and :func:`validate_model`.

:func:`validate` dispatches on the object: datasets are checked as array stores of
the given store ``kind``; DataFrames / pyarrow Tables as tables of the given table kind.
Every write validates first.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from goalstore.errors import SchemaError
from goalstore.schema.arrays import validate_array
from goalstore.schema.attrs import recording_attrs, store_attrs
from goalstore.schema.models import ModelWeights, model_attrs, validate_model, weights_hash
from goalstore.schema.tables import TABLES, TableSpec, validate_table
from goalstore.schema.vocabulary import (
    COORD_UNITS,
    DIMS,
    KINDS,
    MODEL_KIND,
    REQUIRED_ATTRS,
    SCHEMA_VERSION,
    Dim,
    describe,
)

__all__ = [
    "COORD_UNITS",
    "DIMS",
    "KINDS",
    "MODEL_KIND",
    "REQUIRED_ATTRS",
    "SCHEMA_VERSION",
    "TABLES",
    "Dim",
    "ModelWeights",
    "SchemaError",
    "TableSpec",
    "describe",
    "model_attrs",
    "recording_attrs",
    "store_attrs",
    "validate",
    "validate_array",
    "validate_model",
    "validate_table",
    "weights_hash",
]


def validate(obj: Any, kind: str | None = None) -> None:
    """Raise :class:`SchemaError` unless ``obj`` follows the canonical schema.

    ``obj`` is an ``xarray.Dataset`` (``kind`` = expected store kind, optional), a
    pandas DataFrame / pyarrow Table (``kind`` = table kind, required) or a
    :class:`ModelWeights` (a model store).
    """
    if isinstance(obj, ModelWeights):
        validate_model(obj)
    elif isinstance(obj, (pd.DataFrame, pa.Table)):
        if kind is None:
            raise SchemaError(f"table: no table kind given; expected one of {', '.join(TABLES)}")
        validate_table(obj, kind)
    else:
        validate_array(obj, kind)
