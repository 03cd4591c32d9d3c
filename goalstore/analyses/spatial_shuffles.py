"""Shuffle test of grid and border scores: a per-cell null distribution (notes §3, thesis §4.8).

A fixed threshold (grid score > 0.3) is not a test: on small maps, maximising the grid score
over annulus radii gives smoothed random maps a score above 0.3 about a quarter of the time.
The shuffle test scores ``N`` shuffled copies of each cell's data and calls the cell a grid
(border) cell when its score exceeds the 95th percentile of its own shuffles; its p-value is

    p = (1 + #{shuffles with score ≥ observed}) / (1 + N)

(the shuffle counted as one more draw of the null, so ``p ≥ 1 / (1 + N)``, never 0).

**Spike trains with a trajectory** (:func:`spike_shuffle_test`): the standard shuffle.  Each
cell's spike train is circularly shifted in time against the trajectory by a random amount
of at least 20 s (and at most the recording length minus 20 s), and the rate map is rebuilt
from the shifted train.  That keeps the spike train (rate, bursts) and the trajectory and
occupancy intact and breaks only the relation between spikes and position.

**Rate maps only** (:func:`map_shuffle_test`, what ``goalstore analyze spatial`` has): no
spike train to shift, so the map itself is shuffled, and the shuffle must destroy a grid
while keeping everything a non-grid map could have by chance — its rate distribution and its
field size.  The obvious candidates do not destroy a grid:

* a circular shift of the whole map leaves its circular autocorrelogram unchanged and the
  (linear) one the grid score uses nearly so (only the seam changes) — a shifted grid is a grid;
* a rotation of the whole map rotates its autocorrelogram, and the grid score (correlations
  with the autocorrelogram's own rotations) does not depend on the orientation;
* moving each firing field by its own random shift/rotation needs fields, and on smoothed
  maps the 0.3 × peak threshold merges most of the map into one field: back to moving the map.

The map shuffle used here therefore shifts and rotates the map's *spatial-frequency
components* rather than its fields: in the 2-D Fourier transform of the (mean-centred) map,
the amplitudes within each shell of equal spatial frequency are permuted among the
directions of that shell, and every component gets a uniformly random phase (a random
circular shift of each plane wave).  The shuffled map has the original radial power
spectrum (so the same field size and, for a grid, the same field spacing), but its plane
waves point in random directions: the three waves at 60° to one another that make a
hexagonal grid (and the wave perpendicular to a wall that makes a border field) are gone,
unless chance puts them back — which is what the null should measure.  Finally the shuffled
map's visited bins are given the original map's rates by rank (amplitude adjustment), so it
has exactly the original rate distribution, and its unvisited bins stay unvisited.  For a
spatially homogeneous random map (the non-grid case the threshold fails on) the shuffled
maps are draws of the same kind of map, so the test holds its nominal 5% false-positive
rate (README: measured).

Everything is vectorised: each chunk of shuffles is one FFT over (shuffle × cell) maps, one
``argsort`` for the permutations and the rank adjustment, and one call of the vectorised
:func:`~goalstore.analyses.spatial.grid_scores` and
:func:`~goalstore.analyses.spatial.border_scores` with the shuffles as cells.  Chunks bound
memory (about ``max_chunk_bytes``).  Shuffle ``s`` draws from its own generator seeded with
``(seed, s)``, so results do not depend on the chunk size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from goalstore.analyses.spatial_core import border_scores, grid_scores, rate_maps_from_spikes
from goalstore.errors import AnalysisInputError

#: A cell is classified by the shuffle when its score exceeds this percentile of its shuffles.
SHUFFLE_PERCENTILE = 95.0
#: The smallest circular time shift of a spike train against the trajectory (s).
MIN_SHIFT_S = 20.0
#: Working memory of one chunk of shuffles (bytes, approximate).
MAX_CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class ShuffleTest:
    """Per cell: observed scores, the shuffles' scores (shuffle × cell), 95th percentiles and p-values."""

    grid_score: np.ndarray
    border_score: np.ndarray
    grid_null: np.ndarray
    border_null: np.ndarray
    grid_threshold: np.ndarray
    grid_p: np.ndarray
    border_threshold: np.ndarray
    border_p: np.ndarray

    @property
    def is_grid_cell(self) -> np.ndarray:
        """Grid score above the 95th percentile of the cell's shuffles."""
        return _exceeds(self.grid_score, self.grid_threshold)

    @property
    def is_border_cell(self) -> np.ndarray:
        """Border score above the 95th percentile of the cell's shuffles."""
        return _exceeds(self.border_score, self.border_threshold)


