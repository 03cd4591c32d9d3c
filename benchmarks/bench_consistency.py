"""Benchmark: ridge inter-animal consistency, vectorised vs the loop reference (tests/reference_consistency.py).

Virtual animals: 5 animals × 200 units × 118 stimuli × 50 trials (one area, one time bin),
pairwise sources, 100 split-half draws × 10 stimulus splits (50/50).  The vectorised
analysis runs in full; the loop reference is timed on the first ``--loop-draws`` draws
(default 4; all 100 would take about an hour) and its time scaled linearly in the number of
draws (every draw is the same work).  Prints both times, the speed-up (target ≥ 20×) and the
largest difference between the two on the common draws (must be ≤ 1e-9).

Scale section (issue 16 §1, ``--scale``): ridge, pooled source, 20 split-half draws × 10 splits,
5 virtual animals, 50 trials, for units/animal × stimuli in ``--sizes`` (default 40x118,160x472;
``--large`` adds 640x472).  Each size runs in fresh processes: the previous path (the source's
rows solved once per draw chunk and split, BLAS threads by product size) and the new one (dual
ridge from per-animal Gram matrices over all stimuli, summed over the pooled animals and indexed
and centred per split); ``--per-block`` adds the path before both (every block of target units
refits the pooled source, BLAS threads untouched), ``--skip-previous`` times only the new one
(compare with a previously printed baseline).  Printed per size: the times, ratios, max
|difference| to the previous path, peak RSS against the response array, time per (draw × split ×
target animal), and the achieved fraction of this machine's float64 matmul throughput (measured
in the same run) from the FLOPs the new path performs.

Usage: python benchmarks/bench_consistency.py [--loop-draws N]
       [--scale [--sizes 40x118,160x472] [--large] [--per-block] [--skip-previous]]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


DRAWS, SPLITS, ANIMALS, TRIALS = 20, 10, 5, 50


def _scale_data(units: int, stimuli: int):
    from goalstore.sources.virtual_animals import virtual_animals

    return virtual_animals(n_animals=ANIMALS, units_per_animal=units, n_stimuli=stimuli, n_time_bins=1,
                           n_trials=TRIALS, n_features=40, noise=2.0, areas=("IT",), seed=0)


def _one(path: str, units: int, stimuli: int, out: str) -> int:
    """Child process: one path on one size; prints a JSON line (time, RSS) and saves the scores."""
    from goalstore.analyses.consistency import inter_animal_consistency
    from goalstore.analyses.mappings import RidgeMapping
    from goalstore.analyses.stimulus_splits import SplitScheme

    class PerBlockRidge(RidgeMapping):
        operator_form = False  # each target block refits the source

    class StreamedRidge(RidgeMapping):
        prepare_gram = None  # the source's rows solved once per draw chunk and split

    ds = _scale_data(units, stimuli)
    ds["response"].values  # noqa: B018 - materialise before measuring
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    mapping = {"perblock": PerBlockRidge, "streamed": StreamedRidge, "gram": RidgeMapping}[path](1.0)
    t0 = time.perf_counter()
    result = inter_animal_consistency(ds, mapping, pooled=True, n_draws=DRAWS, seed=0,
                                      scheme=SplitScheme(SPLITS, 0.5, seed=0))
    seconds = time.perf_counter() - t0
    np.save(out, result["consistency"].values)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "before": rss_before,
                      "response": int(ds["response"].nbytes)}))
    return 0


def _run_child(path: str, units: int, stimuli: int, out: str) -> dict:
    env = dict(os.environ)
    if path == "perblock":
        env["GOALSTORE_BLAS_THREADS"] = "off"
    proc = subprocess.run([sys.executable, __file__, "--one", path, str(units), str(stimuli), out],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _matmul_gflops(n: int = 2000, repeats: int = 3) -> float:
    a, b = np.random.default_rng(0).standard_normal((2, n, n))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _gram_flops(units: int, stimuli: int) -> float:
    """FLOPs of the Gram path: per (draw × half × animal) the Gram matrix over all stimuli
    (2·stimuli²·units); per (draw × half × split × target animal) the dual solve (⅔n³ + 2n²n*)
    and the operator applied to the target (2·n*·n·q); per draw the split-half averages
    (2·trials·stimuli·units per half, each animal read as source and as target)."""
    n = stimuli // 2
    nt = stimuli - n
    grams = 2 * ANIMALS * 2 * stimuli**2 * units
    per = 2 / 3 * n**3 + 2 * n * n * nt + 2 * nt * n * units
    halves = 2 * 2 * TRIALS * stimuli * units * 2 * ANIMALS
    return DRAWS * (grams + ANIMALS * 2 * SPLITS * per + halves)


def scale(argv: list[str]) -> int:
    sizes = argv[argv.index("--sizes") + 1] if "--sizes" in argv else "40x118,160x472"
    if "--large" in argv:
        sizes += ",640x472"
    gflops = _matmul_gflops()
    print(f"ridge consistency at scale: pooled source, {DRAWS} split-half draws × {SPLITS} splits, "
          f"{ANIMALS} animals, {TRIALS} trials; float64 matmul throughput {gflops:.1f} GFLOP/s (this run)")
    ok = True
    previous = [] if "--skip-previous" in argv else ["streamed"]
    previous += ["perblock"] if "--per-block" in argv else []
    names = {"perblock": "per-block path", "streamed": "previous (streamed rows)", "gram": "new (Gram)"}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes.split(","):
            units, stimuli = (int(v) for v in size.split("x"))
            runs = {path: _run_child(path, units, stimuli, f"{tmp}/{path}.npy") for path in [*previous, "gram"]}
            new = runs["gram"]
            print(f"  {units} units/animal × {stimuli} stimuli (responses {new['response'] / 2**20:.0f} MiB):")
            print(f"    new (Gram) {new['seconds']:.1f} s")
            for path in previous:
                diff = float(np.nanmax(np.abs(np.load(f"{tmp}/{path}.npy") - np.load(f"{tmp}/gram.npy"))))
                print(f"    {names[path]} {runs[path]['seconds']:.1f} s → new {new['seconds']:.1f} s "
                      f"({runs[path]['seconds'] / new['seconds']:.1f}× faster); max |difference| {diff:.1e}")
                ok &= diff <= 1e-9
            for path, r in runs.items():
                ratio = r['peak'] / r['response']
                print(f"    peak RSS {names[path]}: {r['peak'] / 2**20:.0f} MiB = {ratio:.2f}× the "
                      f"responses (analysis added {(r['peak'] - r['before']) / 2**20:.0f} MiB)")
            flops = _gram_flops(units, stimuli)
            per_unit_work = new["seconds"] / (DRAWS * SPLITS * ANIMALS) * 1e3
            print(f"    new: {flops / 1e9:.0f} GFLOP → {flops / new['seconds'] / 1e9:.1f} GFLOP/s = "
                  f"{flops / new['seconds'] / 1e9 / gflops:.0%} of matmul throughput; "
                  f"{per_unit_work:.1f} ms per (draw × split × target animal)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if "--one" in argv:
        i = argv.index("--one")
        return _one(argv[i + 1], int(argv[i + 2]), int(argv[i + 3]), argv[i + 4])
    if "--scale" in argv:
        return scale(argv)
    from reference_consistency import reference_consistency

    from goalstore.analyses.consistency import inter_animal_consistency
    from goalstore.analyses.mappings import RidgeMapping
    from goalstore.analyses.stimulus_splits import SplitScheme
    from goalstore.sources.virtual_animals import virtual_animals

    loop_draws = int(argv[argv.index("--loop-draws") + 1]) if "--loop-draws" in argv else 4
    ds = virtual_animals(
        n_animals=5,
        units_per_animal=200,
        n_stimuli=118,
        n_time_bins=1,
        n_trials=50,
        n_features=40,
        noise=2.0,
        areas=("IT",),
        seed=0,
    )
    scheme = SplitScheme(10, 0.5, seed=0)
    t0 = time.perf_counter()
    inter_animal_consistency(ds, RidgeMapping(1.0), n_draws=100, seed=0, scheme=scheme)
    fast_time = time.perf_counter() - t0
    few = inter_animal_consistency(ds, RidgeMapping(1.0), n_draws=loop_draws, seed=0, scheme=scheme)
    values = ds["response"].values.astype(float)
    t0 = time.perf_counter()
    slow = reference_consistency(
        values,
        ds["animal"].values.astype(str),
        ds["area"].values.astype(str),
        RidgeMapping(1.0),
        scheme,
        loop_draws,
        0,
    )
    loop_time = (time.perf_counter() - t0) * 100 / loop_draws
    diff = float(np.nanmax(np.abs(few["consistency"].values - slow)))
    speedup = loop_time / fast_time
    print("ridge consistency, 5 animals × 200 units × 118 stimuli × 50 trials, 100 draws × 10 splits:")
    print(f"  vectorised: {fast_time:.1f} s")
    print(f"  loop reference: {loop_time:.0f} s (measured on {loop_draws} draws, scaled to 100)")
    print(f"  speed-up: {speedup:.0f}× (target ≥ 20×); max |difference| on common draws: {diff:.1e}")
    ok = speedup >= 20 and diff <= 1e-9
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
