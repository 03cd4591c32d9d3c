"""Declared pyarrow schemas of the table stores (Parquet datasets).

Each table kind has one :class:`TableSpec`: its pyarrow schema and the columns it
is partitioned by on disk (chosen for the queries users make, e.g. by learning
rule).  :func:`validate_table` checks a pandas DataFrame or pyarrow Table against
the declared schema and returns it as a pyarrow Table with exactly the declared
column order and types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from goalstore.errors import SchemaError


@dataclass(frozen=True)
class TableSpec:
    """A table kind: its pyarrow schema, partition columns and a description."""

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    description: str = ""
    non_null: tuple[str, ...] = ()
    #: searchable catalog metadata of every store of this kind
    catalog: dict[str, str] = field(default_factory=dict)
    #: columns beyond the declared ones: (regular expression their names match, their type)
    extra_columns: tuple[str, pa.DataType] | None = None


#: Columns that identify a training run in every learning-rule table.
_RUN_FIELDS = [
    ("run_id", pa.string()),
    ("task", pa.string()),
    ("architecture", pa.string()),
    ("learning_rule", pa.string()),
    ("batch_size", pa.int32()),
    ("model_seed", pa.int32()),
    ("data_seed", pa.int32()),
]

#: Searchable catalog metadata of the learning-rule tables.
_LR_CATALOG = {"species": "artificial neural network", "modality": "observable statistics", "license": "MIT",
               "citation": "Nayebi A, Srivastava S, Ganguli S, Yamins DLK (2020). Identifying Learning Rules "
                           "From Neural Network Observables. NeurIPS 2020."}

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "lr_observables",
            pa.schema(
                [
                    *_RUN_FIELDS,
                    ("layer", pa.string()),
                    ("layer_index", pa.int32()),
                    ("layer_position", pa.string()),
                    ("epoch", pa.int32()),
                    ("observable", pa.string()),
                    ("function", pa.string()),
                    ("statistic", pa.string()),
                    ("value", pa.float64()),
                ]
            ),
            partition_by=("learning_rule",),
            description="long table of per-layer observable statistics at each checkpoint",
            non_null=("run_id", "learning_rule", "layer", "epoch", "observable", "statistic"),
            catalog=_LR_CATALOG,
        ),
        TableSpec(
            "lr_runs",
            pa.schema(
                [
                    *_RUN_FIELDS,
                    ("epochs", pa.int32()),
                    ("checkpoint_every", pa.int32()),
                    ("config", pa.string()),
                    ("status", pa.string()),
                    ("diverged_epoch", pa.int32()),
                    ("wall_time_s", pa.float64()),
                    ("device", pa.string()),
                    ("train_loss", pa.list_(pa.float64())),
                    ("train_accuracy", pa.list_(pa.float64())),
                    ("val_loss", pa.list_(pa.float64())),
                    ("val_accuracy", pa.list_(pa.float64())),
                ]
            ),
            description="one row per training run: config (JSON), status (completed / diverged), "
                        "per-epoch loss and accuracy curves, wall time and device",
            non_null=("run_id", "learning_rule", "status", "config"),
            catalog={**_LR_CATALOG, "modality": "training runs"},
        ),
        TableSpec(
            "lr_view",
            pa.schema(
                [
                    ("run_id", pa.string()),
                    ("layer", pa.string()),
                    ("layer_index", pa.int32()),
                    ("layer_position", pa.string()),
                    ("task", pa.string()),
                    ("architecture", pa.string()),
                    ("learning_rule", pa.string()),
                    ("batch_size", pa.int32()),
                    ("model_seed", pa.int32()),
                    ("data_seed", pa.int32()),
                    ("curriculum", pa.string()),
                ]
            ),
            description="classifier view: one row per (run, layer), one float column per statistic "
                        "and checkpoint, named observable/function/statistic@epoch",
            non_null=("run_id", "layer", "learning_rule"),
            extra_columns=(r"^[^@]+@\d+$", pa.float64()),
            catalog=_LR_CATALOG,
        ),
    )
}


def _unencodable(df: pd.DataFrame, kind: str) -> SchemaError:
    """The SchemaError naming the first string cell UTF-8 cannot encode (a lone surrogate such as
    ``"\\udc80"``, what ``os.fsdecode`` makes of undecodable bytes); only run after Arrow refused one."""
    for column in df.columns:
        if df[column].dtype.kind not in "OUS" and str(df[column].dtype) not in ("string", "str"):
            continue
        for row, value in enumerate(df[column].tolist()):
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return SchemaError(f"column {column!r}: row {row} ({value!r}) has a character UTF-8 cannot "
                                       f"encode at position {exc.start} (a lone surrogate); expected strings "
                                       "UTF-8 can encode")
    return SchemaError(f"table {kind!r}: holds a string UTF-8 cannot encode (a lone surrogate); "
                       "expected strings UTF-8 can encode")


def validate_table(table: Any, kind: str) -> pa.Table:
    """Raise :class:`SchemaError` unless ``table`` matches the declared schema of ``kind``.

    Columns may arrive in any order and with types that convert without loss
    (e.g. int64 → int32 in range); the returned table has the declared order and types.
    """
    if kind not in TABLES:
        raise SchemaError(f"table kind {kind!r}: unknown; expected one of {', '.join(TABLES)}")
    spec = TABLES[kind]
    if isinstance(table, pd.DataFrame):
        if isinstance(table.index, pd.MultiIndex) or isinstance(table.columns, pd.MultiIndex):
            raise SchemaError(f"table {kind!r}: has a pandas MultiIndex; expected plain columns")
        try:
            table = pa.Table.from_pandas(table, preserve_index=False)
        except UnicodeEncodeError:
            raise _unencodable(table, kind) from None
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # e.g. numbers mixed into a string column
            raise SchemaError(f"table {kind!r}: does not convert to Arrow ({str(exc).splitlines()[0]}); "
                              "expected one type per column") from None
    if not isinstance(table, pa.Table):
        raise SchemaError(f"table {kind!r}: is a {type(table).__name__}; expected a DataFrame or pyarrow Table")
    present = set(table.column_names)
    for declared in spec.schema:
        if declared.name not in present:
            raise SchemaError(f"column {declared.name!r}: missing from table {kind!r}; "
                              f"expected type {declared.type}")
    extra = [c for c in table.column_names if c not in set(spec.schema.names)]
    pattern = re.compile(spec.extra_columns[0]) if spec.extra_columns else None
    undeclared = [c for c in extra if pattern is None or not pattern.match(c)]
    if undeclared:
        allowed = f" or columns matching {spec.extra_columns[0]}" if spec.extra_columns else ""
        raise SchemaError(f"column {undeclared[0]!r}: not declared for table {kind!r}; "
                          f"expected only {', '.join(spec.schema.names)}{allowed}")
    columns = []
    for declared in spec.schema:
        column = table.column(declared.name)
        try:
            column = column.cast(declared.type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"column {declared.name!r}: has type {table.column(declared.name).type} "
                              f"that does not convert to {declared.type} ({exc})") from None
        if declared.name in spec.non_null and column.null_count:
            raise SchemaError(f"column {declared.name!r}: has {column.null_count} missing values; "
                              "expected none")
        columns.append(column)
    fields = list(spec.schema)
    for name in extra:
        try:
            columns.append(table.column(name).cast(spec.extra_columns[1], safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"column {name!r}: does not convert to {spec.extra_columns[1]} ({exc})") from None
        fields.append(pa.field(name, spec.extra_columns[1]))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
