"""Recipes: named, deterministic producers of the stores goalstore builds itself.

``goalstore build RECIPE`` runs ``goalstore produce RECIPE …`` through
``datalad run``, so the command that made a store is in its history and
``goalstore rebuild`` can re-execute it.  A recipe returns the objects to store
(one or more, named); it never writes: the store root does, atomically and
validated.  Inputs it reads from the store root are declared to ``datalad run``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError, EntryNotFoundError, GoalstoreError


@dataclass(frozen=True)
class Product:
    """One store a recipe produces."""

    obj: Any
    kind: str
    fmt: str = "zarr"


@dataclass(frozen=True)
class Recipe:
    """How to produce stores: ``produce(home, **params) -> {store name: Product}``;
    ``outputs(**params)`` names them (with format) before they are made, and
    ``inputs(**params)`` names the catalog entries they read."""

    name: str
    produce: Callable[..., dict[str, Product]]
    outputs: Callable[..., list[tuple[str, str]]]
    inputs: Callable[..., list[str]] = field(default=lambda **_: [])
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def _flag(value: Any) -> bool:
    """A boolean recipe parameter, also from its text form ("true", "False", "0" …)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# --------------------------------------------------------------- demo recording
def _demo_recording(home: Any, seed: int = 0) -> dict[str, Product]:
    from goalstore.sources.virtual_animals import virtual_animals

    ds = virtual_animals(seed=seed)
    ds.attrs["goalstore_version"] = __version__
    return {"demo-recording": Product(ds, "recording")}


def _demo_model(home: Any, seed: int = 0) -> dict[str, Product]:
    from goalstore.sources.virtual_animals import virtual_model

    ds = virtual_model(seed=seed, name="demo-model")  # matches demo-recording's stimuli and features
    ds.attrs["goalstore_version"] = __version__
    return {"demo-model": Product(ds, "activations")}


# ------------------------------------------------------------ consistency
def _consistency_name(recording: str, model: str = "", pooled: bool = False) -> str:
    return f"consistency-{recording}" + (f"-{model}" if model else "") + ("-pooled" if pooled else "")


def _consistency(home: Any, recording: str = "demo-recording", mappings: str = "ridge", pooled: bool = False,
                 n_splits: int = 10, train_fraction: float = 0.5, stratify: str = "", n_draws: int = 100,
                 seed: int = 0, temporal: str = "per_bin", model: str = "") -> dict[str, Product]:
    import goalstore
    from goalstore.analyses.consistency import consistency_analysis
    from goalstore.analyses.stimulus_splits import SplitScheme

    data = goalstore.open(str(recording), home=home)
    activations = goalstore.open(str(model), home=home) if model else None
    modes = ("per_bin", "fixed") if temporal == "both" else tuple(t for t in str(temporal).split(",") if t)
    scheme = SplitScheme(int(n_splits), float(train_fraction), str(stratify) or None, int(seed))
    result = consistency_analysis(data, tuple(m for m in str(mappings).split(",") if m), _flag(pooled), scheme,
                                  int(n_draws), int(seed), modes, activations, progress=True)
    result.attrs.update({k: str(data.attrs.get(k, "unknown")) for k in ("species", "modality", "license",
                                                                         "citation")})
    result.attrs.update({"recording": str(recording), "model_store": str(model),
                         "kind": "result", "source": "goalstore.analyses.consistency",
                         "schema_version": data.attrs.get("schema_version", ""),
                         "analysis": "inter-animal consistency" + (" and model predictivity" if model else ""),
                         "goalstore_version": __version__})
    return {_consistency_name(str(recording), str(model), _flag(pooled)): Product(result, "result")}


# ------------------------------------------------------------------ spatial
def _demo_rate_maps(home: Any, seed: int = 0) -> dict[str, Product]:
    from goalstore.sources.rate_maps import synthetic_rate_maps

    ds = synthetic_rate_maps(seed=int(seed))
    ds.attrs["goalstore_version"] = __version__
    return {"demo-rate-maps": Product(ds, "recording")}


