"""Benchmark: the cost of pinning ``open(NAME)`` to a snapshot of the latest saved version.

Since issue 11 ``StoreRoot.open`` reads the latest version through a snapshot of its commit
(``git status`` + ``git log`` per open; the first open of a version also materialises it: links
into the annex, copies of small git-tracked files), so that a lazily opened store never changes
under a later write.  This times, in the same run and on the same store, an open of the working
tree (the previous behaviour) against the pinned open — first (materialising) and repeated —
and a full read of the data through each, for a zarr store of ``--chunks`` chunks.

Usage: python benchmarks/bench_pinned_open.py [--chunks 400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from goalstore.sources.virtual_animals import virtual_animals
    from goalstore.store import StoreRoot

    ds = virtual_animals(n_animals=2, units_per_animal=50, n_stimuli=args.chunks * 4, n_time_bins=2, n_trials=8,
                         n_features=4, seed=0)
    ds = ds.chunk({"stimulus": 4})  # one chunk per 4 stimuli
    with tempfile.TemporaryDirectory() as tmp:
        root = StoreRoot(Path(tmp) / "store")
        root.write("rec", ds)
        unpinned = StoreRoot.__dict__["_saved_as_is"]
        start = time.perf_counter()
        root.open("rec")
        first = time.perf_counter() - start
        pinned = _best(lambda: root.open("rec"), args.repeat)
        pinned_read = _best(lambda: root.open("rec")["response"].values, 1)
        StoreRoot._saved_as_is = lambda self, relpath: None  # the previous behaviour: the working tree
        try:
            plain = _best(lambda: root.open("rec"), args.repeat)
            plain_read = _best(lambda: root.open("rec")["response"].values, 1)
        finally:
            StoreRoot._saved_as_is = unpinned
    print(f"zarr store, {args.chunks} chunks of the response variable")
    print(f"open, working tree (before):      {plain * 1e3:8.1f} ms")
    print(f"open, pinned, first (materialise): {first * 1e3:8.1f} ms   ratio {first / plain:5.1f}x")
    print(f"open, pinned, repeated:            {pinned * 1e3:8.1f} ms   ratio {pinned / plain:5.1f}x")
    print(f"open + full read, working tree:    {plain_read * 1e3:8.1f} ms")
    print(f"open + full read, pinned:          {pinned_read * 1e3:8.1f} ms   "
          f"ratio {pinned_read / plain_read:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
