"""Benchmark: ridge inter-animal consistency, vectorised vs the loop reference (tests/reference_consistency.py).

Virtual animals: 5 animals × 200 units × 118 stimuli × 50 trials (one area, one time bin),
pairwise sources, 100 split-half draws × 10 stimulus splits (50/50).  The vectorised
analysis runs in full; the loop reference is timed on the first ``--loop-draws`` draws
(default 4; all 100 would take about an hour) and its time scaled linearly in the number of
draws (every draw is the same work).  Prints both times, the speed-up (target ≥ 20×) and the
largest difference between the two on the common draws (must be ≤ 1e-9).

Scale section (issue 16 §1, ``--scale``): ridge, pooled source, 20 split-half draws × 10 splits
(``--draws N`` for a quick check), 5 virtual animals, 50 trials, for units/animal × stimuli in
``--sizes`` (default 40x118,160x472; ``--large`` adds 640x472); ``--mouse`` adds the thesis' largest
mouse area (≈ 7,000 calcium units over 14 mice, 500 each, 118 stimuli, 10 trials) and ``--40k`` a
40,000-unit recording (5 animals × 8,000 units × 118 stimuli × 50 trials).  Each case runs in fresh
processes: with the responses in memory, the previous path (the source's rows solved once per draw
chunk and split) and the new one (dual ridge from per-animal Gram matrices over all stimuli, summed
over the pooled animals and indexed and centred per split); ``--per-block`` adds the path before both
(every block of target units refits the pooled source, BLAS threads untouched), ``--skip-previous``
times only the new one; the named cases run the new path only.  The new path then runs as a user runs
it: the responses (float32, as generated) written once to a zarr store (chunks of 256 units) and
opened lazily with xarray in a fresh process.  Printed per case: the times, ratios, max |difference|
(lazy vs in memory ≤ 1e-12, paths ≤ 1e-9), the lazy run's peak RSS in total and above its imports
against the response array (goal ≤ 1.5×), time per (draw × split × target animal), the achieved
fraction of this machine's float64 matmul throughput (measured in the same run) and the seconds per
GFLOP of the path's own arithmetic, compared across cases (cost per unit of work); and one mid-size
batched operator apply on 1 BLAS thread and on all cores (the thread rule for batched products).

Usage: python benchmarks/bench_consistency.py [--loop-draws N]
       [--scale [--sizes 40x118,160x472] [--large] [--mouse] [--40k] [--draws N] [--per-block]
        [--skip-previous]]
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


DRAWS, SPLITS, ANIMALS, TRIALS = 20, 10, 5, 50
#: Named cases beyond ``UNITSxSTIMULI`` (5 animals, 50 trials): animals, units/animal, stimuli, trials.
CASES = {
    # the thesis' largest mouse area: ≈ 7,000 calcium units over 14 Allen Brain Observatory mice
    # (≈ 500 units of one area per mouse), 118 natural scenes, 10 trials
    "mouse": (14, 500, 118, 10),
    # a 40,000-unit recording (as bench_reliability_out_of_core.py): 5 animals × 8,000 units
    "40k": (5, 8000, 118, 50),
}
ZARR_UNIT_CHUNK = 256


def _case(name: str) -> tuple[int, int, int, int]:
    if name in CASES:
        return CASES[name]
    units, stimuli = (int(v) for v in name.split("x"))
    return ANIMALS, units, stimuli, TRIALS


def _scale_data(animals: int, units: int, stimuli: int, trials: int):
    from goalstore.sources.virtual_animals import virtual_animals

    return virtual_animals(n_animals=animals, units_per_animal=units, n_stimuli=stimuli, n_time_bins=1,
                           n_trials=trials, n_features=40, noise=2.0, areas=("IT",), seed=0)


def _rss_now() -> int:
    """Resident bytes of this process now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _analyse(responses, path: str, draws: int):
    from goalstore.analyses.consistency import inter_animal_consistency
    from goalstore.analyses.mappings import RidgeMapping
    from goalstore.analyses.stimulus_splits import SplitScheme

    class PerBlockRidge(RidgeMapping):
        operator_form = False  # each target block refits the source

    class StreamedRidge(RidgeMapping):
        prepare_gram = None  # the source's rows solved once per draw chunk and split

    mapping = {"perblock": PerBlockRidge, "streamed": StreamedRidge, "gram": RidgeMapping}[path](1.0)
    return inter_animal_consistency(responses, mapping, pooled=True, n_draws=draws, seed=0,
                                    scheme=SplitScheme(SPLITS, 0.5, seed=0))


