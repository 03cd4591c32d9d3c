"""Benchmark: streaming, content-addressed activation extraction (``goalstore extract``; issue 13).

Targets, each against a baseline measured in the same run:

(a) throughput: the extractor (stimuli read lazily from the store, preprocessed, hooked forward pass,
    region writes into the chunked zarr, completion markers) over the same batches as a plain
    ``torch.no_grad()`` forward loop with hooks that keeps the outputs in memory (images already in
    memory, same preprocessing): ratio ≥ 0.9×.  Every layer of a small, fast network produces
    activations faster than a disk takes them, so the time to write the same bytes with plain
    ``numpy.tofile`` is measured too (the I/O bound); then the same for three deeper layers.  Also
    reported: the whole ``goalstore extract`` (one
    ``datalad run``, validation, adoption of the zarr into the store, checksum, commit).
(b) peak RSS of extracting 10,000 stimuli × ≥ 200,000 units (knet4, width 0.25, 104 × 104 input:
    ~8.6 GB of float32 activations) in a subprocess (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``:
    the largest process of the tree, i.e. the extracting ``goalstore produce``): < 2 GB.
(c) a cache hit: the same request again, in process (``goalstore.api.extract``) and as a fresh
    ``goalstore extract`` command (Python start-up included): < 1 s.

Usage: python benchmarks/bench_extraction.py [throughput] [rss] [cache]   (default: all three)
Store roots live under ``$GOALSTORE_BENCH_HOME`` (default /tmp/goalstore-bench-extract; removed first).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("GOALSTORE_BENCH_HOME", "/tmp/goalstore-bench-extract"))
REPO = Path(__file__).resolve().parents[1]


def _stimuli(n: int, size: int, seed: int = 0):
    import numpy as np
    import xarray as xr

    from goalstore.schema import store_attrs

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    return xr.Dataset(
        {"image": (("stimulus", "channel", "height", "width"), image, {"units": "intensity"})},
        coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(n)]),
                "channel_name": ("channel", list("RGB"))},
        attrs=store_attrs("stimuli", species="none", modality="images", source="benchmark", license="CC0",
                          citation="none"))


def _setup(home: Path, n: int, size: int, width: float) -> tuple[object, int]:
    import torch

    import goalstore
    from builders.networks import build_network
    from goalstore.activations.networks import weights_from_network

    shutil.rmtree(home, ignore_errors=True)
    torch.manual_seed(0)
    args = {"in_channels": 3, "input_size": size, "out_features": 8, "width": width}
    module = build_network("knet4", **args).eval()
    weights = weights_from_network(module, "knet4", args, [3, size, size], source="benchmark", license="CC0",
                                   citation="none")
    goalstore.write("net", weights, home=home)
    goalstore.write("stim", _stimuli(n, size), kind="stimuli", home=home)
    return module, int(weights.attrs["n_units"])


def throughput(n: int = 1536, size: int = 64, width: float = 0.25, batch: int = 64, repeats: int = 2,
               only: tuple[str, ...] = ()) -> None:
    import functools

    import numpy as np
    import torch

    from goalstore import api
    from goalstore.activations import extractor
    from goalstore.activations.networks import available_layers
    from goalstore.activations.preprocess import preprocess, preprocessing_spec
    from goalstore.recipes.extract import _given, _open_entry
    from goalstore.store import StoreRoot

    home = ROOT / "throughput"
    module, _ = _setup(home, n, size, width)
    layers = [name for name in available_layers(module) if not only or name in only]
    pre = preprocessing_spec([3, size, size], {})
    images = _stimuli(n, size)["image"].values
    shapes = extractor.probe(module, layers, [3, size, size])
    units = extractor.unit_coords("net", shapes)
    n_units = len(units["unit_id"])
    scratch = StoreRoot(home).scratch / "bench"

    def disk() -> float:  # the same bytes, batch by batch, as new files on the same file system: I/O bound
        folder = scratch / "raw"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        block = np.ones((batch, n_units), dtype=np.float32)
        start = time.perf_counter()
        for s in range(0, n, batch):
            block.tofile(folder / str(s))
        elapsed = time.perf_counter() - start
        shutil.rmtree(folder)
        return elapsed

    def baseline() -> float:
        kept = {name: [] for name in layers}
        blocks = dict(__import__("builders.networks", fromlist=["x"]).observed_layers(module))
        hooks = [blocks[k].register_forward_hook(lambda _m, _a, o, k=k: kept[k].append(o.reshape(o.shape[0], -1)
                                                                                        .numpy().copy()))
                 for k in layers]
        start = time.perf_counter()
        with torch.no_grad():
            for s in range(0, n, batch):
                module(preprocess(images[s:s + batch], pre["input_shape"], pre["mean"], pre["std"]))
        elapsed = time.perf_counter() - start
        for h in hooks:
            h.remove()
        assert sum(a.shape[0] for a in kept[layers[0]]) == n
        return elapsed

    def streamed(i: int) -> float:
        path = scratch / f"run{i}.zarr"
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(path.with_suffix(".done"), ignore_errors=True)
        start = time.perf_counter()
        extractor.create_zarr(path, {k: (("unit",), v) for k, v in units.items()}, {"kind": "activations"}, n,
                              len(units["unit_id"]), 1, batch)
        weights, stim = _open_entry("net", str(home)), _open_entry("stim", str(home))  # as the recipe does
        job = extractor.Job(str(path), functools.partial(_given, weights), functools.partial(_given, stim),
                            tuple(layers), 0, pre, n, batch, "cpu")
        extractor.run(job, progress=False)
        return time.perf_counter() - start

    base, ours, raw = [], [], []
    for i in range(repeats):  # interleaved, best of each: the machine is shared
        base.append(baseline())
        ours.append(streamed(i))
        raw.append(disk())
    b, o, d = min(base), min(ours), min(raw)
    gb = n * n_units * 4 / 1e9
    print(f"(a) throughput, knet4 width {width} at {size}×{size}, layers {','.join(layers)}: {n} stimuli × "
          f"{n_units} units ({gb:.2f} GB), batch {batch}")
    print(f"    plain no_grad forward loop + hooks, outputs kept in memory: {b:.2f} s ({n / b:.0f} stimuli/s, "
          f"{gb / b:.2f} GB/s of activations)")
    print(f"    streaming extractor into the chunked zarr:               {o:.2f} s ({n / o:.0f} stimuli/s)")
    print(f"    writing the same bytes with numpy tofile alone (disk):     {d:.2f} s ({gb / d:.2f} GB/s)")
    print(f"    ratio extractor / plain loop: {b / o:.2f}× (target ≥ 0.9×); extractor / max(plain loop, disk "
          f"write): {max(b, d) / o:.2f}×")
    if only:
        shutil.rmtree(scratch, ignore_errors=True)
        return
    start = time.perf_counter()
    result = api.extract("net", "stim", home=home, batch_size=batch, device="cpu")
    whole = time.perf_counter() - start
    print(f"    whole `goalstore extract` (datalad run, validation, adoption, checksum, commit): {whole:.2f} s "
          f"→ {result['store']}; {b / whole:.2f}× the plain loop")
    shutil.rmtree(scratch, ignore_errors=True)


def _rss_child(n: int, size: int, width: float, batch: int) -> None:
    from goalstore import api

    _, n_units = _setup(ROOT / "rss", n, size, width)
    print(f"units {n_units}", flush=True)
    start = time.perf_counter()
    result = api.extract("net", "stim", home=ROOT / "rss", batch_size=batch, device="cpu")
    print(f"extracted {result['store']} in {time.perf_counter() - start:.1f} s", flush=True)


def rss(n: int = 10_000, size: int = 104, width: float = 0.25, batch: int = 64) -> None:
    start = time.perf_counter()
    child = subprocess.run([sys.executable, __file__, "_rss_child", str(n), str(size), str(width), str(batch)],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # kB → GB
    if child.returncode:
        print(child.stdout, child.stderr[-3000:])
        raise SystemExit(f"(b) extraction failed ({child.returncode})")
    lines = child.stdout.strip().splitlines()
    units = int(next(line for line in lines if line.startswith("units")).split()[1])
    print(f"(b) peak RSS extracting {n} stimuli × {units} units ({n * units * 4 / 1e9:.1f} GB of float32): "
          f"{peak:.2f} GB (target < 2 GB; largest process of the tree); wall {wall:.0f} s incl. setup")
    print(f"    {lines[-1]}")
    shutil.rmtree(ROOT / "rss", ignore_errors=True)


def cache(n: int = 256, size: int = 32, width: float = 0.125) -> None:
    from goalstore import api

    home = ROOT / "cache"
    _setup(home, n, size, width)
    start = time.perf_counter()
    first = api.extract("net", "stim", home=home, device="cpu")
    miss = time.perf_counter() - start
    start = time.perf_counter()
    again = api.extract("net", "stim", home=home, device="cpu")
    hit = time.perf_counter() - start
    assert again["cached"] and again["store"] == first["store"]
    start = time.perf_counter()
    out = subprocess.run(["goalstore", "extract", "net", "stim", "--home", str(home)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    cli = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import goalstore.cli; goalstore.cli.build_parser()"], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    startup = time.perf_counter() - start
    print(f"(c) cache hit: api.extract {hit:.3f} s (the first, extracting call: {miss:.1f} s); "
          f"`goalstore extract` command {cli:.2f} s ({out.stdout.strip()}); baseline: Python start-up + "
          f"import goalstore.cli alone {startup:.2f} s (target < 1 s)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_rss_child":
        _rss_child(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    parts = sys.argv[1:] or ["throughput", "rss", "cache"]
    for part in parts:
        if part == "throughput":  # every layer (I/O bound here), then the usual deeper layers
            throughput()
            throughput(only=("conv2", "fc1", "fc2"))
        else:
            {"rss": rss, "cache": cache}[part]()
