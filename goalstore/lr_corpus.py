"""The learning-rule trajectory corpus: building it, and its classifier view.

A corpus is two table stores: ``lr-corpus-<grid>`` (kind ``lr_observables``: one
row per run, layer, checkpoint and statistic) and ``lr-corpus-<grid>-runs``
(kind ``lr_runs``: config, status, curves, wall time, device).  They are built
by the ``lr-corpus`` recipe (training through :mod:`builders`, via
``datalad run``) or imported from the published lr-identify pickle
(:mod:`goalstore.sources.lr_identify`).  Next to them live ``<name>-view`` (the
classifier view) and, when raw layers are kept, ``<name>-units``; :func:`corpus_stores` gives
all four names of a corpus.

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
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# The 24 statistics that stay finite in every run (observable, function, statistic; notes §5) are
# defined once, with the builders that record them; goalstore.lr_corpus.FINITE_24 is the same object.
from builders.corpus_format import FINITE_24, RAW_FILE, RAW_KINDS, parse_raw_key

__all__ = ["FINITE_24", "GROUP_COLUMNS", "ClassifierView", "CorpusStores", "classifier_view", "corpus_name",
           "corpus_names", "corpus_stores", "load_view", "runs_table", "units_dataset", "view_frame",
           "view_from_cube"]


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
    """Integer codes and their values for a (possibly dictionary-encoded) column."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries() if hasattr(column, "unify_dictionaries") else column
    chunks = column.chunks
    dictionary = chunks[0].dictionary if chunks else pa.array([], pa.string())
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks]) if chunks \
        else np.zeros(0, dtype=np.int64)
    return codes.astype(np.int64), dictionary.to_pylist()


_DICTIONARY_COLUMNS = ("run_id", "layer", "layer_position", "task", "architecture", "learning_rule",
                       "observable", "function", "statistic")


def _as_table(source: Any, columns: list[str]) -> pa.Table:
    if isinstance(source, (str, Path)):
        # strings come back dictionary-encoded (hive partition columns always do)
        return pq.read_table(str(source), columns=columns, read_dictionary=list(_DICTIONARY_COLUMNS),
                             partitioning="hive")
    if isinstance(source, pa.Table):
        return source.select(columns)
    frame = source.compute() if hasattr(source, "compute") else source
    return pa.Table.from_pandas(frame[columns], preserve_index=False)


def classifier_view(source: Any,
                    statistics: tuple[tuple[str, str, str], ...] | None = FINITE_24) -> ClassifierView:
    """Pivot a long observables table into the classifier view.

    ``source`` is the path of the Parquet dataset, a pyarrow Table or a pandas /
    dask DataFrame.  ``statistics=None`` keeps all statistics present.  String
    columns are handled as dictionary codes, so the pivot is integer arithmetic.
    """
    columns = [*GROUP_COLUMNS, "epoch", "observable", "function", "statistic", "value"]
    table = _as_table(source, columns)
    if table.num_rows == 0:
        raise ValueError("the corpus table is empty")
    obs_codes, obs_names = _codes(table["observable"])
    fn_codes, fn_names = _codes(table["function"])
    st_codes, st_names = _codes(table["statistic"])
    combos = [(o, f, s) for o in obs_names for f in fn_names for s in st_names]
    combo_code = (obs_codes * len(fn_names) + fn_codes) * len(st_names) + st_codes
    present = set(np.unique(combo_code).tolist())
    available = [combos[c] for c in sorted(present)]
    order = [s for s in (statistics if statistics is not None else sorted(available)) if s in set(available)]
    if not order:
        raise ValueError("the corpus has no rows for the requested statistics")
    lookup = np.full(len(combos), -1)
    for i, stat in enumerate(order):
        lookup[combos.index(stat)] = i
    stat_index = lookup[combo_code]
    keep = stat_index >= 0
    run_codes, _ = _codes(table["run_id"])
    layer_codes, layers = _codes(table["layer"])
    example_key = (run_codes * len(layers) + layer_codes)[keep]
    example_ids, example_index = np.unique(example_key, return_inverse=True)
    epochs_all = table["epoch"].to_numpy()[keep]
    epochs = np.unique(epochs_all)
    cube = np.full((example_ids.size, len(order), epochs.size), np.nan)
    cube[example_index, stat_index[keep], np.searchsorted(epochs, epochs_all)] = \
        table["value"].to_numpy()[keep]
    first_rows = np.flatnonzero(keep)[np.unique(example_index, return_index=True)[1]]
    meta = table.select(list(GROUP_COLUMNS)).take(pa.array(first_rows)).to_pandas()
    return view_from_cube(cube, order, [int(e) for e in epochs], meta)


