"""``extract``: a model's activations on a stimulus set, as a content-addressed ``activations`` store.

``goalstore extract MODEL STIMULI`` (:func:`goalstore.api.extract`) runs this recipe through
:func:`goalstore.api.ensure`: ``check`` resolves the entries (a ``model`` and a ``stimuli`` entry),
computes the extraction key (:mod:`goalstore.activations.key`) from catalog metadata alone, and —
unless a store with that key is already registered — checks the layer names, time steps, device and
images.  The store is ``act-<model>-<stimuli>-<key[:10]>``; it is cached when its catalog entry
carries the same ``extraction_key`` (no torch import, no data opened on that path).  Other recipes
(e.g. predictivity) require an extraction through :func:`extraction_params`.

Time axis (:data:`TIMING_PARAMS`).  A recurrent model's step ``t`` is, by default, the bin
``[10·t, 10·(t+1))`` ms.  ``first_step`` drops the steps before it and ``time_start`` puts the first
kept step at that many ms (step ``t`` ↦ ``time_start + 10·(t − first_step)``).  ``align RECORDING``
keeps exactly as many steps as the recording has time bins and gives them its ``time_bin_start`` /
``time_bin_end`` (kept step ``first_step + i`` ↦ the recording's bin ``i``, e.g. 70 + 10·i ms), unrolling
``first_step + bins`` steps when ``time_steps`` is 0.  With ``align``, ``first_step`` defaults to the
step at which the network's deepest layer first responds (its deepest observed layer firing on every
step, a ConvRNN's ``readout``; measured on a seeded noise image: a ConvRNN's layer ``k`` first responds
at step ``k − 1``, one 10 ms conduction delay per layer), so that layer's first response falls in the
recording's first bin — the model's output starts responding when IT does — whichever layers are
extracted (a layer's time axis does not depend on the others requested with it).  ``first_step 0``
keeps the silent steps instead.  ``time_start`` does not go with ``align`` (the recording gives the
times).  A feed-forward model (its layers fire once) gets a time axis from ``time_mapping`` (uniform /
graded, :mod:`goalstore.activations.time_mapping`): the requested layers, in network order, become one
pseudo-layer over the recording's bins (``align``) or ``time_bins`` 10 ms bins from ``time_start``
(``time_steps`` is for recurrent models only).  All of these are in the extraction key.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from goalstore.activations.time_mapping import MAPPINGS
from goalstore.errors import AnalysisInputError
from goalstore.recipes import Product, Recipe, check_entry, param

DEFAULT_PCA_FIT = "embedded-objects"


@dataclass(frozen=True)
class Extract:
    model: str = param("", help="model store (kind model)")
    stimuli: str = param("", help="stimuli store (kind stimuli)")
    layers: str = param("", help="comma-separated layer names (default: every observed layer)")
    time_steps: int = param(0, help="time steps of a recurrent model (0: its default, or with --align as many "
                                    "as the alignment needs)")
    reduce: str = param("none", help="none, pca:K or random:K (per layer)")
    pca_fit: str = param(DEFAULT_PCA_FIT, help="stimuli store the PCA is fitted on")
    seed: int = param(0, help="seed of the PCA's randomized SVD / the random projection / the time mapping's "
                              "unit draws")
    first_step: int = param(-1, help="time steps dropped before the first kept one (-1: none, or with --align "
                                     "the step at which the network's deepest layer first responds)")
    time_start: float = param(0.0, help="ms at which the first kept step (or time bin) starts; one step = "
                                        "10 ms (not with --align)")
    align: str = param("", help="a recording: keep as many steps as its time bins and give them its "
                                "time_bin_start/end (e.g. 70-260 ms)")
    time_mapping: str = param("none", choices=list(MAPPINGS),
                              help="feed-forward models: spread the requested layers over the time bins "
                                   "(--align's, or --time-bins many): uniform or graded")
    time_bins: int = param(0, help="feed-forward models with --time-mapping and no --align: the number of "
                                   "10 ms time bins from --time-start")
    batch_size: int = param(64, help="stimuli per forward pass (not part of the key)")
    device: str = param("auto", help="auto, cpu or cuda (not part of the key)")
    workers: int = param(1, help="local dask.distributed workers (not part of the key)")
    scheduler: str = param("", help="address of a dask.distributed scheduler (not part of the key)")
    key: str = param("", help="the extraction key (filled in by the check)")


#: the parameters that place the steps on the time axis (the CLI's extract takes them from here)
TIMING_PARAMS = ("first_step", "time_start", "align", "time_mapping", "time_bins")


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
    if p.first_step < -1:
        raise AnalysisInputError(f"--first-step {p.first_step}: expected 0 or more (-1: the default)")
    if p.time_mapping not in MAPPINGS:
        raise AnalysisInputError(f"--time-mapping {p.time_mapping!r}: expected {', '.join(MAPPINGS)}")
    if p.align and p.time_start:
        raise AnalysisInputError(f"--time-start {p.time_start:g} with --align {p.align}: the recording gives "
                                 "the bins' times; pass one of them")
    if p.time_bins and (p.align or p.time_mapping == "none" or p.time_bins < 0):
        raise AnalysisInputError(f"--time-bins {p.time_bins}: " + (
            "expected 0 or more" if p.time_bins < 0 else
            f"--align {p.align} gives the bins; pass one of them" if p.align else
            "the number of bins of a --time-mapping (a recurrent model's bins are its --time-steps)"))
    model = entries.describe(p.model, root)
    input_shape = model.get("input_shape") or entries.open(p.model, root).attrs["input_shape"]
    if len(input_shape) != 3:
        raise AnalysisInputError(f"model {p.model!r}: input_shape {list(input_shape)} is a sequence network's "
                                 "[steps, inputs]; expected an image network ([channels, height, width])")
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
        pca_fit_checksum=fit_checksum, seed=int(p.seed),
        first_step=int(p.first_step) if p.align else max(int(p.first_step), 0),
        time_start=float(p.time_start), align=p.align,
        time_bins=aligned_bins(p.align, root) if p.align else mapped_bins(p), time_mapping=p.time_mapping)


def mapped_bins(p: Extract) -> tuple[tuple[float, float], ...]:
    """The (start, end) ms of the ``time_bins`` bins of a time-mapped extraction without ``align``
    (10 ms each from ``time_start``); none otherwise."""
    if p.time_mapping == "none" or p.align:
        return ()
    from goalstore.activations.extractor import TIME_STEP_MS

    return tuple((float(p.time_start) + TIME_STEP_MS * i, float(p.time_start) + TIME_STEP_MS * (i + 1))
                 for i in range(max(int(p.time_bins), 0)))


def aligned_bins(recording: str, root: Any) -> tuple[tuple[float, float], ...]:
    """The (start, end) ms of each time bin of the recording entry ``recording`` (``--align``)."""
    import numpy as np

    from goalstore import entries

    check_entry(recording, "recording", root)
    ds = entries.open(recording, root)
    if "time_bin" not in ds.dims or not {"time_bin_start", "time_bin_end"} <= set(ds.coords):
        raise AnalysisInputError(f"--align {recording}: the recording has no dim 'time_bin' with coordinates "
                                 "time_bin_start / time_bin_end to align the model's steps to")
    starts, ends = (np.asarray(ds[c].values, dtype=float) for c in ("time_bin_start", "time_bin_end"))
    return tuple((float(a), float(b)) for a, b in zip(starts, ends, strict=True))


@dataclass(frozen=True)
class TimeAxis:
    """An extraction's resolved time axis: the steps to unroll, what to keep or map, and the bins."""

    time_steps: int
    timing: Any  #: :class:`goalstore.activations.extractor.Timing`
    shapes: list[Any]  #: the layers' :class:`~goalstore.activations.extractor.LayerShape`
    starts: tuple[float, ...] = ()
    ends: tuple[float, ...] = ()


