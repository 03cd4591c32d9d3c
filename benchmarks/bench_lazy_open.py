"""Benchmark: lazily opening a ≥2 GB zarr recording and a per-unit mean over it.

Targets (issue 2): ``goalstore.open`` of the recording takes < 1 s, and computing
a per-unit mean over all of it keeps the peak RSS under 500 MB.

The recording (stimulus × unit × time_bin × trial, float32, ~2.2 GB) is written
once through goalstore (validated, atomic, annexed by DataLad; ~6.9 MB chunks) into
``$GOALSTORE_BENCH_HOME`` (default: /tmp/goalstore-bench) and reused by later
runs.  Each measurement runs in a fresh subprocess (cold imports and caches) so
that times and RSS are its own.  Baselines in the same run: a plain
``xarray.open_dataset`` of the same path in its own process (goalstore's opening
overhead), and the process RSS right before computing.

Usage: python benchmarks/bench_lazy_open.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(os.environ.get("GOALSTORE_BENCH_HOME", "/tmp/goalstore-bench"))
NAME = "bench-recording"
SIZES = {"stimulus": 640, "unit": 1024, "time_bin": 20, "trial": 42}
CHUNKS = {"stimulus": 64, "unit": 32, "time_bin": 20, "trial": 42}  # ~6.9 MB chunks


def build() -> None:
    import dask.array as da
    import numpy as np
    import xarray as xr

    import goalstore
    from goalstore.schema import SCHEMA_VERSION

    shape = tuple(SIZES.values())
    data = da.random.default_rng(0).standard_normal(shape, chunks=tuple(CHUNKS.values()),
                                                    dtype=np.float32)
    start = np.arange(SIZES["time_bin"]) * 10.0
    ds = xr.Dataset(
        {"response": (tuple(SIZES), data, {"units": "spikes/s"})},
        coords={
            "stimulus_id": ("stimulus", [f"s{i}" for i in range(SIZES["stimulus"])]),
            "unit_id": ("unit", [f"u{i}" for i in range(SIZES["unit"])]),
            "animal": ("unit", [f"a{i % 4}" for i in range(SIZES["unit"])]),
            "area": ("unit", ["IT"] * SIZES["unit"]),
            "time_bin_start": ("time_bin", start, {"units": "ms"}),
            "time_bin_end": ("time_bin", start + 10, {"units": "ms"}),
            "trial_id": ("trial", np.arange(SIZES["trial"])),
        },
        attrs={"kind": "recording", "species": "synthetic", "modality": "benchmark",
               "source": "benchmarks/bench_lazy_open.py", "license": "CC0-1.0",
               "citation": "none", "schema_version": SCHEMA_VERSION},
    )
    goalstore.write(NAME, ds, kind="recording", home=HOME, message="benchmark recording")


def measure(what: str) -> None:
    """Runs in a fresh subprocess: a cold lazy open, then (for goalstore) the per-unit mean."""
    import resource

    t0 = time.perf_counter()
    import dask.array  # noqa: F401  one-time import any dask-backed result needs
    import xarray as xr

    import goalstore

    t_imports = time.perf_counter() - t0

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    root = goalstore.StoreRoot(HOME)
    path = root.path / root.metadata(NAME)["path"]
    t0 = time.perf_counter()
    if what == "xarray":
        ds = xr.open_dataset(path, engine="zarr", chunks={})
        print(json.dumps({"open_s": time.perf_counter() - t0, "imports_s": t_imports}))
        return
    ds = goalstore.open(NAME, home=HOME)
    t_open = time.perf_counter() - t0
    rss_before = rss_mb()
    t0 = time.perf_counter()
    means = ds["response"].mean(["stimulus", "time_bin", "trial"]).compute(num_workers=2)
    t_mean = time.perf_counter() - t0
    assert means.sizes == {"unit": SIZES["unit"]}
    print(json.dumps({"gb": ds["response"].nbytes / 1e9, "open_s": t_open, "mean_s": t_mean,
                      "imports_s": t_imports,
                      "rss_before_mb": rss_before, "rss_peak_mb": rss_mb()}))


def _subprocess(what: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--measure", what], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    import goalstore

    root = goalstore.StoreRoot(HOME)
    if NAME not in root._raw_catalog().entries:
        print(f"writing the ~2.2 GB benchmark recording into {HOME} (once) ...", flush=True)
        t0 = time.perf_counter()
        build()
        print(f"  written, validated, checksummed and saved in {time.perf_counter() - t0:.0f} s")
    r = _subprocess("goalstore")
    r["xarray_open_s"] = _subprocess("xarray")["open_s"]
    print(f"one-time imports         : {r['imports_s']:.2f} s (xarray, dask.array, goalstore; "
          "not part of opening)")
    print(f"recording size           : {r['gb']:.2f} GB (float32, {SIZES})")
    print(f"goalstore.open (lazy)    : {r['open_s']:.3f} s   (target < 1 s; first open in a fresh process; "
          f"plain xarray.open_dataset in its own fresh process: {r['xarray_open_s']:.3f} s, "
          f"ratio {r['open_s'] / r['xarray_open_s']:.2f})")
    print(f"per-unit mean (compute)  : {r['mean_s']:.1f} s")
    print(f"peak RSS                 : {r['rss_peak_mb']:.0f} MB   (target < 500 MB; "
          f"{r['rss_before_mb']:.0f} MB before computing; "
          f"peak/data = {r['rss_peak_mb'] / (r['gb'] * 1000):.2f})")
    ok = r["open_s"] < 1.0 and r["rss_peak_mb"] < 500
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if "--measure" in sys.argv:
        measure(sys.argv[-1])
    else:
        main()
