"""Benchmark: out-of-core split-half reliability of 40,000 units × 118 stimuli × 50 trials (zarr).

Writes the recording (float32, ~0.9 GB, unit chunks of 1,000) to a temporary directory
block by block, then, in a fresh process, opens it lazily and computes the internal
consistency (100 split-half draws, Spearman–Brown) of every unit; prints the time and the
peak resident memory of that process (target < 1 GB) and checks the result against the
same computation in memory on the first 500 units.

Usage: python benchmarks/bench_reliability_out_of_core.py [--units N] [--keep DIR]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_STIMULI, N_TRIALS, N_DRAWS, CHUNK = 118, 50, 100, 1000


def write(path: Path, n_units: int) -> None:
    import dask.array as da
    import xarray as xr

    def block(block_info=None):
        (u0, u1), _, _ = block_info[None]["array-location"]
        rng = np.random.default_rng(u0)
        signal = rng.standard_normal((N_STIMULI, u1 - u0, 1)).astype(np.float32)
        gain = rng.uniform(0.2, 2.0, (1, u1 - u0, 1)).astype(np.float32)  # a range of reliabilities
        noise = rng.standard_normal((N_STIMULI, u1 - u0, N_TRIALS)).astype(np.float32) * 3
        return (gain * signal + noise).transpose(1, 0, 2)

    data = da.map_blocks(
        block, dtype=np.float32, chunks=((CHUNK,) * (n_units // CHUNK), (N_STIMULI,), (N_TRIALS,))
    )
    ds = xr.Dataset(
        {"response": (("unit", "stimulus", "trial"), data)}, coords={"unit_id": ("unit", np.arange(n_units))}
    )
    ds.to_zarr(path, mode="w")


def measure(path: Path) -> None:
    import xarray as xr

    from goalstore.analyses.reliability import split_half_reliability

    t0 = time.perf_counter()
    responses = xr.open_zarr(path)["response"]
    reliability = split_half_reliability(responses, n_draws=N_DRAWS).mean("bootstrap").compute()
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB on Linux
    check = split_half_reliability(responses.isel(unit=slice(0, 500)).load(), n_draws=N_DRAWS).mean("bootstrap")
    diff = float(np.abs(check.values - reliability.values[:500]).max())
    print(
        f"  {responses.sizes['unit']:,} units: {elapsed:.0f} s, peak RSS {peak:.0f} MiB; "
        f"median reliability {float(np.median(reliability)):.3f}; in-memory check max |diff| {diff:.1e}"
    )
    print("PASS" if peak < 1024 and diff < 1e-9 else "FAIL")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--measure":
        measure(Path(argv[1]))
        return 0
    n_units = int(argv[argv.index("--units") + 1]) if "--units" in argv else 40_000
    keep = Path(argv[argv.index("--keep") + 1]) if "--keep" in argv else None
    with tempfile.TemporaryDirectory() as tmp:
        path = (keep or Path(tmp)) / "reliability-bench.zarr"
        if not path.exists():
            t0 = time.perf_counter()
            write(path, n_units)
            took = time.perf_counter() - t0
            print(f"wrote {n_units:,} × {N_STIMULI} × {N_TRIALS} float32 to zarr in {took:.0f} s")
        print(f"split-half reliability ({N_DRAWS} draws), lazily from zarr, in a fresh process:")
        done = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True
        )
        print(done.stdout.rstrip() or done.stderr[-2000:])
        return 0 if "PASS" in done.stdout else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
