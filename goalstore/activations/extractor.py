"""Streaming extraction: a network's layer outputs on a stimulus set, written batch by batch into a
chunked zarr.

The network runs in eval mode under ``torch.no_grad()`` with forward hooks on the requested layers
(:func:`builders.networks.observed_layers`).  Stimuli are read lazily from the stimuli store's
dask-backed ``image`` variable ``batch_size`` at a time, preprocessed
(:mod:`goalstore.activations.preprocess`), and each layer's output is flattened per stimulus: a
convolutional output ``C × H × W`` gives ``C·H·W`` units in channel-major order (unit
``c·H·W + y·W + x`` has coords ``channel=c``, ``y``, ``x``); a linear output gives one unit per
feature (``channel`` = its index, ``x = y = 0``).  Layers are concatenated in the network's order.
With a reduction (:mod:`goalstore.activations.reduction`) each layer's units become its K
components instead (coord ``component``).

Recurrent networks: when the network's ``forward`` takes ``time_steps`` the requested ``T`` is
passed, and a layer whose hook fires ``T`` times per forward pass gives a ``time_bin`` dim: step
``t`` is the bin ``[t·10, (t+1)·10)`` ms (:data:`TIME_STEP_MS`, a nominal 10 ms per step from 0).
A :class:`Timing` places the steps on another axis (the recipe's alignment): the first
``first_step`` steps are dropped and ``n_steps`` kept (their times are the recipe's, e.g. a
recording's 70–260 ms bins); or, for a feed-forward network, its layers are spread over ``n_bins``
bins by a time mapping (:mod:`goalstore.activations.time_mapping`) into one pseudo-layer.

The zarr (``<scratch>/extract/<key>.zarr``) is created with every coordinate and attr up front and
its ``activation`` filled with NaN; each batch is a region write of whole stimulus chunks (the
stimulus chunk is the batch size), followed by a completion marker ``<key>.done/<batch>``.  A rerun
after a kill skips the marked batches, so a resumed extraction equals an uninterrupted one; batches
of a shard never overlap another's, so shards run as dask.distributed tasks write disjoint regions.
Reads and writes run in the extracting thread, one batch in memory at a time: background reader /
writer threads were tried and slowed torch's own (OpenMP) threads more than they overlapped on a
small CPU.  Chunks are uncompressed (dense float32; ≤ 32 MiB each) and written as chunk files
directly (:func:`_block_writer`): through the zarr library the writes, not the network, were the
bottleneck.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalstore.errors import AnalysisInputError

#: nominal duration of one recurrent time step (time_bin_start = t · TIME_STEP_MS)
TIME_STEP_MS = 10.0
#: target size of one zarr chunk of ``activation`` (bytes), for the unit chunking
CHUNK_BYTES = 32 * 2**20


@dataclass(frozen=True)
class LayerShape:
    """A layer's output per stimulus (``shape``) and how often its hook fires per forward pass."""

    name: str
    shape: tuple[int, ...]
    firings: int

    @property
    def units(self) -> int:
        return int(np.prod(self.shape))


