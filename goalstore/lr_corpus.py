"""The learning-rule trajectory corpus: building it, and its classifier view.

A corpus is two table stores: ``lr-corpus-<grid>`` (kind ``lr_observables``: one
row per run, layer, checkpoint and statistic) and ``lr-corpus-<grid>-runs``
(kind ``lr_runs``: config, status, curves, wall time, device).  They are built
by the ``lr-corpus`` recipe (training through :mod:`builders`, via
``datalad run``) or imported from the published lr-identify pickle
(:mod:`goalstore.sources.lr_identify`).

:func:`classifier_view` turns the long table into the examples × features matrix
of the classifiers: one example per (run, layer), features = statistic ×
checkpoint (restricted by default to the 24 statistics that stay finite), with
labels (learning rule) and group columns (architecture, task, curriculum =
batch size × data-order seed, layer position).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

#: The 24 statistics that stay finite in every run (observable, function, statistic); notes §5.
FINITE_24: tuple[tuple[str, str, str], ...] = tuple(
    [("weights", f, s) for f in ("abs", "raw") for s in ("mean", "median", "norm", "q3", "var")]
    + [("weights", "square", s) for s in ("mean", "median", "q3")]
    + [("activations", f, s) for f in ("abs", "raw") for s in ("mean", "median", "norm", "q3")]
    + [("activity_change", f, "mean") for f in ("raw", "abs", "square")]
)

GROUP_COLUMNS = ("run_id", "layer", "layer_index", "layer_position", "task", "architecture",
                 "learning_rule", "batch_size", "model_seed", "data_seed")


@dataclass
class ClassifierView:
    """Examples (run, layer) × features (statistic × checkpoint).

    ``features``: DataFrame (n_examples × n_statistics·n_checkpoints), columns named
    ``observable/function/statistic@epoch``; ``labels``: the learning rule of each
    example; ``groups``: run, layer, layer position, architecture, task, curriculum,
    seeds.  ``cube`` is the same data as an array (example × statistic × checkpoint).
    """

    features: pd.DataFrame
    labels: pd.Series
    groups: pd.DataFrame
    cube: np.ndarray
    statistics: list[tuple[str, str, str]]
    epochs: list[int]


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()


def classifier_view(source: Any,
                    statistics: tuple[tuple[str, str, str], ...] | None = FINITE_24) -> ClassifierView:
    """Pivot a long observables table into the classifier view.

    ``source`` is the path of the Parquet dataset, a pyarrow Table or a pandas /
    dask DataFrame.  ``statistics=None`` keeps all statistics present.
    """
    columns = [*GROUP_COLUMNS, "epoch", "observable", "function", "statistic", "value"]
    if isinstance(source, (str, Path)):
        dataset = pads.dataset(str(source), format="parquet", partitioning="hive")
        table = dataset.to_table(columns=columns)
    elif isinstance(source, pa.Table):
        table = source.select(columns)
    else:
        frame = source.compute() if hasattr(source, "compute") else source
        table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    if statistics is not None:
        keys = pc.binary_join_element_wise(pc.cast(table["observable"], pa.string()),
                                           pc.cast(table["function"], pa.string()),
                                           pc.cast(table["statistic"], pa.string()), "/")
        wanted = pa.array(["/".join(s) for s in statistics])
        table = table.filter(pc.is_in(keys, wanted))
    if table.num_rows == 0:
        raise ValueError("the corpus has no rows for the requested statistics")
    run_codes, _ = _codes(pc.cast(table["run_id"], pa.string()))
    layer_codes, layers = _codes(pc.cast(table["layer"], pa.string()))
    example_key = run_codes.astype(np.int64) * len(layers) + layer_codes
    example_ids, example_index = np.unique(example_key, return_inverse=True)
    stat_key = pc.binary_join_element_wise(pc.cast(table["observable"], pa.string()),
                                           pc.cast(table["function"], pa.string()),
                                           pc.cast(table["statistic"], pa.string()), "/")
    stat_codes, stat_names = _codes(stat_key)
    order = ["/".join(s) for s in statistics] if statistics is not None else sorted(stat_names)
    order = [s for s in order if s in set(stat_names)]
    remap = np.array([order.index(s) for s in stat_names])
    epochs_all = table["epoch"].to_numpy()
    epochs = np.unique(epochs_all)
    cube = np.full((example_ids.size, len(order), epochs.size), np.nan)
    cube[example_index, remap[stat_codes], np.searchsorted(epochs, epochs_all)] = table["value"].to_numpy()
    first = np.unique(example_index, return_index=True)[1]
    meta = table.select(list(GROUP_COLUMNS)).take(pa.array(first)).to_pandas()
    for column in ("task", "architecture", "learning_rule", "layer_position", "run_id", "layer"):
        meta[column] = meta[column].astype(str)
    meta["curriculum"] = "b" + meta["batch_size"].astype(str) + "-d" + meta["data_seed"].astype(str)
    names = [f"{s}@{int(e)}" for s in order for e in epochs]
    features = pd.DataFrame(cube.reshape(cube.shape[0], -1), columns=names)
    return ClassifierView(features, meta["learning_rule"].rename("learning_rule"), meta, cube,
                          [tuple(s.split("/")) for s in order], [int(e) for e in epochs])


def runs_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``lr_runs`` table of run records written by the builders."""
    config_keys = ("task", "architecture", "learning_rule", "batch_size", "model_seed", "data_seed",
                   "epochs", "checkpoint_every", "width", "input_size", "val_size", "base_lr",
                   "metaparameters", "keep_raw_layers")
    rows = []
    for r in records:
        rows.append({
            "run_id": r["run_id"], **{k: r[k] for k in ("task", "architecture", "learning_rule")},
            **{k: int(r[k]) for k in ("batch_size", "model_seed", "data_seed", "epochs", "checkpoint_every")},
            "config": json.dumps({k: r.get(k) for k in config_keys}, sort_keys=True, default=list),
            "status": r["status"], "diverged_epoch": r.get("diverged_epoch"),
            "wall_time_s": float(r["wall_time_s"]), "device": r["device"],
            **{k: [float(v) for v in r[k]] for k in ("train_loss", "train_accuracy", "val_loss",
                                                     "val_accuracy")},
        })
    frame = pd.DataFrame(rows)
    frame["diverged_epoch"] = frame["diverged_epoch"].astype("Int32")
    return frame


def corpus_names(grid_name: str) -> tuple[str, str]:
    return f"lr-corpus-{grid_name}", f"lr-corpus-{grid_name}-runs"
