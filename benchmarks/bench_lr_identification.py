"""Benchmarks of learning-rule identification.

1. (default) Split-parallel random-forest evaluation (10 splits × 5 folds × the --fast
   grid) on a synthetic corpus of realistic size (2,400 examples × 504 features plus
   the position one-hot, four rules with small planted differences), on a local
   dask.distributed cluster of 2 single-threaded workers vs 1 in the same run; prints
   both times and the speed-up (target ≥ 1.7×) and checks the accuracies are identical.
2. ``--tiny-default HOME``: time of the full default grids (random forest and SVM, all
   observable sets) on the ``lr-corpus-tiny`` store of HOME, 2 workers.
3. ``--full-size``: time of the ``--fast`` grids on a full-size synthetic corpus
   (20,736 × 504), 2 workers.

Usage: python benchmarks/bench_lr_identification.py [--tiny-default HOME] [--full-size] [--skip-speedup]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd


def _synthetic(n_examples: int, seed: int = 0):
    from goalstore.lr_corpus import FINITE_24

    rng = np.random.default_rng(seed)
    rules = np.array(["sgdm", "adam", "fa", "ia"])
    y = rules[np.arange(n_examples) % 4]
    cube = rng.standard_normal((n_examples, 24, 21))
    for i in range(4):
        cube[y == rules[i], i * 5, :] += 0.5
    groups = pd.DataFrame({"learning_rule": y, "layer_position": rng.choice(["early", "middle", "deep"],
                                                                            n_examples)})
    return cube, list(FINITE_24), groups


def _cluster(workers: int):
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
    return cluster, Client(cluster)


def split_parallel_speedup() -> float:
    from goalstore.analyses.lr_identification import balanced_splits, classifier_grid, evaluate, features

    cube, stats, groups = _synthetic(2400)
    x = features(cube, stats, groups["layer_position"].to_numpy())
    y = groups["learning_rule"].to_numpy()
    splits = balanced_splits(y, 10, 0.25, 0)
    estimator, grid = classifier_grid("rf", True, 21)
    times, accuracies = {}, {}
    for workers in (1, 2):
        cluster, client = _cluster(workers)
        try:
            client.submit(sum, [1]).result()  # workers up
            t0 = time.perf_counter()
            accuracies[workers] = evaluate(x, y, splits, estimator, grid, 5, 0, client).accuracies
            times[workers] = time.perf_counter() - t0
        finally:
            client.close()
            cluster.close()
        print(f"  {workers} worker(s): {times[workers]:.1f} s, mean accuracy {accuracies[workers].mean():.3f}")
    speedup = times[1] / times[2]
    same = bool(np.array_equal(accuracies[1], accuracies[2]))
    print(f"  speed-up with 2 workers: {speedup:.2f}× (target ≥ 1.7×); identical accuracies: {same}")
    return speedup if same else 0.0


def tiny_default(home: str) -> None:
    import goalstore
    from goalstore.analyses.lr_identification import IdentificationConfig, identify_learning_rules

    view = goalstore.lr_classifier_view("lr-corpus-tiny", home=home)
    cluster, client = _cluster(2)
    try:
        t0 = time.perf_counter()
        identify_learning_rules(view.cube, view.statistics, view.epochs, view.groups, IdentificationConfig(),
                                client)
        print(f"  full default grids (rf, svm; 4 observable sets) on the tiny corpus: "
              f"{time.perf_counter() - t0:.0f} s with 2 workers", flush=True)
    finally:
        client.close()
        cluster.close()


def full_size_fast() -> None:
    from goalstore.analyses.lr_identification import IdentificationConfig, identify_learning_rules

    cube, stats, groups = _synthetic(20736)
    cluster, client = _cluster(2)
    try:
        total = 0.0
        for name in ("rf", "svm"):  # timed separately, so a partial run still reports
            t0 = time.perf_counter()
            identify_learning_rules(cube, stats, list(range(0, 101, 5)), groups,
                                    IdentificationConfig(classifiers=(name,), fast=True), client)
            took = time.perf_counter() - t0
            total += took
            print(f"  --fast {name} grid, 4 observable sets + averaged control, full-size synthetic corpus "
                  f"(20,736 × 504): {took:.0f} s with 2 workers", flush=True)
        print(f"  --fast grids (rf + svm) on the full-size corpus: {total:.0f} s with 2 workers")
    finally:
        client.close()
        cluster.close()


def main(argv: list[str]) -> int:
    skip = "--skip-speedup" in argv  # only the long timings
    if not skip:
        print("split-parallel random forest, 2 dask workers vs 1:")
    speedup = split_parallel_speedup() if not skip else float("inf")
    if "--tiny-default" in argv:
        tiny_default(argv[argv.index("--tiny-default") + 1])
    if "--full-size" in argv:
        full_size_fast()
    ok = speedup >= 1.7
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