# ------------------------------------------------------------------ forward
def _output(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def forward(module: Any, x: Any, layers: Sequence[str], time_steps: int = 0) -> dict[str, Any]:
    """Outputs of ``layers`` for input ``x``: layer → tensor (n × firings × units), on ``x``'s device."""
    import torch

    from builders.networks import observed_layers

    blocks = observed_layers(module)
    outputs: dict[str, list[Any]] = {name: [] for name in layers}
    hooks = [blocks[name].register_forward_hook(
        lambda _m, _a, out, name=name: outputs[name].append(_output(out).detach())) for name in layers]
    try:
        with torch.no_grad():
            module(x, time_steps=time_steps) if time_steps else module(x)
    finally:
        for hook in hooks:
            hook.remove()
    n = x.shape[0]
    return {name: outs[0].reshape(n, 1, -1) if len(outs) == 1 else  # a view: no copy
            torch.stack([o.reshape(n, -1) for o in outs], dim=1)
            for name, outs in outputs.items() if outs}  # a layer the forward pass never calls: left out


def probe(module: Any, layers: Sequence[str], input_shape: Sequence[int], time_steps: int = 0
          ) -> list[LayerShape]:
    """The output shape and firing count of each layer, from one blank input; refuses time steps for a
    network that takes none, and layers that fire a different number of times."""
    import torch

    from builders.networks import accepts_time_steps, observed_layers

    if time_steps and not accepts_time_steps(module):
        raise AnalysisInputError(f"--time-steps {time_steps}: the model is not recurrent (its forward takes "
                                 "no time_steps)")
    blocks = observed_layers(module)
    seen: dict[str, list[tuple[int, ...]]] = {name: [] for name in layers}
    hooks = [blocks[name].register_forward_hook(
        lambda _m, _a, out, name=name: seen[name].append(tuple(_output(out).shape[1:]))) for name in layers]
    device = next(iter(module.parameters())).device
    try:
        with torch.no_grad():
            x = torch.zeros(1, *[int(v) for v in input_shape], device=device)
            module(x, time_steps=time_steps) if time_steps else module(x)
    finally:
        for hook in hooks:
            hook.remove()
    shapes = [LayerShape(name, seen[name][0], len(seen[name])) for name in layers if seen[name]]
    silent = [name for name in layers if not seen[name]]
    if silent:
        raise AnalysisInputError(f"layer {silent[0]!r}: not called in the forward pass")
    counts = {s.firings for s in shapes}
    if len(counts) > 1:
        raise AnalysisInputError("layers: " + ", ".join(f"{s.name} fires {s.firings}×" for s in shapes)
                                 + " per forward pass; extract layers with the same number of time steps")
    return shapes


@dataclass(frozen=True)
class Timing:
    """Where a network's steps go on the time axis: steps ``first_step … first_step + n_steps − 1`` are
    kept (``n_steps`` 0: all from ``first_step``); or ``mapping`` (uniform / graded) spreads the layers of
    a feed-forward network over ``n_bins`` bins (``seed``: its unit draws)."""

    first_step: int = 0
    n_steps: int = 0
    mapping: str = "none"
    n_bins: int = 0
    seed: int = 0

    def window(self, a: np.ndarray) -> np.ndarray:
        """The kept steps of ``a`` (n × steps × units); a layer firing once is left as it is."""
        if a.shape[1] == 1 or (self.first_step == 0 and not self.n_steps):
            return a
        stop = self.first_step + self.n_steps if self.n_steps else a.shape[1]
        return a[:, self.first_step:stop]


def assemble(outputs: dict[str, np.ndarray], layers: Sequence[str], timing: Timing,
             reduce: Callable[[str, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """One block, n × units × time (or n × units with one step), from each layer's n × steps × units
    output: windowed, reduced, concatenated over layers in order — or time-mapped into K slots."""
    from goalstore.activations.time_mapping import map_time

    parts = []
    for name in layers:
        a = timing.window(outputs[name])
        parts.append(reduce(name, a) if reduce is not None else a)
    if timing.mapping != "none":
        return map_time(timing.mapping, [a[:, 0] for a in parts], timing.n_bins, timing.seed)
    block = np.concatenate(parts, axis=2)  # one copy: n × time × units
    return block[:, 0] if block.shape[1] == 1 else np.ascontiguousarray(block.transpose(0, 2, 1))


def response_onset(module: Any, input_shape: Sequence[int], time_steps: int = 0, seed: int = 0
                   ) -> tuple[str, int, int]:
    """``(layer, first step, firings)`` of the anchor of ``extract --align``: the network's deepest
    observed layer among those that fire most often per forward pass (a recurrent network's per-step
    layers; a ConvRNN's ``readout``), the first step at which its output is not all zero for a seeded
    standard-normal input (a ConvRNN's layer ``k`` is silent before step ``k − 1``; its firing count
    when it never responds), and that firing count.  Fixed by the network, so an extraction's time
    axis does not depend on which layers it extracts."""
    import torch

    from builders.networks import observed_layers

    device = next(iter(module.parameters())).device
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(2, *[int(v) for v in input_shape], generator=gen).to(device)
    out = forward(module, x, list(observed_layers(module)), time_steps)
    most = max(a.shape[1] for a in out.values())
    name = [layer for layer, a in out.items() if a.shape[1] == most][-1]
    active = (out[name] != 0).any(dim=2).any(dim=0).cpu().numpy()  # per step
    return name, int(active.argmax()) if active.any() else int(active.size), most


# ------------------------------------------------------------------- coords
def unit_coords(model: str, shapes: Sequence[LayerShape], components: dict[str, int] | None = None
                ) -> dict[str, np.ndarray]:
    """The ``unit`` coords (see the module docstring); ``components``: the number of components of each
    layer of a reduced extraction (None: the layers' own units)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("unit_id", "layer", "channel", "y", "x", "component")}
    for s in shapes:
        n = components[s.name] if components else s.units
        idx = np.arange(n)
        parts["unit_id"].append(np.array([f"{model}/{s.name}/{i}" for i in idx]))
        parts["layer"].append(np.full(n, s.name))
        if components:
            parts["component"].append(idx)
            continue
        rest = s.shape[1:]
        inner = int(np.prod(rest)) if rest else 1
        parts["channel"].append(idx // inner)
        parts["y"].append((idx % inner) // rest[-1] if len(rest) >= 2 else np.zeros(n, dtype=int))
        parts["x"].append(idx % rest[-1] if rest else np.zeros(n, dtype=int))
    coords = {k: np.concatenate(v) for k, v in parts.items() if v}
    coords["unit_id"] = coords["unit_id"].astype(str)
    coords["layer"] = coords["layer"].astype(str)
    coords["animal"] = np.full(len(coords["unit_id"]), model)
    coords["area"] = coords["layer"].copy()
    return coords


# ----------------------------------------------------------------- the job
@dataclass(frozen=True)
class Job:
    """One extraction into the zarr at ``path`` (everything a worker process needs, by value)."""

    path: str
    open_model: Callable[[], Any]  #: () → the model store (ModelWeights); picklable, for worker processes
    open_stimuli: Callable[[], Any]  #: () → the stimuli store (lazy xarray.Dataset); picklable
    layers: tuple[str, ...]
    time_steps: int
    preprocessing: dict[str, Any]
    n_stimuli: int
    batch_size: int
    device: str = "cpu"
    reduction_path: str = ""
    timing: Timing = Timing()

    @property
    def done_dir(self) -> Path:
        return Path(self.path).with_suffix(".done")

    @property
    def n_batches(self) -> int:
        return math.ceil(self.n_stimuli / self.batch_size)

    def pending(self) -> list[int]:
        """The batches without a completion marker."""
        done = {p.name for p in self.done_dir.glob("*")} if self.done_dir.is_dir() else set()
        return [i for i in range(self.n_batches) if str(i) not in done]


def create_zarr(path: Path, coords: dict[str, Any], attrs: dict[str, Any], n_stimuli: int,
                n_units: int, n_time: int, batch_size: int) -> None:
    """The empty (NaN) activations zarr with every coord and attr, made atomically (by rename)."""
    import dask.array as da
    import xarray as xr

    dims = ("stimulus", "unit", "time_bin") if n_time > 1 else ("stimulus", "unit")
    per_unit = 4 * batch_size * max(n_time, 1)
    unit_chunk = max(1, min(n_units, CHUNK_BYTES // per_unit))
    chunks = (batch_size, unit_chunk, n_time)[: len(dims)]
    shape = (n_stimuli, n_units, n_time)[: len(dims)]
    data = da.full(shape, np.nan, dtype=np.float32, chunks=chunks)
    ds = xr.Dataset({"activation": (dims, data, {"units": "a.u."})}, coords=coords, attrs=attrs)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_zarr(tmp, mode="w-", zarr_format=2, consolidated=True, compute=False,
               encoding={"activation": {"chunks": chunks, "compressors": None}})
    tmp.rename(path)


def _load_network(job: Job) -> Any:
    from builders.device import resolve_device
    from goalstore.activations.networks import network_from_weights

    return network_from_weights(job.open_model(), resolve_device(job.device))


class _BlockReader:
    """Stimulus images read in blocks aligned with batches (a whole number of batches covering at least
    one stored chunk, so each stored chunk is decompressed about once)."""

    def __init__(self, images: Any, batch_size: int):
        chunk = int(images.chunks[0][0]) if images.chunks else batch_size
        self.size = math.ceil(chunk / batch_size) * batch_size
        self.images, self.n = images, int(images.shape[0])
        self.index, self.block = -1, None

    def batch(self, start: int, stop: int) -> np.ndarray:
        k = start // self.size
        if k != self.index:
            data = self.images[k * self.size: min((k + 1) * self.size, self.n)].data
            self.block = np.asarray(data.compute(scheduler="synchronous") if hasattr(data, "compute") else data)
            self.index = k
        offset = k * self.size
        return self.block[start - offset: stop - offset]


def _block_writer(array_dir: Path, tmp_dir: Path) -> Callable[[int, np.ndarray], None]:
    """``write(start, block)``: ``block`` (whole stimulus chunks from ``start``) into the zarr array.

    The array is uncompressed, unfiltered, C-ordered little-endian float32 zarr v2 (as
    :func:`create_zarr` makes it, checked here), so a chunk file is exactly the chunk's bytes
    (edge chunks padded to the full chunk shape): each chunk is written as its file, through a
    temporary name in ``tmp_dir`` and a rename (a kill leaves a whole chunk or none).  Any other
    layout goes through ``zarr`` (several times slower: it was the bottleneck of extraction)."""
    import zarr

    meta = json.loads((array_dir / ".zarray").read_text())
    if not (meta["compressor"] is None and not meta["filters"] and meta["order"] == "C"
            and meta["dtype"] == "<f4" and meta.get("dimension_separator", ".") == "."):
        target = zarr.open_array(str(array_dir), mode="r+", zarr_format=2)

        def via_zarr(start: int, block: np.ndarray) -> None:
            target[start:start + block.shape[0]] = block

        return via_zarr
    chunks, shape = meta["chunks"], meta["shape"]

    def direct(start: int, block: np.ndarray) -> None:
        row = start // chunks[0]
        for j in range(math.ceil(shape[1] / chunks[1])):
            piece = block[:, j * chunks[1]:(j + 1) * chunks[1]]
            if piece.shape != (chunks[0], chunks[1], *chunks[2:]):  # an edge chunk: stored at full shape
                part = np.full((chunks[0], chunks[1], *chunks[2:]), np.nan, dtype="<f4")
                part[: piece.shape[0], : piece.shape[1]] = piece
                piece = part
            name = ".".join([str(row), str(j), *("0" * (len(chunks) - 2))])
            tmp = tmp_dir / f".{name}.tmp"  # outside the zarr: a killed write leaves nothing in it
            np.ascontiguousarray(piece, dtype="<f4").tofile(tmp)
            tmp.replace(array_dir / name)

    return direct


def run_batches(job: Job, batches: Sequence[int], progress: Any = None,
                on_batch: Callable[[int], None] | None = None) -> int:
    """Extract ``batches`` of ``job`` into its zarr, marking each when written; returns how many."""
    import torch

    from goalstore import journal
    from goalstore.activations.preprocess import preprocess
    from goalstore.activations.reduction import Reduction

    module = _load_network(job)
    device = next(iter(module.parameters())).device
    images = job.open_stimuli()["image"]
    reduction = Reduction.load(Path(job.reduction_path)) if job.reduction_path else None
    job.done_dir.mkdir(parents=True, exist_ok=True)
    write_block = _block_writer(Path(job.path) / "activation", job.done_dir)
    pre = job.preprocessing

    def write(i: int, start: int, block: np.ndarray) -> None:
        write_block(start, block)
        (job.done_dir / str(i)).touch()

    count = 0
    reader = _BlockReader(images, job.batch_size)
    for i in batches:
        start = i * job.batch_size
        stop = min(start + job.batch_size, job.n_stimuli)
        raw = torch.from_numpy(reader.batch(start, stop)).to(device)
        x = preprocess(raw, pre["input_shape"], pre["mean"], pre["std"])
        outs = {name: a.float().cpu().numpy()  # n × time × units (a view on the CPU)
                for name, a in forward(module, x, job.layers, job.time_steps).items()}
        write(i, start, assemble(outs, job.layers, job.timing, reduction.apply if reduction else None))
        count += 1
        if progress is not None:
            progress.update(1)
        if on_batch is not None:
            on_batch(i)
        journal.fault(f"extract-batch-{count}")
    return count


def shards(batches: Sequence[int], n: int) -> list[list[int]]:
    """``batches`` in ``n`` contiguous runs (disjoint zarr regions)."""
    n = max(1, min(n, len(batches)))
    return [list(part) for part in np.array_split(np.asarray(batches, dtype=int), n) if len(part)]


def run(job: Job, client: Any = None, progress: bool = True,
        on_batch: Callable[[int], None] | None = None) -> None:
    """Extract every batch of ``job`` not yet marked done (in process, or as shards on ``client``)."""
    from tqdm import tqdm

    pending = job.pending()
    bar = tqdm(total=job.n_batches, initial=job.n_batches - len(pending), unit="batch",
               desc=f"extract {Path(job.path).stem[:10]}", disable=not progress)
    try:
        if client is None:
            run_batches(job, pending, bar, on_batch)
        else:
            from dask.distributed import as_completed

            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            parts = shards(pending, 4 * n_workers)
            futures = client.map(run_batches, [job] * len(parts), parts, pure=False)
            for future in as_completed(futures):
                bar.update(future.result())
    finally:
        bar.close()
    missing = job.pending()
    if missing:
        raise RuntimeError(f"extraction {job.path}: batches {missing[:5]} were not written")


def layer_activations(module: Any, images: Any, layers: Sequence[str], preprocessing: dict[str, Any],
                      time_steps: int = 0, batch_size: int = 64) -> dict[str, np.ndarray]:
    """In memory: layer → (stimuli·time) × units activations of ``images`` (uint8 N × C × H × W;
    e.g. a PCA fit set, or a recheck sample)."""
    import torch

    from goalstore.activations.preprocess import preprocess

    device = next(iter(module.parameters())).device
    out: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for start in range(0, images.shape[0], batch_size):
        raw = torch.from_numpy(np.asarray(images[start:start + batch_size])).to(device)
        x = preprocess(raw, preprocessing["input_shape"], preprocessing["mean"], preprocessing["std"])
        for name, a in forward(module, x, layers, time_steps).items():
            out[name].append(a.float().cpu().numpy())  # n × time × units
    return {name: np.concatenate(v) for name, v in out.items()}


def preprocessing_attr(preprocessing: dict[str, Any]) -> str:
    """The preprocessing as the JSON string stored in the attrs."""
    return json.dumps(preprocessing, sort_keys=True)