def _exceeds(score: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    # a NaN threshold: more than 5% of the shuffles had no score (no annulus, no field), below any score
    return np.nan_to_num(score, nan=-np.inf) > np.nan_to_num(threshold, nan=-np.inf)


def _check_n_shuffles(n_shuffles: int) -> int:
    try:
        ok = not isinstance(n_shuffles, bool) and int(n_shuffles) == n_shuffles and int(n_shuffles) >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise AnalysisInputError(f"n_shuffles must be a whole number of at least 1; got {n_shuffles!r}")
    return int(n_shuffles)


def null_statistics(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95th percentile of each cell's shuffle scores (shuffle × cell) and the p-value
    ``(1 + #{null ≥ observed}) / (1 + N)``.

    The percentile is the order statistic at or just above it (``method="higher"``), so that for
    N ≥ 20 "score > threshold" and "p ≤ 0.05" classify alike (ties aside); linear interpolation
    would call a cell with 5 of 100 shuffles above it (p = 0.059) significant.  A NaN shuffle
    score (no annulus, no field) counts as below every observed score; a NaN observed score gets
    p = NaN."""
    n = null.shape[0]
    filled = np.nan_to_num(null, nan=-np.inf)
    threshold = np.percentile(filled, SHUFFLE_PERCENTILE, axis=0, method="higher")
    threshold = np.where(np.isfinite(threshold), threshold, np.nan)
    with np.errstate(invalid="ignore"):
        p = (1.0 + (filled >= observed[None]).sum(axis=0)) / (1.0 + n)
    return threshold, np.where(np.isfinite(observed), p, np.nan)


def _shuffles_per_chunk(n_cells: int, nx: int, ny: int, max_chunk_bytes: int, extra_bytes: int = 0) -> int:
    """Shuffles per chunk within ``max_chunk_bytes``: grid_scores holds about 40
    autocorrelogram-sized float64 arrays per map at its peak, plus ``extra_bytes`` per shuffle."""
    per_shuffle = 40 * 8 * (2 * nx - 1) * (2 * ny - 1) * max(n_cells, 1) + extra_bytes
    return max(1, int(max_chunk_bytes // per_shuffle))


def run_shuffle_test(
    observed_maps: np.ndarray,
    shuffled: Callable[[int, int], np.ndarray],
    n_shuffles: int,
    chunk: int,
    field_threshold: float = 0.3,
    min_field_bins: int = 8,
    progress: bool = False,
) -> ShuffleTest:
    """Score ``observed_maps`` (cell × x × y) and ``n_shuffles`` shuffled copies of them, ``chunk``
    shuffles at a time; ``shuffled(start, stop)`` returns shuffles ``start…stop−1`` as
    (shuffle × cell × x × y)."""
    from tqdm.auto import tqdm

    n_shuffles = _check_n_shuffles(n_shuffles)
    observed_maps = np.asarray(observed_maps, dtype=np.float64)
    n_cells, nx, ny = observed_maps.shape
    grid = grid_scores(observed_maps)[0]
    border = border_scores(observed_maps, field_threshold, min_field_bins)
    grid_null = np.full((n_shuffles, n_cells), np.nan)
    border_null = np.full((n_shuffles, n_cells), np.nan)
    step = max(1, int(chunk))
    with tqdm(total=n_shuffles, disable=not progress, desc="spatial shuffles", unit="shuffle") as bar:
        for start in range(0, n_shuffles, step):
            stop = min(start + step, n_shuffles)
            maps = shuffled(start, stop).reshape(-1, nx, ny)
            grid_null[start:stop] = grid_scores(maps)[0].reshape(stop - start, n_cells)
            border_null[start:stop] = border_scores(maps, field_threshold, min_field_bins).reshape(
                stop - start, n_cells
            )
            bar.update(stop - start)
    grid_threshold, grid_p = null_statistics(grid, grid_null)
    border_threshold, border_p = null_statistics(border, border_null)
    return ShuffleTest(grid, border, grid_null, border_null, grid_threshold, grid_p, border_threshold, border_p)


# ------------------------------------------------------------------ rate maps only
def _frequency_shells(nx: int, ny: int) -> np.ndarray:
    """Shell index (spatial frequency in cycles per map side, rounded) of every ``fft2`` bin."""
    side = min(nx, ny)
    kx, ky = np.meshgrid(np.fft.fftfreq(nx) * side, np.fft.fftfreq(ny) * side, indexing="ij")
    return np.rint(np.hypot(kx, ky)).astype(np.int64).ravel()


def spectral_shuffles(maps: np.ndarray, start: int, stop: int, seed: int = 0) -> np.ndarray:
    """Shuffles ``start…stop−1`` of (cell × x × y) rate maps → (shuffle × cell × x × y): Fourier
    amplitudes permuted within shells of equal spatial frequency, random phases, then the original
    visited rates assigned by rank (see the module docstring for why this and not a map shift)."""
    maps = np.asarray(maps, dtype=np.float64)
    n_cells, nx, ny = maps.shape
    n_bins = nx * ny
    valid = np.isfinite(maps).reshape(n_cells, n_bins)
    flat = maps.reshape(n_cells, n_bins)
    mean = np.nanmean(np.where(valid, flat, np.nan), axis=1)
    centred = np.where(valid, flat - mean[:, None], 0.0).reshape(n_cells, nx, ny)  # unvisited: the mean
    amplitude = np.abs(np.fft.fft2(centred)).reshape(n_cells, n_bins)
    shells = _frequency_shells(nx, ny)
    grouped = np.argsort(shells, kind="stable")  # bins grouped by shell
    k = stop - start
    keys = np.empty((k, n_cells, n_bins))
    phases = np.empty((k, n_cells, n_bins))
    for i, s in enumerate(range(start, stop)):  # one generator per shuffle: independent of chunking
        rng = np.random.default_rng([int(seed), s])
        keys[i] = rng.random((n_cells, n_bins))
        phases[i] = rng.uniform(0.0, 2 * np.pi, (n_cells, n_bins))
    # shell + a random key in [0, 1): sorting groups bins by shell in a random order within each
    order = np.argsort(shells[None, None] + keys, axis=-1)
    permuted = np.empty((k, n_cells, n_bins))
    permuted[..., grouped] = np.take_along_axis(np.broadcast_to(amplitude, (k, n_cells, n_bins)), order, -1)
    spectrum = (permuted * np.exp(1j * phases)).reshape(k, n_cells, nx, ny)
    surrogate = np.fft.ifft2(spectrum).real.reshape(k, n_cells, n_bins)
    # amplitude adjustment: the i-th smallest visited bin gets the cell's i-th smallest visited rate
    surrogate = np.where(valid[None], surrogate, np.inf)  # unvisited bins rank last …
    ranks = np.argsort(surrogate, axis=-1)
    rates = np.sort(np.where(valid, flat, np.nan), axis=-1)  # … as do the NaN (unvisited) rates
    out = np.empty((k, n_cells, n_bins))
    np.put_along_axis(out, ranks, np.broadcast_to(rates, (k, n_cells, n_bins)), axis=-1)
    return out.reshape(k, n_cells, nx, ny)


def map_shuffle_test(
    maps: np.ndarray,
    n_shuffles: int = 100,
    seed: int = 0,
    field_threshold: float = 0.3,
    min_field_bins: int = 8,
    progress: bool = False,
    max_chunk_bytes: int = MAX_CHUNK_BYTES,
) -> ShuffleTest:
    """Shuffle test of (cell × x × y) rate maps with :func:`spectral_shuffles` (no spike trains)."""
    n_shuffles = _check_n_shuffles(n_shuffles)
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise AnalysisInputError(f"maps: shape {maps.shape}; expected (cell, x, y)")
    if (np.isfinite(maps).sum(axis=(1, 2)) < 2).any():
        raise AnalysisInputError("maps: a cell has fewer than 2 visited bins; nothing to shuffle")
    return run_shuffle_test(
        maps,
        lambda start, stop: spectral_shuffles(maps, start, stop, seed),
        n_shuffles,
        _shuffles_per_chunk(*maps.shape, max_chunk_bytes),
        field_threshold,
        min_field_bins,
        progress,
    )


# ------------------------------------------------------------ spike trains + trajectory
def time_shifts(n_samples: int, dt: float, n_cells: int, start: int, stop: int, seed: int = 0,
                min_shift_s: float = MIN_SHIFT_S) -> np.ndarray:
    """Circular shifts (samples) of shuffles ``start…stop−1`` × cell, uniform in
    [min_shift, n_samples − min_shift] so every shift moves the train ≥ ``min_shift_s`` either way."""
    low = int(np.ceil(min_shift_s / dt))
    if n_samples - 2 * low < 1:
        raise AnalysisInputError(
            f"spike trains: {n_samples * dt:.1f} s is too short for circular shifts of at least "
            f"{min_shift_s:g} s (need more than {2 * min_shift_s:g} s)"
        )
    return np.stack(
        [np.random.default_rng([int(seed), s]).integers(low, n_samples - low + 1, n_cells)
         for s in range(start, stop)]
    )


def spike_shuffle_test(
    positions: np.ndarray,
    spike_counts: np.ndarray,
    dt: float,
    box_size: tuple[float, float],
    n_shuffles: int = 100,
    seed: int = 0,
    min_shift_s: float = MIN_SHIFT_S,
    bin_size: float = 5.0,
    sigma_bins: float = 1.0,
    field_threshold: float = 0.3,
    min_field_bins: int = 8,
    progress: bool = False,
    max_chunk_bytes: int = MAX_CHUNK_BYTES,
) -> ShuffleTest:
    """Shuffle test from tracked positions (samples × 2, cm) and spike counts (samples × cell): each
    shuffle circularly shifts every cell's spike train by ≥ ``min_shift_s`` against the trajectory
    and rebuilds its rate map (all shuffles of a chunk as extra columns of one rate-map call)."""
    n_shuffles = _check_n_shuffles(n_shuffles)
    if not dt > 0 or not min_shift_s > 0:
        raise AnalysisInputError(f"dt and min_shift_s must be positive; got {dt!r} and {min_shift_s!r}")
    counts = np.asarray(spike_counts, dtype=np.float64)
    observed = rate_maps_from_spikes(positions, counts, dt, box_size, bin_size, sigma_bins)
    n_samples, n_cells = counts.shape
    time_shifts(n_samples, dt, n_cells, 0, 1, seed, min_shift_s)  # refuse a short recording up front
    t = np.arange(n_samples)

    def shuffled(start: int, stop: int) -> np.ndarray:
        shifts = time_shifts(n_samples, dt, n_cells, start, stop, seed, min_shift_s)  # shuffle × cell
        rolled = counts[(t[:, None, None] - shifts[None]) % n_samples, np.arange(n_cells)]
        maps = rate_maps_from_spikes(positions, rolled.reshape(n_samples, -1), dt, box_size, bin_size,
                                     sigma_bins)
        return maps.reshape(stop - start, n_cells, *maps.shape[1:])

    # a chunk also holds the rolled counts, their indices and the rate maps' bin indices and weights
    # (each samples × shuffle × cell)
    chunk = _shuffles_per_chunk(*observed.shape, max_chunk_bytes, extra_bytes=6 * 8 * n_samples * n_cells)
    return run_shuffle_test(observed, shuffled, n_shuffles, chunk, field_threshold, min_field_bins, progress)
