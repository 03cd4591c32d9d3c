"""``extract``: a model's activations on a stimulus set, as a content-addressed ``activations`` store.

``goalstore extract MODEL STIMULI`` (:func:`goalstore.api.extract`) runs this recipe through
:func:`goalstore.api.ensure`: ``check`` resolves the entries (a ``model`` and a ``stimuli`` entry),
computes the extraction key (:mod:`goalstore.activations.key`) from catalog metadata alone, and —
unless a store with that key is already registered — checks the layer names, time steps, device and
images.  The store is ``act-<model>-<stimuli>-<key[:10]>``; it is cached when its catalog entry
carries the same ``extraction_key`` (no torch import, no data opened on that path).  Other recipes
(e.g. predictivity) require an extraction through :func:`extraction_params`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from goalstore.errors import AnalysisInputError
from goalstore.recipes import Product, Recipe, check_entry, param

DEFAULT_PCA_FIT = "embedded-objects"


@dataclass(frozen=True)
class Extract:
    model: str = param("", help="model store (kind model)")
    stimuli: str = param("", help="stimuli store (kind stimuli)")
    layers: str = param("", help="comma-separated layer names (default: every observed layer)")
    time_steps: int = param(0, help="time steps of a recurrent model (0: its default)")
    reduce: str = param("none", help="none, pca:K or random:K (per layer)")
    pca_fit: str = param(DEFAULT_PCA_FIT, help="stimuli store the PCA is fitted on")
    seed: int = param(0, help="seed of the PCA's randomized SVD / the random projection")
    batch_size: int = param(64, help="stimuli per forward pass (not part of the key)")
    device: str = param("auto", help="auto, cpu or cuda (not part of the key)")
    workers: int = param(1, help="local dask.distributed workers (not part of the key)")
    scheduler: str = param("", help="address of a dask.distributed scheduler (not part of the key)")
    key: str = param("", help="the extraction key (filled in by the check)")


def _layers(text: str) -> tuple[str, ...]:
    return tuple(sorted({part.strip() for part in str(text).split(",") if part.strip()}))


def request_for(p: Extract, root: Any) -> Any:
    """The :class:`~goalstore.activations.key.ExtractionRequest` of ``p`` from catalog metadata alone."""
    from goalstore import entries
    from goalstore.activations.key import ExtractionRequest, parse_reduce
    from goalstore.activations.preprocess import preprocessing_spec

    check_entry(p.model, "model", root)
    check_entry(p.stimuli, "stimuli", root)
    try:
        method, _ = parse_reduce(p.reduce)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    if p.time_steps < 0 or p.batch_size < 1:
        raise AnalysisInputError(f"--time-steps {p.time_steps} / --batch-size {p.batch_size}: expected "
                                 "time steps ≥ 0 and a batch size ≥ 1")
    model = entries.describe(p.model, root)
    input_shape = model.get("input_shape") or entries.open(p.model, root).attrs["input_shape"]
    fit_checksum = ""
    if method == "pca":
        check_entry(p.pca_fit, "stimuli", root)
        fit_checksum = str(entries.describe(p.pca_fit, root).get("checksum"))
    return ExtractionRequest(
        model_weights_hash=str(model["weights_hash"]), architecture=str(model["architecture"]),
        architecture_args=dict(model["architecture_args"]),
        stimuli_checksum=str(entries.describe(p.stimuli, root).get("checksum")),
        preprocessing=preprocessing_spec(input_shape, dict(model.get("training") or {})),
        layers=_layers(p.layers), time_steps=int(p.time_steps), reduce=p.reduce.strip().lower(),
        pca_fit_checksum=fit_checksum, seed=int(p.seed))


def store_name_of(p: Extract) -> str:
    from goalstore.activations.key import store_name

    if not p.key:
        raise AnalysisInputError("extract: no extraction key (run the recipe's check first)")
    return store_name(p.model, p.stimuli, p.key)


def check_images(ds: Any, name: str) -> None:
    """Refuse a stimuli entry whose ``image`` is not uint8 stimulus × channel × height × width."""
    image = ds.get("image") if hasattr(ds, "data_vars") else None
    if image is None:
        raise AnalysisInputError(f"entry {name!r}: no variable 'image'; expected a stimuli store")
    if tuple(image.dims) != ("stimulus", "channel", "height", "width") or str(image.dtype) != "uint8":
        raise AnalysisInputError(f"entry {name!r}: variable 'image' is {image.dtype} with dims "
                                 f"{tuple(image.dims)}; expected uint8 (stimulus, channel, height, width)")


def check_extract(p: Extract, root: Any) -> Extract:
    """Resolve and refuse bad input; fill in the key.  A registered store with the same key needs no more
    checking (it was checked when it was built), so a cache hit never imports torch."""
    from goalstore.activations.key import extraction_key, store_name

    key = extraction_key(request_for(p, root))
    meta = root.registered(store_name(p.model, p.stimuli, key))
    if meta is not None and meta.get("extraction_key") == key:
        return dataclasses.replace(p, key=key)
    from builders.device import resolve_device
    from goalstore import entries
    from goalstore.activations.extractor import probe
    from goalstore.activations.networks import network_from_weights, resolve_layers

    try:
        resolve_device(p.device)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    if p.workers < 1:
        raise AnalysisInputError(f"--workers {p.workers}: expected at least 1")
    weights = entries.open(p.model, root)
    module = network_from_weights(weights)  # refuses weights that do not fit the architecture
    layers = resolve_layers(module, list(_layers(p.layers)))
    probe(module, layers, weights.attrs["input_shape"], p.time_steps)
    check_images(entries.open(p.stimuli, root), p.stimuli)
    if p.reduce.startswith("pca"):
        check_images(entries.open(p.pca_fit, root), p.pca_fit)
    return dataclasses.replace(p, key=key)


def _open_entry(name: str, home: str) -> Any:
    """Entry ``name`` of the store root ``home`` (a picklable opener for worker processes)."""
    from goalstore import entries
    from goalstore.store import StoreRoot

    return entries.open(name, StoreRoot(home, create=False))


def _given(obj: Any) -> Any:
    return obj


def _activation_attrs(p: Extract, weights: Any, request: Any, layers: list[str], n_time: int) -> dict[str, Any]:
    from goalstore._version import __version__
    from goalstore.activations.extractor import TIME_STEP_MS, preprocessing_attr
    from goalstore.activations.key import EXTRACTOR_VERSION
    from goalstore.schema import store_attrs

    m = weights.attrs
    return store_attrs(
        "activations", species="model", modality="model activations",
        source=f"goalstore extract: model {p.model}, stimuli {p.stimuli}", license=m["license"],
        citation=m["citation"], description=f"activations of {p.model} ({m['architecture']}) on {p.stimuli}",
        model=p.model, architecture=m["architecture"], model_weights_hash=request.model_weights_hash,
        stimuli=p.stimuli, stimuli_checksum=request.stimuli_checksum,
        preprocessing=preprocessing_attr(request.preprocessing), layers=list(layers),
        time_steps=int(p.time_steps), time_bins=int(n_time), time_step_ms=TIME_STEP_MS,
        reduce=request.reduce, pca_fit=p.pca_fit if request.reduce.startswith("pca") else "",
        pca_fit_checksum=request.pca_fit_checksum, seed=int(p.seed), extraction_key=p.key,
        extractor_version=EXTRACTOR_VERSION, goalstore_version=__version__)


def produce_extract(root: Any, p: Extract) -> dict[str, Product]:
    import shutil

    import numpy as np
    import xarray as xr

    from builders.dask_client import dask_client
    from goalstore import entries
    from goalstore.activations import extractor
    from goalstore.activations.key import extraction_key, parse_reduce
    from goalstore.activations.networks import network_from_weights, resolve_layers

    request = request_for(p, root)
    if extraction_key(request) != p.key:
        raise AnalysisInputError(f"extract {p.model} {p.stimuli}: the model or stimuli changed since the "
                                 "request was checked (extraction key differs); run it again")
    scratch = root.scratch / "extract"
    scratch.mkdir(parents=True, exist_ok=True)
    for done in scratch.glob("*.done"):  # markers of extractions already adopted into a store
        if not done.with_suffix(".zarr").exists():
            shutil.rmtree(done, ignore_errors=True)
            done.with_suffix(".reduce.npz").unlink(missing_ok=True)
    weights = entries.open(p.model, root)
    module = network_from_weights(weights)
    layers = resolve_layers(module, list(request.layers))
    shapes = extractor.probe(module, layers, weights.attrs["input_shape"], p.time_steps)
    stimuli = entries.open(p.stimuli, root)
    check_images(stimuli, p.stimuli)
    method, _ = parse_reduce(request.reduce)
    reduction_path = scratch / f"{p.key}.reduce.npz"
    if method != "none" and not reduction_path.exists():
        reduction_for(p, module, shapes, request, root).save(reduction_path)
    if method != "none":
        from goalstore.activations.reduction import Reduction

        components = Reduction.load(reduction_path).components()
    path = scratch / f"{p.key}.zarr"
    n_time = shapes[0].firings
    batch_size = int(p.batch_size)
    if path.exists():  # resuming: keep the chunking (= batch size) the extraction started with
        batch_size = int(xr.open_zarr(path, consolidated=True)["activation"].encoding["chunks"][0])
    else:
        coords: dict[str, Any] = {k_: (("stimulus",), v.values, v.attrs) for k_, v in stimuli.coords.items()
                                  if v.dims == ("stimulus",)}
        for k_, (dims, values, attrs) in list(coords.items()):
            if values.dtype == object:
                coords[k_] = (dims, values.astype(str), attrs)
        units = extractor.unit_coords(p.model, shapes, components if method != "none" else None)
        coords.update({k_: (("unit",), v) for k_, v in units.items()})
        if n_time > 1:  # step t: [t, t + 1) · TIME_STEP_MS
            steps = np.arange(n_time) * extractor.TIME_STEP_MS
            coords["time_bin_start"] = (("time_bin",), steps, {"units": "ms"})
            coords["time_bin_end"] = (("time_bin",), steps + extractor.TIME_STEP_MS, {"units": "ms"})
        extractor.create_zarr(path, coords, _activation_attrs(p, weights, request, layers, n_time),
                              stimuli.sizes["stimulus"], len(units["unit_id"]), n_time, batch_size)
    home = str(root.path)
    with dask_client(p.workers, p.scheduler or None) as client:
        if client is None:  # in process: the entries already open
            openers = (functools.partial(_given, weights), functools.partial(_given, stimuli))
        else:  # worker processes open them by name
            openers = (functools.partial(_open_entry, p.model, home),
                       functools.partial(_open_entry, p.stimuli, home))
        job = extractor.Job(str(path), *openers, tuple(layers), int(p.time_steps), request.preprocessing,
                            int(stimuli.sizes["stimulus"]), batch_size, p.device,
                            str(reduction_path) if method != "none" else "")
        extractor.run(job, client)
    ds = xr.open_zarr(path, consolidated=True)
    return {store_name_of(p): Product(ds, "activations", "zarr", adopt=str(path))}


def reduction_for(p: Extract, module: Any, shapes: list[Any], request: Any, root: Any) -> Any:
    """The fitted reduction of ``p`` (None for ``none``): a PCA fitted on the ``pca_fit`` store's images,
    or a seeded random projection."""
    from goalstore import entries
    from goalstore.activations import extractor
    from goalstore.activations.key import parse_reduce
    from goalstore.activations.reduction import fit_pca, random_projection

    method, k = parse_reduce(request.reduce)
    layers = [s.name for s in shapes]
    if method == "pca":
        fit = entries.open(p.pca_fit, root)["image"].values
        acts = extractor.layer_activations(module, fit, layers, request.preprocessing, p.time_steps)
        return fit_pca({n: a.reshape(-1, a.shape[-1]) for n, a in acts.items()}, k, p.seed)
    if method == "random":
        return random_projection({s.name: s.units for s in shapes}, k, p.seed)
    return None


def recheck(name: str, root: Any, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Re-extract a seeded sample of ``n`` stimuli of activations store ``name`` with its recorded
    model, stimuli, preprocessing, layers and reduction, and compare with the stored values
    (:func:`goalstore.activations.recheck.compare`); returns (problems, notes)."""
    import numpy as np

    from goalstore import entries
    from goalstore.activations import extractor
    from goalstore.activations.networks import network_from_weights
    from goalstore.activations.recheck import compare, sample_indices

    stored = entries.open(name, root)
    a = stored.attrs
    if a.get("kind") != "activations" or "extraction_key" not in a:
        return [], [f"recheck: {name} is not an extracted activations store; skipped"]
    p = Extract(model=a["model"], stimuli=a["stimuli"], layers=",".join(np.atleast_1d(a["layers"])),
                time_steps=int(a.get("time_steps", 0)), reduce=a["reduce"], pca_fit=a.get("pca_fit") or
                DEFAULT_PCA_FIT, seed=int(a.get("seed", 0)), key=a["extraction_key"])
    request = request_for(p, root)
    if (request.model_weights_hash, request.stimuli_checksum) != (a["model_weights_hash"],
                                                                  a["stimuli_checksum"]):
        return [], [f"recheck: model {p.model!r} or stimuli {p.stimuli!r} changed since the extraction; "
                    "the stored values cannot be recomputed from the current versions"]
    weights = entries.open(p.model, root)
    module = network_from_weights(weights)
    layers = [str(v) for v in np.atleast_1d(a["layers"])]
    shapes = extractor.probe(module, layers, weights.attrs["input_shape"], p.time_steps)
    reduction = reduction_for(p, module, shapes, request, root)
    index = sample_indices(stored.sizes["stimulus"], n, seed)
    images = entries.open(p.stimuli, root)["image"].isel(stimulus=index).values
    fresh = extractor.layer_activations(module, images, layers, request.preprocessing, p.time_steps)
    problems = []
    values = stored["activation"].isel(stimulus=index)
    for layer in layers:
        got = fresh[layer]  # n × time × units
        if reduction is not None:
            got = reduction.apply(layer, got)
        kept = values.isel(unit=np.flatnonzero(stored["layer"].values == layer)).values
        kept = kept if kept.ndim == 3 else kept[..., None]
        problem = compare(np.moveaxis(got, 1, 2), kept, layer)
        if problem:
            problems.append(f"recheck: {problem}")
    return problems, [f"recheck: {len(index)} stimuli re-extracted (seed {seed}), {len(layers)} layer(s)"]


def extraction_params(root: Any, model: str, stimuli: str, **options: Any) -> tuple[dict[str, Any], str]:
    """The parameters of the ``extract`` recipe for ``model`` on ``stimuli`` (``options``: any other
    parameter), checked and keyed, and the name of the store they make — for recipes that require an
    extraction (``Recipe.requires``) and then open it."""
    from goalstore.recipes import as_dict, get_recipe

    spec = get_recipe("extract")
    typed = spec.check(spec.resolve({"model": model, "stimuli": stimuli, **options}), root)
    return as_dict(typed), store_name_of(typed)


def _inputs(p: Extract) -> list[str]:
    return [p.model, p.stimuli, *([p.pca_fit] if p.reduce.strip().lower().startswith("pca") else [])]


RECIPES = [
    Recipe("extract", produce_extract, outputs=lambda p: [(store_name_of(p), "zarr")], inputs=_inputs,
           parameters=Extract, check=check_extract, build_check=True, exclusive=("workers", "scheduler"),
           cached=lambda p, meta: meta.get("extraction_key") == p.key,
           description="a model's activations on a stimulus set (content-addressed; goalstore extract)"),
]