def view_from_cube(cube: np.ndarray, statistics: list[tuple[str, str, str]], epochs: list[int],
                   meta: pd.DataFrame) -> ClassifierView:
    """A :class:`ClassifierView` from an example × statistic × checkpoint array and one row of
    ``GROUP_COLUMNS`` per example, in the canonical example order (run, layer index, layer), so
    any source of the same corpus gives the same view."""
    meta = meta[list(GROUP_COLUMNS)].reset_index(drop=True)
    for column in ("task", "architecture", "learning_rule", "layer_position", "run_id", "layer"):
        meta[column] = meta[column].astype(str)
    meta["curriculum"] = "b" + meta["batch_size"].astype(str) + "-d" + meta["data_seed"].astype(str)
    canonical = meta.sort_values(["run_id", "layer_index", "layer"], kind="stable").index.to_numpy()
    meta, cube = meta.loc[canonical].reset_index(drop=True), cube[canonical]
    names = [f"{'/'.join(s)}@{int(e)}" for s in statistics for e in epochs]
    features = pd.DataFrame(cube.reshape(cube.shape[0], -1), columns=names)
    return ClassifierView(features, meta["learning_rule"].rename("learning_rule"), meta, cube,
                          list(statistics), [int(e) for e in epochs])


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


def view_frame(view: ClassifierView) -> pd.DataFrame:
    """The classifier view as one wide table (kind ``lr_view``): group columns, then features."""
    groups = view.groups[[*GROUP_COLUMNS, "curriculum"]].reset_index(drop=True)
    return pd.concat([groups, view.features], axis=1)


def load_view(path: str | Path) -> ClassifierView:
    """Read a stored classifier view (``lr_view`` table) back into a :class:`ClassifierView`."""
    table = pq.read_table(str(path), partitioning=None)
    meta_columns = [*GROUP_COLUMNS, "curriculum"]
    feature_names = [c for c in table.column_names if c not in meta_columns]
    groups = table.select(meta_columns).to_pandas()
    values = np.column_stack([table.column(c).to_numpy() for c in feature_names]) if feature_names \
        else np.zeros((table.num_rows, 0))
    statistics = list(dict.fromkeys(tuple(c.split("@")[0].split("/")) for c in feature_names))
    epochs = list(dict.fromkeys(int(c.split("@")[1]) for c in feature_names))
    cube = values.reshape(len(groups), len(statistics), len(epochs))
    features = pd.DataFrame(values, columns=feature_names)
    return ClassifierView(features, groups["learning_rule"].rename("learning_rule"), groups, cube,
                          statistics, epochs)


