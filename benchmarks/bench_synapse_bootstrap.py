"""Benchmark: 1,000 bootstrap resamples of the full Markov + Kesten fit, both cell types.

Compares the vectorised bootstrap (resamples as an array axis,
``goalstore.analyses.synapse_dynamics.bootstrap_fits``) with the straightforward
per-resample loop (``fit_once`` on each resampled weight matrix) over the same
resamples (same seed), checks the results are identical (to 1e-9 relative), and
prints both times and the speed-up (target ≥ 10×).

Usage: python benchmarks/bench_synapse_bootstrap.py [N_BOOTSTRAP]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from goalstore.analyses import markov_chain
from goalstore.analyses.resampling import bootstrap_indices
from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig, bootstrap_fits, fit_once
from goalstore.sources.melander2021 import CELL_TYPES, load_weight_matrix


def main(n_bootstrap: int = 1000) -> int:
    config = SynapseDynamicsConfig(n_bootstrap=n_bootstrap, seed=0)
    total_vec = total_loop = 0.0
    identical = True
    for cell_type in CELL_TYPES:
        weights = load_weight_matrix(cell_type)["weight"].values
        binning = markov_chain.state_binning(weights)
        _, starts = markov_chain.starting_distributions(binning.n_states, config.seed,
                                                        config.n_random_starts)
        indices = bootstrap_indices(weights.shape[0], n_bootstrap, config.seed)
        t0 = time.perf_counter()
        vectorised = bootstrap_fits(weights, binning, starts, indices, config)
        t_vec = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = [fit_once(weights[i], binning, starts, config) for i in indices]
        t_loop = time.perf_counter() - t0
        for key, values in vectorised.items():
            reference = np.array([r[key] for r in loop])
            identical &= bool(np.allclose(values, reference, rtol=1e-9, atol=1e-12))
        print(f"{cell_type:>4}: {weights.shape[0]} synapses × {weights.shape[1]} sessions, "
              f"{n_bootstrap} resamples: vectorised {t_vec:.2f} s, loop {t_loop:.2f} s, "
              f"speed-up {t_loop / t_vec:.1f}×")
        total_vec, total_loop = total_vec + t_vec, total_loop + t_loop
    speedup = total_loop / total_vec
    print(f"both: vectorised {total_vec:.2f} s, loop {total_loop:.2f} s, speed-up {speedup:.1f}× "
          f"(target ≥ 10×); identical results: {identical}")
    ok = identical and speedup >= 10
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
