"""Learning-rule corpora: trained from a grid (``lr-corpus``), or imported from the published
lr-identify ``dataset.pkl`` (``lr-identify``, the recipe of ``goalstore import lr-identify``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore.errors import AnalysisInputError
from goalstore.lr_corpus import corpus_name, corpus_stores
from goalstore.recipes import Product, Recipe, param


# --------------------------------------------------------------- lr-corpus
@dataclass(frozen=True)
class LrCorpus:
    preset: str = param("tiny", build_option=True, help="tiny, paper or a grid file (JSON/YAML)")
    device: str = param("cpu", build_option=True, help="cpu, cuda or auto")
    workers: int = param(1, build_option=True, help="local dask.distributed workers")
    scheduler: str = param("", build_option=True, help="address of a dask.distributed scheduler")


def _grid(preset: str) -> Any:
    from builders.grid import load_grid

    try:
        return load_grid(preset)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None


def check_corpus(p: LrCorpus, root: Any) -> LrCorpus:
    from builders.device import resolve_device

    try:
        resolve_device(p.device)  # refuse an unusable device before anything runs
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    return dataclasses.replace(p, preset=str(Path(p.preset).resolve())) if Path(p.preset).is_file() else p


def corpus_outputs(p: LrCorpus) -> list[tuple[str, str]]:
    grid = _grid(p.preset)
    stores = corpus_stores(corpus_name(grid.name))
    outputs = [(name, "parquet") for name in (stores.observables, stores.runs, stores.view)]
    if grid.keep_raw_layers:
        outputs.append((stores.units, "zarr"))
    if grid.keep_final_weights:  # one model store per run
        outputs += [(run_model_name(run.run_id), "safetensors") for run in grid.runs()]
    return outputs


def run_model_name(run_id: str) -> str:
    """The model store of a run's final weights."""
    return f"model-{run_id}"


def run_models(work_dir: Path, records: list[dict[str, Any]], grid_name: str) -> dict[str, Product]:
    """The model stores of the runs' final weights (``weights.safetensors`` + ``network.json`` of each run
    directory): architecture config, the run's config as ``training``, its last metrics."""
    import json
    import math

    import torch
    from safetensors.torch import load_file

    from builders.sweep import NETWORK_FILE, WEIGHTS_FILE
    from goalstore._version import __version__
    from goalstore.activations.networks import build_untrained, weights_from_network

    out = {}
    for record in records:
        run_dir = work_dir / record["run_id"]
        network = json.loads((run_dir / NETWORK_FILE).read_text())
        module = build_untrained(network["architecture"], network["architecture_args"])
        module.load_state_dict(load_file(str(run_dir / WEIGHTS_FILE)), strict=True)
        module.eval()
        curves = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
        metrics = {k: record[k][-1] for k in curves
                   if record.get(k) and isinstance(record[k][-1], float) and math.isfinite(record[k][-1])}
        training = {"recipe": "lr-corpus", "grid": grid_name, "run_id": record["run_id"],
                    "status": record["status"], "goalstore_version": __version__,
                    **({"input_mean": network["input_mean"], "input_std": network["input_std"]}
                       if "input_mean" in network else
                       {"input_normalisation": f"as task {record['task']!r} of builders.training_tasks"}),
                    **{k: record[k] for k in ("task", "learning_rule", "batch_size", "model_seed",
                                              "data_seed", "epochs", "width")}}
        with torch.no_grad():
            out[run_model_name(record["run_id"])] = Product(weights_from_network(
                module, network["architecture"], network["architecture_args"], network["input_shape"],
                training=training, metrics=metrics, source=f"goalstore recipe lr-corpus (grid {grid_name})",
                license="CC0-1.0", citation="goalstore (this store root's history)",
                description=f"final weights of learning-rule run {record['run_id']}"), "model", "safetensors")
    return out


def produce_corpus(root: Any, p: LrCorpus) -> dict[str, Product]:
    import hashlib
    import json

    from builders.grid import load_grid
    from builders.sweep import load_runs, run_sweep
    from goalstore.lr_corpus import classifier_view, runs_table, units_dataset, view_frame

    grid = load_grid(p.preset)
    key = hashlib.sha256(json.dumps(grid.as_dict(), sort_keys=True, default=list).encode()).hexdigest()[:10]
    work_dir = root.scratch / "sweeps" / f"{grid.name}-{key}"
    run_ids = run_sweep(grid.runs(), work_dir, p.device, p.workers or None, p.scheduler or None)
    observables, records = load_runs(work_dir, run_ids)
    stores = corpus_stores(corpus_name(grid.name))
    return {stores.observables: Product(observables, "lr_observables", "parquet"),
            stores.runs: Product(runs_table(records), "lr_runs", "parquet"),
            stores.view: Product(view_frame(classifier_view(observables)), "lr_view", "parquet"),
            **({stores.units: Product(units, "corpus", "zarr")}
               if (units := units_dataset(work_dir, records)) is not None else {}),
            **(run_models(work_dir, records, grid.name) if grid.keep_final_weights else {})}


# ------------------------------------------------------------- lr-identify
@dataclass(frozen=True)
class LrIdentifyImport:
    path: str = param("", help="the published dataset.pkl")
    trust_pickle: bool = param(False, help="allow unpickling the file (a pickle can run code)")
    name: str = param("lr-corpus-lr-identify", help="store name of the imported corpus (view: NAME-view)")


def check_import(p: LrIdentifyImport, root: Any) -> LrIdentifyImport:
    """Read and check the pickle first (observable names, shapes, ``X_cat``), so a bad file is refused
    with its own error and exit code before anything runs."""
    from goalstore.sources.lr_identify import read_lr_identify
    from goalstore.store import check_name

    check_name(p.name)
    check_name(corpus_stores(p.name).view)
    path = Path(p.path).resolve()
    read_lr_identify(path, p.trust_pickle)  # decide (refuse untrusted, unreadable or unmappable) before doing
    return dataclasses.replace(p, path=str(path), trust_pickle=True)


def produce_import(root: Any, p: LrIdentifyImport) -> dict[str, Product]:
    import pyarrow as pa

    from goalstore.lr_corpus import FINITE_24, view_frame
    from goalstore.sources.lr_identify import lr_identify_view, observable_batches, read_lr_identify

    corpus = read_lr_identify(p.path, p.trust_pickle)
    schema = next(observable_batches(corpus, max_rows=1)).schema
    stream = pa.RecordBatchReader.from_batches(schema, observable_batches(corpus))  # bounded memory
    return {p.name: Product(stream, "lr_observables", "parquet"),
            corpus_stores(p.name).view: Product(view_frame(lr_identify_view(corpus, FINITE_24)), "lr_view",
                                                "parquet")}


RECIPES = [
    Recipe("lr-corpus", produce_corpus, outputs=corpus_outputs, parameters=LrCorpus, check=check_corpus,
           build_check=True, exclusive=("workers", "scheduler"),
           description="learning-rule trajectory corpus: train the grid, record observables"),
    Recipe("lr-identify", produce_import,
           outputs=lambda p: [(p.name, "parquet"), (corpus_stores(p.name).view, "parquet")],
           parameters=LrIdentifyImport, check=check_import,
           description="import the published lr-identify dataset.pkl into a corpus store "
                       "(goalstore import lr-identify)"),
]