def _one(path: str, case: str, draws: int, out: str, store: str | None) -> int:
    """Child process: one path on one case, responses in memory; prints a JSON line (time, RSS) and
    saves the scores; with ``store`` then writes the responses to zarr (float32 as generated, chunks of
    ``ZARR_UNIT_CHUNK`` units) for the lazy run."""
    ds = _scale_data(*_case(case))
    ds["response"].values  # noqa: B018 - materialise before measuring
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    result = _analyse(ds, path, draws)
    seconds = time.perf_counter() - t0
    np.save(out, result["consistency"].values)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if store:
        ds.chunk({"unit": ZARR_UNIT_CHUNK}).to_zarr(store, mode="w")
    print(json.dumps({"seconds": seconds, "peak": peak, "before": rss_before,
                      "response": int(ds["response"].nbytes)}))
    return 0


def _lazy(store: str, draws: int, out: str) -> int:
    """Child process: the analysis as a user runs it: the zarr store opened lazily with xarray
    (nothing read before the analysis); prints the time, RSS after imports and the peak RSS."""
    import xarray as xr

    import goalstore.analyses.consistency  # noqa: F401 - counted with the imports

    imports = _rss_now()
    t0 = time.perf_counter()
    ds = xr.open_zarr(store)
    result = _analyse(ds, "gram", draws)
    seconds = time.perf_counter() - t0
    np.save(out, result["consistency"].values)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the parent's RUSAGE_CHILDREN of it
    print(json.dumps({"seconds": seconds, "peak": peak, "imports": imports,
                      "response": int(ds["response"].nbytes)}))
    return 0


def _run_child(args: list[str], env_blas: str | None = None) -> dict:
    env = dict(os.environ)
    if env_blas:
        env["GOALSTORE_BLAS_THREADS"] = env_blas
    proc = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
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


def _gram_flops(animals: int, units: int, stimuli: int, trials: int, draws: int) -> float:
    """FLOPs of the Gram path: per (draw × half × animal) the Gram matrix over all stimuli
    (2·stimuli²·units); per (draw × half × split × target animal) the dual solve (⅔n³ + 2n²n*)
    and the operator applied to the target (2·n*·n·q); per draw the split-half averages
    (2·trials·stimuli·units per half, each animal read as source and as target)."""
    n = stimuli // 2
    nt = stimuli - n
    grams = 2 * animals * 2 * stimuli**2 * units
    per = 2 / 3 * n**3 + 2 * n * n * nt + 2 * nt * n * units
    halves = 2 * 2 * trials * stimuli * units * 2 * animals
    return draws * (grams + animals * 2 * SPLITS * per + halves)


def _apply_threads() -> None:
    """The BLAS rule for the batched operator apply (issue 16 §1.4): one mid-size batched call (a
    640 × 472 target block: 7 draws × 10 splits of 236 × 236 @ 236 × 198, each product below 2²⁴
    multiply-adds, 46·2²⁴ in all) on 1 BLAS thread (the per-product rule) and on all cores (a rule on
    the batched call's total), best of 5 each, in this run."""
    from threadpoolctl import threadpool_limits

    from goalstore.analyses.blas import _cores
    from goalstore.analyses.mappings import RidgeMapping

    rng = np.random.default_rng(0)
    op, y = rng.standard_normal((7, 10, 1, 236, 236)), rng.standard_normal((7, 10, 1, 236, 198))
    times = {}
    for threads in sorted({1, _cores()}):
        with threadpool_limits(threads, "blas"):
            times[threads] = min(_timed(lambda: RidgeMapping.apply(op, y)) for _ in range(5))
    line = ", ".join(f"{t} thread{'s' * (t > 1)} {s * 1e3:.0f} ms" for t, s in times.items())
    print(f"  batched operator apply (7 × 10 × 236² × 198 multiply-adds): {line}"
          + (f" ({times[1] / times[max(times)]:.2f}× with all cores)" if len(times) > 1 else ""))