def _spatial_scores(home: Any, maps: str = "demo-rate-maps", field_threshold: float = 0.3,
                    min_field_bins: int = 8, n_shuffles: int = 100, seed: int = 0) -> dict[str, Product]:
    import goalstore
    from goalstore.analyses.spatial import spatial_scores

    data = goalstore.open(str(maps), home=home)
    result = spatial_scores(data, field_threshold=float(field_threshold), min_field_bins=int(min_field_bins),
                            n_shuffles=int(n_shuffles), seed=int(seed), progress=True)
    result.attrs.update({k: str(data.attrs.get(k, "unknown")) for k in ("species", "modality", "license",
                                                                         "citation")})
    result.attrs.update({"kind": "result", "source": "goalstore.analyses.spatial", "maps": str(maps),
                         "schema_version": data.attrs.get("schema_version", ""),
                         "goalstore_version": __version__, "analysis": "grid and border scores"})
    return {f"spatial-scores-{maps}": Product(result, "result")}


# ------------------------------------------------------ Melander et al. synapses
def _melander(cell_type: str | None = None, variant: str | None = None):
    def produce(home: Any) -> dict[str, Product]:
        from goalstore.sources import melander2021

        if cell_type:
            ds = melander2021.load_weight_matrix(cell_type)
        else:
            ds = melander2021.load_dendrite_variant(variant)
        ds.attrs["goalstore_version"] = __version__
        return {f"melander2021-{cell_type or variant}": Product(ds, "recording")}

    return produce


def _cell_types(cell_types: str) -> list[str]:
    from goalstore.sources.melander2021 import CELL_TYPES

    chosen = list(CELL_TYPES) if cell_types in ("all", "") else cell_types.split(",")
    for cell_type in chosen:
        if cell_type not in CELL_TYPES:
            raise AnalysisInputError(f"cell type {cell_type!r}: unknown; expected one of "
                                     f"{', '.join(CELL_TYPES)} or all")
    return chosen


def _synapse_dynamics(home: Any, cell_types: str = "all", n_bootstrap: int = 30,
                      seed: int = 0) -> dict[str, Product]:
    import goalstore
    from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig, synapse_dynamics

    config = SynapseDynamicsConfig(n_bootstrap=int(n_bootstrap), seed=int(seed))
    out = {}
    for cell_type in _cell_types(str(cell_types)):
        data = goalstore.open(f"melander2021-{cell_type}", home=home).load()
        result = synapse_dynamics(data, config)
        result.attrs["input"] = f"melander2021-{cell_type}"
        out[f"synapse-dynamics-{cell_type}"] = Product(result, "result")
    return out


def _grid_name(preset: str) -> str:
    from builders.grid import load_grid

    try:
        return load_grid(str(preset)).name
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None


def _lr_corpus_outputs(preset: str = "tiny", **_: Any) -> list[tuple[str, str]]:
    from builders.grid import load_grid

    name = _grid_name(preset)
    outputs = [(f"lr-corpus-{name}{suffix}", "parquet") for suffix in ("", "-runs", "-view")]
    if load_grid(str(preset)).keep_raw_layers:
        outputs.append((f"lr-corpus-{name}-units", "zarr"))
    return outputs


def _lr_corpus(home: Any, preset: str = "tiny", device: str = "cpu", workers: int = 1,
               scheduler: str = "") -> dict[str, Product]:
    import hashlib
    import json

    from builders.grid import load_grid
    from builders.sweep import load_runs, run_sweep
    from goalstore.lr_corpus import classifier_view, corpus_names, runs_table, units_dataset, view_frame
    from goalstore.store import StoreRoot

    grid = load_grid(str(preset))
    root = StoreRoot(home, create=False)
    key = hashlib.sha256(json.dumps(grid.as_dict(), sort_keys=True, default=list).encode()).hexdigest()[:10]
    work_dir = root.scratch / "sweeps" / f"{grid.name}-{key}"
    run_ids = run_sweep(grid.runs(), work_dir, str(device), int(workers) or None, str(scheduler) or None)
    observables, records = load_runs(work_dir, run_ids)
    obs_name, runs_name, view_name = corpus_names(grid.name)
    return {obs_name: Product(observables, "lr_observables", "parquet"),
            runs_name: Product(runs_table(records), "lr_runs", "parquet"),
            view_name: Product(view_frame(classifier_view(observables)), "lr_view", "parquet"),
            **({f"lr-corpus-{grid.name}-units": Product(units, "corpus", "zarr")}
               if (units := units_dataset(work_dir, records)) is not None else {})}


