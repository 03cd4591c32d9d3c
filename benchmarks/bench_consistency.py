"""Benchmark: ridge inter-animal consistency, vectorised vs the loop reference (tests/reference_consistency.py).

Virtual animals: 5 animals × 200 units × 118 stimuli × 50 trials (one area, one time bin),
pairwise sources, 100 split-half draws × 10 stimulus splits (50/50).  The vectorised
analysis runs in full; the loop reference is timed on the first ``--loop-draws`` draws
(default 4; all 100 would take about an hour) and its time scaled linearly in the number of
draws (every draw is the same work).  Prints both times, the speed-up (target ≥ 20×) and the
largest difference between the two on the common draws (must be ≤ 1e-9).

Usage: python benchmarks/bench_consistency.py [--loop-draws N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv: list[str]) -> int:
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