def time_axis(p: Extract, request: Any, module: Any, layers: list[str], input_shape: Any) -> TimeAxis:
    """Resolve ``p``'s time axis for ``module`` (module docstring), refusing what cannot be done."""
    import numpy as np

    from builders.networks import accepts_time_steps
    from goalstore.activations.extractor import TIME_STEP_MS, Timing, probe, response_onset

    bins = request.time_bins
    recurrent = accepts_time_steps(module)

    def axis(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if bins:
            return tuple(a for a, _ in bins), tuple(b for _, b in bins)
        starts = float(p.time_start) + TIME_STEP_MS * np.arange(n)
        return tuple(starts.tolist()), tuple((starts + TIME_STEP_MS).tolist())

    if p.time_mapping != "none":
        if recurrent:
            raise AnalysisInputError(f"--time-mapping {p.time_mapping}: model {p.model!r} is recurrent (its "
                                     "forward takes time steps); time mappings are for feed-forward models")
        if p.first_step > 0 or p.time_steps:
            what = f"--first-step {p.first_step}" if p.first_step > 0 else f"--time-steps {p.time_steps}"
            raise AnalysisInputError(f"{what}: model {p.model!r} is feed-forward; it has no time steps (the "
                                     "number of bins of a time mapping is --time-bins N or --align's)")
        n_bins = len(bins)
        if n_bins < 1:
            raise AnalysisInputError(f"--time-mapping {p.time_mapping}: pass --align RECORDING or "
                                     "--time-bins N (the number of time bins)")
        shapes = probe(module, layers, input_shape, 0)
        timing = Timing(mapping=p.time_mapping, n_bins=n_bins, seed=int(p.seed))
        return TimeAxis(0, timing, shapes, *axis(n_bins))
    if (bins or p.first_step > 0 or p.time_start) and not recurrent:
        what = f"--align {p.align}" if bins else ("--first-step" if p.first_step > 0 else "--time-start")
        raise AnalysisInputError(f"{what}: model {p.model!r} is feed-forward (its layers fire once); pass "
                                 "--time-mapping uniform or graded to give it time bins")
    first = int(p.first_step)
    if first < 0 and bins:
        anchor, first, steps = response_onset(module, input_shape, int(p.time_steps))
        if first >= steps > 1:
            raise AnalysisInputError(f"layer {anchor!r} (the network's deepest): does not respond within "
                                     f"{steps} time steps; pass --time-steps N (more steps) or --first-step N")
    first = max(first, 0)
    time_steps = int(p.time_steps) or (first + len(bins) if bins else 0)
    shapes = probe(module, layers, input_shape, time_steps)
    firings = shapes[0].firings
    kept = len(bins) if bins else firings - first
    if recurrent and (firings == 1 and (bins or first or p.time_start)):
        raise AnalysisInputError(f"layers {', '.join(layers)}: fire once per forward pass; there are no time "
                                 "steps to drop or align")
    if first + kept > firings or kept < 1:
        raise AnalysisInputError(f"--first-step {first}: the layers fire {firings} times; "
                                 + (f"aligning to {p.align!r} needs {first + len(bins)} time steps (pass "
                                    f"--time-steps {first + len(bins)} or more)" if bins else
                                    "nothing would be kept"))
    timing = Timing(first_step=first, n_steps=len(bins))
    return TimeAxis(time_steps, timing, shapes, *(axis(kept) if firings > 1 else ((), ())))


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

    request = request_for(p, root)
    key = extraction_key(request)
    meta = root.registered(store_name(p.model, p.stimuli, key))
    if meta is not None and meta.get("extraction_key") == key:
        return dataclasses.replace(p, key=key)
    from builders.device import resolve_device
    from builders.networks import accepts_time_steps
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
    if p.time_steps and not accepts_time_steps(module) and p.time_mapping == "none":
        probe(module, layers, weights.attrs["input_shape"], p.time_steps)  # refuses: not recurrent
    time_axis(p, request, module, layers, weights.attrs["input_shape"])
    check_images(entries.open(p.stimuli, root), p.stimuli)
    if p.reduce.startswith("pca"):
        check_images(entries.open(p.pca_fit, root), p.pca_fit)
    return dataclasses.replace(p, key=key)


def _open_entry(name: str, home: str) -> Any:
    """Entry ``name`` of the store root ``home`` (a picklable opener for worker processes; a worker of an
    existing cluster does not hold the build's lock, so it leaves the build's journals alone)."""
    from goalstore import entries
    from goalstore.store import StoreRoot

    return entries.open(name, StoreRoot(home, create=False, recover=False))


def _given(obj: Any) -> Any:
    return obj


def _activation_attrs(p: Extract, weights: Any, request: Any, layers: list[str], n_time: int,
                      axis: TimeAxis, n_mapped: int) -> dict[str, Any]:
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
        time_steps=int(axis.time_steps), time_bins=int(n_time), time_step_ms=TIME_STEP_MS,  # recheck reads them
        first_step=int(axis.timing.first_step), time_start=float(axis.starts[0]) if axis.starts else 0.0,
        align=p.align, time_mapping=p.time_mapping,
        time_mapping_units=int(n_mapped),
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
    axis = time_axis(p, request, module, layers, weights.attrs["input_shape"])
    shapes = axis.shapes
    stimuli = entries.open(p.stimuli, root)
    check_images(stimuli, p.stimuli)
    method, _ = parse_reduce(request.reduce)
    reduction_path = scratch / f"{p.key}.reduce.npz"
    if method != "none" and not reduction_path.exists():
        reduction_for(p, module, shapes, request, root, axis.time_steps).save(reduction_path)
    components = None
    if method != "none":
        from goalstore.activations.reduction import Reduction

        components = Reduction.load(reduction_path).components()
    path = scratch / f"{p.key}.zarr"
    n_time = max(len(axis.starts), 1)
    n_mapped = 0
    batch_size = int(p.batch_size)
    if path.exists():  # resuming: keep the chunking (= batch size) the extraction started with
        batch_size = int(xr.open_zarr(path, consolidated=True)["activation"].encoding["chunks"][0])
    else:
        coords: dict[str, Any] = {k_: (("stimulus",), v.values, v.attrs) for k_, v in stimuli.coords.items()
                                  if v.dims == ("stimulus",)}
        for k_, (dims, values, attrs) in list(coords.items()):
            if values.dtype == object:
                coords[k_] = (dims, values.astype(str), attrs)
        if p.time_mapping != "none":
            counts = [components[s.name] if components else s.units for s in shapes]
            units = mapped_unit_coords(p, layers, counts)
            n_mapped = len(units["unit_id"])
        else:
            units = extractor.unit_coords(p.model, shapes, components)
        coords.update({k_: (("unit",), v) for k_, v in units.items()})
        if n_time > 1:  # the resolved time axis (default: step t is [t, t + 1) · TIME_STEP_MS)
            coords["time_bin_start"] = (("time_bin",), np.asarray(axis.starts, float), {"units": "ms"})
            coords["time_bin_end"] = (("time_bin",), np.asarray(axis.ends, float), {"units": "ms"})
        extractor.create_zarr(path, coords,
                              _activation_attrs(p, weights, request, layers, n_time, axis, n_mapped),
                              stimuli.sizes["stimulus"], len(units["unit_id"]), n_time, batch_size)
    home = str(root.path)
    with dask_client(p.workers, p.scheduler or None) as client:
        if client is None:  # in process: the entries already open
            openers = (functools.partial(_given, weights), functools.partial(_given, stimuli))
        else:  # worker processes open them by name
            openers = (functools.partial(_open_entry, p.model, home),
                       functools.partial(_open_entry, p.stimuli, home))
        job = extractor.Job(str(path), *openers, tuple(layers), axis.time_steps, request.preprocessing,
                            int(stimuli.sizes["stimulus"]), batch_size, p.device,
                            str(reduction_path) if method != "none" else "", axis.timing)
        extractor.run(job, client)
    ds = xr.open_zarr(path, consolidated=True)
    return {store_name_of(p): Product(ds, "activations", "zarr", adopt=str(path))}


def mapped_unit_coords(p: Extract, layers: list[str], unit_counts: list[int]) -> dict[str, Any]:
    """The ``unit`` coords of a time-mapped extraction: ``K`` slots of one pseudo-layer (e.g.
    ``uniform:conv3+conv4``); ``component`` = the slot."""
    import numpy as np

    from goalstore.activations.time_mapping import pseudo_layer

    name = pseudo_layer(p.time_mapping, layers)
    k = int(min(unit_counts))
    return {"unit_id": np.array([f"{p.model}/{name}/{j}" for j in range(k)]), "layer": np.full(k, name),
            "component": np.arange(k), "animal": np.full(k, p.model), "area": np.full(k, name)}


def reduction_for(p: Extract, module: Any, shapes: list[Any], request: Any, root: Any,
                  time_steps: int = 0) -> Any:
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
        acts = extractor.layer_activations(module, fit, layers, request.preprocessing, time_steps)
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
    align, mapping = str(a.get("align", "")), str(a.get("time_mapping", "none"))
    mapped = mapping != "none" and not align  # its bins: time_bins of 10 ms from time_start
    p = Extract(model=a["model"], stimuli=a["stimuli"], layers=",".join(np.atleast_1d(a["layers"])),
                time_steps=int(a.get("time_steps", 0)), reduce=a["reduce"], pca_fit=a.get("pca_fit") or
                DEFAULT_PCA_FIT, seed=int(a.get("seed", 0)), key=a["extraction_key"],
                first_step=int(a.get("first_step", 0)), align=align,
                time_start=0.0 if align else float(a.get("time_start", 0.0)), time_mapping=mapping,
                time_bins=int(a.get("time_bins", 0)) if mapped else 0)
    request = request_for(p, root)
    if (request.model_weights_hash, request.stimuli_checksum) != (a["model_weights_hash"],
                                                                  a["stimuli_checksum"]):
        return [], [f"recheck: model {p.model!r} or stimuli {p.stimuli!r} changed since the extraction; "
                    "the stored values cannot be recomputed from the current versions"]
    weights = entries.open(p.model, root)
    module = network_from_weights(weights)
    layers = [str(v) for v in np.atleast_1d(a["layers"])]
    axis = time_axis(p, request, module, layers, weights.attrs["input_shape"])
    reduction = reduction_for(p, module, axis.shapes, request, root, axis.time_steps)
    index = sample_indices(stored.sizes["stimulus"], n, seed)
    images = entries.open(p.stimuli, root)["image"].isel(stimulus=index).values
    fresh = extractor.layer_activations(module, images, layers, request.preprocessing, axis.time_steps)
    block = extractor.assemble(fresh, layers, axis.timing, reduction.apply if reduction is not None else None)
    block = block if block.ndim == 3 else block[..., None]  # n × units × time
    problems = []
    values = stored["activation"].isel(stimulus=index).values
    values = values if values.ndim == 3 else values[..., None]
    stored_layers = np.asarray(stored["layer"].values).astype(str)
    for layer in dict.fromkeys(stored_layers.tolist()):
        mask = stored_layers == layer
        problem = compare(block[:, mask] if block.shape[1] == mask.size else block, values[:, mask], layer)
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


def given_options(p: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The extraction parameters ``names`` that an analysis' parameters ``p`` set (non-empty), passed on
    to the ``extract`` recipe (the rest keep the extractor's defaults)."""
    return {name: getattr(p, name) for name in names if getattr(p, name)}


def is_recurrent(model: str, root: Any) -> bool:
    """Whether model store ``model``'s network is unrolled in time (its forward takes ``time_steps``),
    from its catalog metadata: by architecture name for the built-in ones (the ConvRNNs are; the grid's
    networks, the StreamNets and torchvision's are not), else from the untrained network of its
    architecture (a registered one; no weights read)."""
    from builders.networks import accepts_time_steps, build_network, recurrent_by_name
    from goalstore import entries

    meta = entries.describe(model, root)
    architecture = str(meta.get("architecture", ""))
    if not architecture:
        raise AnalysisInputError(f"model {model!r}: its catalog entry names no architecture")
    known = recurrent_by_name(architecture)
    if known is not None:
        return known
    try:
        return accepts_time_steps(build_network(architecture, **dict(meta.get("architecture_args") or {})))
    except (ValueError, TypeError) as exc:
        raise AnalysisInputError(f"model {model!r}: its network cannot be built ({exc})") from None


def aligned_options(model: str, recording: str, root: Any) -> dict[str, Any]:
    """The extraction options that put model store ``model``'s steps on ``recording``'s time bins:
    ``align`` for a recurrent model and a recording over time bins; none otherwise (a feed-forward
    model's activations have no time bins and are used for every bin, or time-mapped by the analysis)."""
    from goalstore import entries

    if "time_bin" not in entries.open(recording, root).dims or not is_recurrent(model, root):
        return {}
    return {"align": recording}


def _inputs(p: Extract) -> list[str]:
    return [p.model, p.stimuli, *([p.pca_fit] if p.reduce.strip().lower().startswith("pca") else []),
            *([p.align] if p.align else [])]


RECIPES = [
    Recipe("extract", produce_extract, outputs=lambda p: [(store_name_of(p), "zarr")], inputs=_inputs,
           parameters=Extract, check=check_extract, build_check=True, exclusive=("workers", "scheduler"),
           cached=lambda p, meta: meta.get("extraction_key") == p.key,
           description="a model's activations on a stimulus set (content-addressed; goalstore extract)"),
]