def _lr_identify(home: Any, path: str = "", trust_pickle: bool = False,
                 name: str = "lr-corpus-lr-identify") -> dict[str, Product]:
    import pyarrow as pa

    from goalstore.lr_corpus import FINITE_24, view_frame
    from goalstore.sources.lr_identify import lr_identify_view, observable_batches, read_lr_identify

    corpus = read_lr_identify(path, _flag(trust_pickle))
    schema = next(observable_batches(corpus, max_rows=1)).schema
    stream = pa.RecordBatchReader.from_batches(schema, observable_batches(corpus))  # bounded memory
    return {str(name): Product(stream, "lr_observables", "parquet"),
            f"{name}-view": Product(view_frame(lr_identify_view(corpus, FINITE_24)), "lr_view", "parquet")}


def _lr_identification(home: Any, corpus: str = "lr-corpus-tiny", classifiers: str = "rf,svm",
                       observables: str = "all,weights,activations,activity_change", holdouts: str = "",
                       periods: str = "", n_samples: str = "3", fast: bool = False, seed: int = 0,
                       workers: int = 1, scheduler: str = "", fractions: str = "",
                       noise: str = "", n_splits: int = 10, cv: int = 5,
                       relative_noise: bool = False) -> dict[str, Product]:
    import goalstore
    from goalstore.analyses.lr_identification import IdentificationConfig, identify_learning_rules

    def items(text: Any) -> tuple[str, ...]:
        return tuple(t for t in str(text).split(",") if t)

    config = IdentificationConfig(classifiers=items(classifiers), observable_sets=items(observables),
                                  holdouts=items(holdouts),
                                  periods_epochs=tuple(int(p) for p in items(periods)),
                                  n_samples=tuple(int(n) for n in items(n_samples)), fast=_flag(fast),
                                  unit_fractions=tuple(float(f) for f in items(fractions)),
                                  noise_levels=tuple(float(s) for s in items(noise)),
                                  relative_noise=_flag(relative_noise), seed=int(seed),
                                  n_splits=int(n_splits), cv=int(cv))
    view = goalstore.lr_classifier_view(str(corpus), home=home)
    performance = None
    try:
        runs = goalstore.open(f"{corpus}-runs", home=home).compute().set_index("run_id")
        measures = ["train_loss", "val_loss", "train_accuracy", "val_accuracy"]
        final = runs[measures].map(lambda curve: float(curve[-1]) if len(curve) else float("nan"))
        performance = final.reindex(view.groups["run_id"]).to_numpy(dtype=float)
    except GoalstoreError:  # no runs table (e.g. an imported corpus): the control is not defined
        performance = None
    units = goalstore.open(f"{corpus}-units", home=home) if config.unit_fractions else None
    executor, cluster = None, None
    if scheduler or int(workers) > 1:
        from dask.distributed import Client, LocalCluster

        if scheduler:
            executor = Client(str(scheduler))
        else:
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, dashboard_address=None)
            executor = Client(cluster)
    try:
        result = identify_learning_rules(view.cube, view.statistics, view.epochs, view.groups, config, executor,
                                         performance, units)
    finally:
        if executor is not None:
            executor.close()
        if cluster is not None:
            cluster.close()
    result.attrs["corpus"] = str(corpus)
    return {f"lr-identification-{corpus}": Product(result, "result")}