def units_dataset(work_dir: str | Path, records: list[dict[str, Any]]) -> Any:
    """Raw matrices kept by a sweep as one canonical array store (kind ``corpus``).

    Dims example (run × kept layer) × checkpoint × stimulus × unit (× weight for the
    weights); variables ``activations`` (layer outputs), ``input_gradient`` (∂Σ outputs/∂inputs,
    per input unit) and ``weights`` (the layer's forward weights, flattened), NaN-padded to the
    widest layer (``n_units``, ``n_input_units`` and ``n_weights`` give each example's true
    sizes).  None if nothing was kept.
    """
    import xarray as xr

    from goalstore.schema import store_attrs

    kinds = RAW_KINDS
    blocks: dict[tuple[str, str], dict[int, dict[str, np.ndarray]]] = {}
    for record in records:
        path = Path(work_dir) / record["run_id"] / RAW_FILE
        if not path.exists():
            continue
        with np.load(path) as raw:
            for key in raw.files:
                epoch, layer, kind = parse_raw_key(key)
                blocks.setdefault((record["run_id"], layer), {}).setdefault(epoch, {})[kind] = raw[key]
    if not blocks:
        return None
    examples = sorted(blocks)
    epochs = sorted({e for b in blocks.values() for e in b})
    arrays = [d[k] for b in blocks.values() for d in b.values() for k in ("activations", "input_gradient")]
    n_stimuli = max(a.shape[0] for a in arrays)
    width = max(a.shape[1] for a in arrays)
    n_weights = max((d["weights"].size for b in blocks.values() for d in b.values() if "weights" in d),
                     default=0)
    shapes = {"activations": (n_stimuli, width), "input_gradient": (n_stimuli, width), "weights": (n_weights,)}
    data = {k: np.full((len(examples), len(epochs), *shapes[k]), np.nan, dtype=np.float32) for k in kinds}
    sizes = {k: np.zeros(len(examples), dtype=np.int32) for k in kinds}
    for i, key in enumerate(examples):
        for epoch, found in blocks[key].items():
            for kind, array in found.items():
                index = (i, epochs.index(epoch), *(slice(0, n) for n in array.shape))
                data[kind][index] = array
                sizes[kind][i] = array.shape[-1]
    by_run = {r["run_id"]: r for r in records}
    units = {"units": "a.u."}
    count = {"units": "count"}
    variables = {
        "activations": (("example", "checkpoint", "stimulus", "unit"), data["activations"], units),
        "input_gradient": (("example", "checkpoint", "stimulus", "unit"), data["input_gradient"], units),
        "n_units": ("example", sizes["activations"], count),
        "n_input_units": ("example", sizes["input_gradient"], count)}
    coords = {
        "example_id": ("example", [f"{run}/{layer}" for run, layer in examples]),
        "run_id": ("example", [run for run, _ in examples]),
        "layer_name": ("example", [layer for _, layer in examples]),
        "learning_rule": ("example", [by_run[run]["learning_rule"] for run, _ in examples]),
        "epoch": ("checkpoint", np.asarray(epochs)),
        "stimulus_id": ("stimulus", [f"val{i}" for i in range(n_stimuli)]),
        "unit_id": ("unit", [f"u{i}" for i in range(width)]),
        "animal": ("unit", ["network"] * width),
        "area": ("unit", ["kept layer"] * width),
    }
    if n_weights:
        variables["weights"] = (("example", "checkpoint", "weight"), data["weights"], units)
        variables["n_weights"] = ("example", sizes["weights"], count)
        coords["weight_index"] = ("weight", np.arange(n_weights))
    return xr.Dataset(variables, coords=coords, attrs=store_attrs(
        "corpus", species="artificial neural network",
        modality="raw per-unit layer outputs, input gradients and weights", source="goalstore builders",
        license="MIT", citation="Nayebi et al. (2020), NeurIPS",
        description="NaN-padded to the widest kept layer; n_units / n_input_units / n_weights give "
                    "true sizes"))


class CorpusStores(NamedTuple):
    """The store names of one corpus (see :func:`corpus_stores`)."""

    observables: str  #: the long ``lr_observables`` table: the corpus' own name
    runs: str  #: ``lr_runs`` table (built corpora only)
    view: str  #: ``lr_view`` classifier view (wide)
    units: str  #: raw per-unit matrices (``corpus`` array store; only when raw layers are kept)


def corpus_stores(corpus: str) -> CorpusStores:
    """Store names of the corpus named ``corpus``: ``corpus``, ``corpus-runs``, ``corpus-view``,
    ``corpus-units``."""
    return CorpusStores(corpus, f"{corpus}-runs", f"{corpus}-view", f"{corpus}-units")


def corpus_name(grid_name: str) -> str:
    """The name of the corpus a grid builds: ``lr-corpus-<grid>``."""
    return f"lr-corpus-{grid_name}"


def corpus_names(grid_name: str) -> tuple[str, str, str]:
    """Store names of a grid's corpus: observables (long), runs, classifier view (wide)."""
    stores = corpus_stores(corpus_name(grid_name))
    return stores.observables, stores.runs, stores.view
