"""Benchmark: analyses on dask.distributed workers, 2 workers against 1 (issue 16 §3; target ≥ 1.7×).

Each section runs the same work with the same data on a local cluster of one single-threaded worker
process and on one of two (both started before the clock runs, their start-up printed apart), and
prints both times, the speed-up and the largest difference between the two results:

(a) ``consistency``: ridge inter-animal consistency, pooled source, 20 split-half draws × 10 stimulus
    splits, 5 virtual animals × 160 units × 472 stimuli × 50 trials (``--small``: 40 × 118, 4 draws) —
    :func:`~goalstore.analyses.consistency.inter_animal_consistency` with ``executor`` (what
    ``goalstore analyze consistency --scheduler`` runs).  Also printed: in process (no dask, BLAS
    threads by product size) for reference.
(b) ``extract``: ``goalstore.api.extract`` of a small network (knet4, width 1, 96 × 96 input, layers
    fc1 and fc2: ~28 ms a stimulus on one thread, little to write) on 2,048 random stimuli
    (``--small``: width 0.5, 64 × 64, 128 stimuli) with ``scheduler`` = each cluster, in two fresh
    store roots (the extraction is content-addressed: one root would answer the second request from
    its cache); the whole call is timed (``datalad run``, adoption and commit included: a fixed
    ~10–25 s that 2 workers do not shorten).
(c) ``leaderboard``: :func:`~goalstore.analyses.predictivity.predictivity_leaderboard` of three virtual
    models × 3 layers × 64 units against 5 animals × 80 units × 472 stimuli × 50 trials, ridge, pooled
    ceiling, 20 draws × 10 splits (``--small``: 40 × 118, 4 draws, 3 splits).

Usage: python benchmarks/bench_distributed.py [consistency] [extract] [leaderboard] [--small]
(default: all three).  ``--small`` is a sanity run: too little work per item for the target (the
speed-up is printed, not judged); the results must still be equal.  Store roots of (b) live under
``$GOALSTORE_BENCH_HOME`` (default /tmp/goalstore-bench-distributed; removed first).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(os.environ.get("GOALSTORE_BENCH_HOME", "/tmp/goalstore-bench-distributed"))
TARGET = 1.7


def _clusters() -> dict[int, object]:
    """Clients of local clusters of 1 and 2 single-threaded worker processes, warmed up (goalstore and
    torch imported on every worker), configured as goalstore's own local clusters
    (:data:`builders.dask_client.LOCAL_WORKER_CONFIG`)."""
    import dask
    from dask.distributed import Client, LocalCluster

    from builders.dask_client import LOCAL_WORKER_CONFIG

    clients = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        with dask.config.set(LOCAL_WORKER_CONFIG):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        client.run(_warm)
        print(f"  cluster of {n} worker(s) started in {time.perf_counter() - t0:.1f} s "
              f"({cluster.scheduler_address})")
        clients[n] = client
    return clients


def _warm() -> None:
    import goalstore.activations.extractor
    import goalstore.analyses.consistency  # noqa: F401


def _line(name: str, one: float, two: float, diff: float, small: bool) -> bool:
    """Print one comparison; whether the results are equal (≤ 1e-12) and, unless ``small``, fast enough."""
    speedup = one / two
    same, fast = diff <= 1e-12, small or speedup >= TARGET
    verdict = ("DIFFERENT" if not same else "sanity run: not judged" if small
               else "ok" if fast else "BELOW TARGET")
    print(f"  {name}: 1 worker {one:.1f} s, 2 workers {two:.1f} s → {speedup:.2f}× (target ≥ {TARGET}×); "
          f"max |difference| {diff:.1e}  [{verdict}]")
    return same and fast


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _maxdiff(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    return float(np.nanmax(np.abs(a - b)))


def consistency(clients: dict[int, object], small: bool) -> bool:
    from goalstore.analyses.consistency import inter_animal_consistency
    from goalstore.analyses.stimulus_splits import SplitScheme
    from goalstore.sources.virtual_animals import virtual_animals

    units, stimuli, draws, splits = (40, 118, 4, 3) if small else (160, 472, 20, 10)
    ds = virtual_animals(n_animals=5, units_per_animal=units, n_stimuli=stimuli, n_time_bins=1, n_trials=50,
                         n_features=40, noise=2.0, areas=("IT",), seed=0)
    ds["response"].values  # noqa: B018 - in memory before the clock runs
    print(f"(a) consistency: ridge, pooled, {draws} draws × {splits} splits, 5 animals × {units} units × "
          f"{stimuli} stimuli × 50 trials ({ds['response'].nbytes / 2**20:.0f} MiB)")

    def run(executor):
        return inter_animal_consistency(ds, "ridge", True, SplitScheme(splits, 0.5, seed=0), n_draws=draws,
                                        executor=executor)["consistency"].values

    here, expected = _timed(lambda: run(None))
    times, results = {}, {}
    for n, client in clients.items():
        times[n], results[n] = _timed(lambda c=client: run(c))
    print(f"  in process (no dask): {here:.1f} s")
    return _line("consistency", times[1], times[2], max(_maxdiff(results[2], results[1]),
                                                        _maxdiff(results[2], expected)), small)


def extract(clients: dict[int, object], small: bool) -> bool:
    from bench_extraction import _setup

    import goalstore
    from goalstore import api

    n, size, width = (128, 64, 0.5) if small else (2048, 96, 1.0)
    print(f"(b) extract: knet4 width {width}, {size} × {size} input, {n} stimuli, layers fc1,fc2, "
          "goalstore.api.extract(scheduler=…)")
    times, results = {}, {}
    for workers, client in clients.items():
        home = ROOT / f"workers-{workers}"
        _setup(home, n, size, width)
        address = client.scheduler.address
        times[workers], out = _timed(lambda h=home, a=address: api.extract("net", "stim", home=h, scheduler=a,
                                                                           layers="fc1,fc2", batch_size=16,
                                                                           device="cpu"))
        assert not out["cached"]
        results[workers] = goalstore.open(out["store"], home=home)["activation"].values
    return _line("extract", times[1], times[2], _maxdiff(results[2], results[1]), small)


def leaderboard(clients: dict[int, object], small: bool) -> bool:
    import xarray as xr

    from goalstore.analyses.predictivity import predictivity_leaderboard
    from goalstore.analyses.stimulus_splits import SplitScheme
    from goalstore.sources.virtual_animals import virtual_animals, virtual_model

    units, stimuli, draws, splits = (40, 118, 4, 3) if small else (80, 472, 20, 10)
    kw = dict(n_stimuli=stimuli, n_features=40, seed=0)
    ds = virtual_animals(n_animals=5, units_per_animal=units, n_time_bins=1, n_trials=50, noise=2.0,
                         areas=("IT",), **kw)
    models = {f"m{i}": virtual_model(similarity=(0.0, 0.3 * i, 1.0), units_per_layer=64, name=f"m{i}", **kw)
              for i in range(3)}
    print(f"(c) leaderboard: 3 models × 3 layers × 64 units, ridge, pooled ceiling, {draws} draws × {splits} "
          f"splits, 5 animals × {units} units × {stimuli} stimuli × 50 trials")

    def run(executor):
        return predictivity_leaderboard(ds, models, "ridge", SplitScheme(splits, 0.5, seed=0), draws,
                                        pooled=True, executor=executor)

    times, results = {}, {}
    for n, client in clients.items():
        times[n], results[n] = _timed(lambda c=client: run(c))
    diff = max(_maxdiff(results[2][v], results[1][v]) for v in ("predictivity_median", "ceiling"))
    xr.testing.assert_equal(results[2]["rank"], results[1]["rank"])
    return _line("leaderboard", times[1], times[2], diff, small)


def main(argv: list[str]) -> int:
    small = "--small" in argv
    sections = [a for a in argv if not a.startswith("--")] or ["consistency", "extract", "leaderboard"]
    shutil.rmtree(ROOT, ignore_errors=True)
    print("2 workers vs 1 worker (local clusters of single-threaded processes)"
          + (" — small sizes" if small else ""))
    clients = _clusters()
    ok = True
    try:
        runs = {"consistency": consistency, "extract": extract, "leaderboard": leaderboard}
        for name in sections:
            ok &= runs[name](clients, small)
    finally:
        for client in clients.values():
            cluster = client.cluster
            client.close()
            cluster.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