def _recipes() -> dict[str, Recipe]:
    from goalstore.sources.melander2021 import CELL_TYPES, variants

    recipes = [
        Recipe("demo-recording", _demo_recording, outputs=lambda **_: [("demo-recording", "zarr")],
               params={"seed": 0},
               description="embedded default store: three virtual animals (V4/IT), 48 stimuli, "
                           "4 time bins, 8 trials"),
        Recipe("demo-model", _demo_model, outputs=lambda **_: [("demo-model", "zarr")], params={"seed": 0},
               description="embedded default model: virtual-model activations matching demo-recording "
                           "(layers of similarity 0, 0.5, 1 to the animals' shared features)"),
        Recipe("consistency", _consistency,
               outputs=lambda recording="demo-recording", model="", pooled=False, **_: [
                   (_consistency_name(str(recording), str(model), _flag(pooled)), "zarr")],
               inputs=lambda recording="demo-recording", model="", **_: [str(recording)] + ([str(model)]
                                                                                           if model else []),
               params={"recording": "demo-recording", "mappings": "ridge", "pooled": False, "n_splits": 10,
                       "train_fraction": 0.5, "stratify": "", "n_draws": 100, "seed": 0,
                       "temporal": "per_bin", "model": ""},
               description="noise-corrected inter-animal consistency (and model predictivity per layer)"),
        Recipe("demo-rate-maps", _demo_rate_maps, outputs=lambda **_: [("demo-rate-maps", "zarr")],
               params={"seed": 0},
               description="embedded synthetic rate maps: 4 hexagonal grid, 4 wall and 4 random cells"),
        Recipe("spatial-scores", _spatial_scores,
               outputs=lambda maps="demo-rate-maps", **_: [(f"spatial-scores-{maps}", "zarr")],
               inputs=lambda maps="demo-rate-maps", **_: [str(maps)],
               params={"maps": "demo-rate-maps", "field_threshold": 0.3, "min_field_bins": 8,
                       "n_shuffles": 100, "seed": 0},
               description="grid and border scores of every cell of a rate-map store, with a shuffle test"),
        Recipe("synapse-dynamics", _synapse_dynamics,
               outputs=lambda cell_types="all", **_: [(f"synapse-dynamics-{c}", "zarr")
                                                      for c in _cell_types(str(cell_types))],
               inputs=lambda cell_types="all", **_: [f"melander2021-{c}"
                                                     for c in _cell_types(str(cell_types))],
               params={"cell_types": "all", "n_bootstrap": 30, "seed": 0},
               description="Markov-chain and Kesten-process fits of synaptic weights per cell type"),
        Recipe("lr-corpus", _lr_corpus,
               outputs=_lr_corpus_outputs,
               params={"preset": "tiny", "device": "cpu", "workers": 1, "scheduler": ""},
               description="learning-rule trajectory corpus: train the grid, record observables"),
        Recipe("lr-identification", _lr_identification,
               outputs=lambda corpus="lr-corpus-tiny", **_: [(f"lr-identification-{corpus}", "zarr")],
               inputs=lambda corpus="lr-corpus-tiny", **_: [f"{corpus}-view", str(corpus)],
               params={"corpus": "lr-corpus-tiny", "classifiers": "rf,svm",
                       "observables": "all,weights,activations,activity_change", "holdouts": "",
                       "periods": "", "n_samples": "3", "fast": False, "seed": 0, "workers": 1,
                       "scheduler": "", "fractions": "", "noise": "", "n_splits": 10, "cv": 5,
                       "relative_noise": False},
               description="classify learning rules from a corpus' observable trajectories"),
        Recipe("lr-identify", _lr_identify,
               outputs=lambda name="lr-corpus-lr-identify", **_: [(str(name), "parquet"),
                                                                  (f"{name}-view", "parquet")],
               params={"path": "", "trust_pickle": False, "name": "lr-corpus-lr-identify"},
               description="import the published lr-identify dataset.pkl into a corpus store"),
    ]
    for cell_type in CELL_TYPES:
        name = f"melander2021-{cell_type}"
        recipes.append(Recipe(name, _melander(cell_type=cell_type),
                              outputs=lambda name=name, **_: [(name, "zarr")],
                              description=f"quantile-normalised {cell_type} weights (Melander 2021)"))
    for variant in variants():
        name = f"melander2021-{variant}"
        recipes.append(Recipe(name, _melander(variant=variant),
                              outputs=lambda name=name, **_: [(name, "zarr")],
                              description=f"per-dendrite weights, variant {variant} (Melander 2021)"))
    return {r.name: r for r in recipes}


RECIPES: dict[str, Recipe] = _recipes()


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise EntryNotFoundError(name, difflib.get_close_matches(name, list(RECIPES), n=5, cutoff=0.3)
                                 or list(RECIPES))
    return RECIPES[name]