def scale(argv: list[str]) -> int:
    sizes = argv[argv.index("--sizes") + 1] if "--sizes" in argv else "40x118,160x472"
    if "--large" in argv:
        sizes += ",640x472"
    cases = sizes.split(",") + [name for name in CASES if f"--{name}" in argv]
    draws = int(argv[argv.index("--draws") + 1]) if "--draws" in argv else DRAWS
    gflops = _matmul_gflops()
    print(f"ridge consistency at scale: pooled source, {draws} split-half draws × {SPLITS} splits; "
          f"float64 matmul throughput {gflops:.1f} GFLOP/s (this run); responses float32 as generated, "
          f"lazy runs read them from zarr (chunks of {ZARR_UNIT_CHUNK} units) in a fresh process")
    _apply_threads()
    ok = True
    previous = [] if "--skip-previous" in argv else ["streamed"]
    previous += ["perblock"] if "--per-block" in argv else []
    names = {"perblock": "per-block path", "streamed": "previous (streamed rows)", "gram": "new (Gram)"}
    costs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            animals, units, stimuli, trials = _case(case)
            store = f"{tmp}/{case}.zarr"
            paths = [p for p in previous if case not in CASES]  # the named cases: new path only
            runs = {p: _run_child(["--one", p, case, str(draws), f"{tmp}/{p}.npy"],
                                  "off" if p == "perblock" else None) for p in paths}
            runs["gram"] = _run_child(["--one", "gram", case, str(draws), f"{tmp}/gram.npy", store])
            lazy = _run_child(["--lazy", store, str(draws), f"{tmp}/lazy.npy"])
            shutil.rmtree(store, ignore_errors=True)
            new, mib = runs["gram"], runs["gram"]["response"] / 2**20
            print(f"  {case}: {animals} animals × {units} units × {stimuli} stimuli × {trials} trials "
                  f"(responses {mib:.0f} MiB):")
            lazy_diff = float(np.nanmax(np.abs(np.load(f"{tmp}/lazy.npy") - np.load(f"{tmp}/gram.npy"))))
            ok &= lazy_diff <= 1e-12
            above = (lazy["peak"] - lazy["imports"]) / 2**20
            print(f"    lazy from zarr (new path) {lazy['seconds']:.1f} s vs in memory {new['seconds']:.1f} s "
                  f"(same run); max |difference| {lazy_diff:.1e}")
            print(f"    lazy peak RSS {lazy['peak'] / 2**20:.0f} MiB = "
                  f"{lazy['peak'] / lazy['response']:.2f}× the "
                  f"responses; above the {lazy['imports'] / 2**20:.0f} MiB of imports {above:.0f} MiB = "
                  f"{above * 2**20 / lazy['response']:.2f}× (goal ≤ 1.5×)")
            for path in paths:
                diff = float(np.nanmax(np.abs(np.load(f"{tmp}/{path}.npy") - np.load(f"{tmp}/gram.npy"))))
                print(f"    {names[path]} {runs[path]['seconds']:.1f} s → new {new['seconds']:.1f} s "
                      f"({runs[path]['seconds'] / new['seconds']:.1f}× faster); max |difference| {diff:.1e}")
                ok &= diff <= 1e-9
            for path, r in runs.items():
                print(f"    in-memory peak RSS {names[path]}: {r['peak'] / 2**20:.0f} MiB = "
                      f"{r['peak'] / r['response']:.2f}× (data generation; the analysis added "
                      f"{(r['peak'] - r['before']) / 2**20:.0f} MiB)")
            flops = _gram_flops(animals, units, stimuli, trials, draws)
            for label, r in (("in memory", new), ("lazy", lazy)):
                per_unit_work = r["seconds"] / (draws * SPLITS * animals) * 1e3
                costs[(case, label)] = r["seconds"] / (flops / 1e9)
                print(f"    {label}: {flops / 1e9:.1f} GFLOP → {flops / r['seconds'] / 1e9:.1f} GFLOP/s = "
                      f"{flops / r['seconds'] / 1e9 / gflops:.0%} of matmul throughput; "
                      f"{costs[(case, label)]:.2f} s per GFLOP; "
                      f"{per_unit_work:.1f} ms per (draw × split × target animal)")
    if len(cases) > 1:
        ref = max((c for c in cases if c not in CASES), key=lambda c: _gram_flops(*_case(c), draws),
                  default=None)
        for case in cases:
            if ref and case != ref:
                ratio = costs[(case, "lazy")] / costs[(ref, "lazy")]
                print(f"  per unit of work, lazy {case} vs lazy {ref}: {costs[(case, 'lazy')]:.2f} vs "
                      f"{costs[(ref, 'lazy')]:.2f} s per GFLOP ({ratio:.2f}×)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if "--one" in argv:
        i = argv.index("--one")
        return _one(argv[i + 1], argv[i + 2], int(argv[i + 3]), argv[i + 4], (argv[i + 5:] or [None])[0])
    if "--lazy" in argv:
        i = argv.index("--lazy")
        return _lazy(argv[i + 1], int(argv[i + 2]), argv[i + 3])
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
