"""Benchmark: the shuffle test of grid and border scores — false positives and time.

* false-positive rate on smoothed random maps (the demo's random cells: 20 × 20 bins of
  uniform noise, Gaussian σ = 1 bin): fraction called grid (border) cells by the fixed
  threshold (0.3; 0.5) and by the shuffle test (score > 95th percentile of its shuffles);
* the demo store's and the Gerlei MEC cells' classifications by both rules (Gerlei only where
  ../shared/data/mec/gerlei_open_field/firing_maps.npz exists);
* time of ``spatial_scores`` with N shuffles against none, and against scoring the same
  shuffled maps one shuffle at a time (the loop the batched shuffle axis replaces).

Usage: python benchmarks/bench_spatial_shuffles.py [N_RANDOM_MAPS] [N_SHUFFLES]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from goalstore.analyses.spatial import (
    BORDER_THRESHOLD,
    GRID_THRESHOLD,
    border_scores,
    grid_scores,
    spatial_scores,
)
from goalstore.analyses.spatial_shuffles import map_shuffle_test, spectral_shuffles
from goalstore.sources.rate_maps import load_gerlei_firing_maps, synthetic_rate_maps

GERLEI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mec" / "gerlei_open_field"
GERLEI = GERLEI / "firing_maps.npz"


def _classify(name: str, ds, n_shuffles: int) -> None:
    t0 = time.perf_counter()
    plain = spatial_scores(ds)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = spatial_scores(ds, n_shuffles=n_shuffles, seed=0)
    t_shuffled = time.perf_counter() - t0
    maps = ds["rate"].values
    t0 = time.perf_counter()
    for s in range(n_shuffles):  # the same shuffles scored one at a time
        one = spectral_shuffles(maps, s, s + 1, 0)[0]
        grid_scores(one), border_scores(one)
    t_loop = time.perf_counter() - t0
    assert np.allclose(out["grid_score"], plain["grid_score"], equal_nan=True)
    print(f"{name}: {ds.sizes['unit']} cells of {ds.sizes['x']} x {ds.sizes['y']} bins; "
          f"no shuffles {t_plain:.2f} s, {n_shuffles} shuffles {t_shuffled:.2f} s "
          f"(one shuffle at a time: {t_loop:.2f} s)")
    print(f"  grid cells: threshold {int(out['is_grid_cell'].sum())}, shuffle "
          f"{int(out['is_grid_cell_shuffle'].sum())}; border cells: threshold "
          f"{int(out['is_border_cell'].sum())}, shuffle {int(out['is_border_cell_shuffle'].sum())}")
    for i, unit in enumerate(out["unit_id"].values):
        v = {k: float(out[k].values[i]) for k in ("grid_score", "grid_threshold", "grid_p", "border_score",
                                                  "border_threshold", "border_p")}
        print(f"  {unit:40s} grid {v['grid_score']:+.2f} (95% {v['grid_threshold']:+.2f}, p {v['grid_p']:.3f})"
              f"  border {v['border_score']:+.2f} (95% {v['border_threshold']:+.2f}, p {v['border_p']:.3f})")


def main(n_maps: int = 400, n_shuffles: int = 100) -> int:
    rng = np.random.default_rng(2026)
    maps = np.stack([ndimage.gaussian_filter(rng.random((20, 20)), 1.0) * 10 + 0.2 * rng.random((20, 20))
                     for _ in range(n_maps)])
    t0 = time.perf_counter()
    test = map_shuffle_test(maps, n_shuffles, seed=0, progress=True)
    elapsed = time.perf_counter() - t0
    se = np.sqrt(0.05 * 0.95 / n_maps)
    print(f"{n_maps} smoothed random maps, {n_shuffles} shuffles each ({elapsed:.1f} s; binomial s.e. at 5%: "
          f"{se:.3f})")
    print(f"  called grid cells: threshold {GRID_THRESHOLD}: {np.mean(test.grid_score > GRID_THRESHOLD):.3f}, "
          f"shuffle: {np.mean(test.is_grid_cell):.3f}")
    print(f"  called border cells: threshold {BORDER_THRESHOLD}: "
          f"{np.mean(test.border_score > BORDER_THRESHOLD):.3f}, shuffle: {np.mean(test.is_border_cell):.3f}")
    _classify("demo-rate-maps", synthetic_rate_maps(seed=0), n_shuffles)
    if GERLEI.is_file():
        _classify("Gerlei open field", load_gerlei_firing_maps(GERLEI), n_shuffles)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
