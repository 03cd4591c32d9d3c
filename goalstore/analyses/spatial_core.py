"""The array core of the spatial analysis: rate maps, autocorrelograms, grid and border scores
(notes §3; thesis §4.8); the labelled analysis over a store is :mod:`goalstore.analyses.spatial`.

Everything is vectorised over cells: rate maps are one weighted ``bincount`` over
(cell, bin), autocorrelograms one FFT over the stack of maps, rotations one
``scipy.ndimage.rotate`` over the stack, firing fields one ``scipy.ndimage.label`` whose
structuring element never connects two maps.

* **Rate map**: spike count / occupancy time per spatial bin (5 cm), Gaussian-smoothed
  (σ = 1 bin) for recorded cells; for model units the mean activation per bin, unsmoothed.
* **Grid score**: the spatial autocorrelogram's annulus around the central peak is
  correlated with its rotations by 30°…150°; score = mean(r60, r120) − mean(r30, r90, r150),
  maximised over annulus outer radii.  "Grid cell": score > 0.3.
* **Border score**: ``(cM − dM) / (cM + dM)``; cM = largest fraction of one wall covered by a
  single field (contiguous bins above 0.3 × peak with a minimum area), dM = rate-weighted
  mean distance of field bins to the nearest wall over half the box width.  "Border
  cell": score > 0.5.
* **Shuffle test** (:mod:`goalstore.analyses.spatial_shuffles`): a cell is a grid (border)
  cell when its score exceeds the 95th percentile of the scores of its own shuffled maps.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.fft import next_fast_len

from goalstore.errors import AnalysisInputError

GRID_THRESHOLD = 0.3
BORDER_THRESHOLD = 0.5


# ------------------------------------------------------------------ rate maps
def _bin_index(
    positions: np.ndarray, box_size: tuple[float, float], bin_size: float
) -> tuple[np.ndarray, int, int]:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise AnalysisInputError(f"positions: shape {positions.shape}; expected (samples, 2) in cm")
    if not np.isfinite(positions).all():
        raise AnalysisInputError("positions: NaN or infinite values; drop those samples first")
    nx, ny = int(np.ceil(box_size[0] / bin_size)), int(np.ceil(box_size[1] / bin_size))
    ix = np.clip((positions[:, 0] // bin_size).astype(int), 0, nx - 1)
    iy = np.clip((positions[:, 1] // bin_size).astype(int), 0, ny - 1)
    return ix * ny + iy, nx, ny


def _smooth_nan(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (cell × x × y) maps that ignores NaN bins (normalised convolution)."""
    valid = np.isfinite(maps)
    filled = np.where(valid, maps, 0.0)
    sig = (0, sigma, sigma)
    num = ndimage.gaussian_filter(filled, sig, mode="constant")
    den = ndimage.gaussian_filter(valid.astype(float), sig, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, num / den, np.nan)


def rate_maps_from_spikes(
    positions: np.ndarray,
    spike_counts: np.ndarray,
    dt: float,
    box_size: tuple[float, float],
    bin_size: float = 5.0,
    sigma_bins: float = 1.0,
) -> np.ndarray:
    """(cell × x × y) firing-rate maps (Hz) from tracked positions (samples × 2, cm), per-sample
    spike counts (samples × cell) and the sampling interval ``dt`` (s); unvisited bins are NaN."""
    flat, nx, ny = _bin_index(positions, box_size, bin_size)
    counts = np.asarray(spike_counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != len(flat):
        raise AnalysisInputError(f"spike_counts: shape {counts.shape}; expected ({len(flat)}, cells)")
    n_cells, n_bins = counts.shape[1], nx * ny
    occupancy = np.bincount(flat, minlength=n_bins) * dt
    index = (np.arange(n_cells)[None, :] * n_bins + flat[:, None]).ravel()
    spikes = np.bincount(index, weights=counts.ravel(), minlength=n_cells * n_bins).reshape(n_cells, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(occupancy > 0, spikes / np.where(occupancy > 0, occupancy, 1.0), np.nan)
    rates = rates.reshape(n_cells, nx, ny)
    return _smooth_nan(rates, sigma_bins) if sigma_bins > 0 else rates


def rate_maps_from_activations(
    positions: np.ndarray, activations: np.ndarray, box_size: tuple[float, float], bin_size: float = 5.0
) -> np.ndarray:
    """(unit × x × y) mean activation per spatial bin of model units along trajectories (no smoothing)."""
    flat, nx, ny = _bin_index(positions, box_size, bin_size)
    values = np.asarray(activations, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != len(flat):
        raise AnalysisInputError(f"activations: shape {values.shape}; expected ({len(flat)}, units)")
    n_units, n_bins = values.shape[1], nx * ny
    visits = np.bincount(flat, minlength=n_bins)
    index = (np.arange(n_units)[None, :] * n_bins + flat[:, None]).ravel()
    sums = np.bincount(index, weights=values.ravel(), minlength=n_units * n_bins).reshape(n_units, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(visits > 0, sums / np.where(visits > 0, visits, 1), np.nan).reshape(n_units, nx, ny)


# ------------------------------------------------------------------ grid score
def autocorrelograms(maps: np.ndarray, min_overlap: int = 20) -> np.ndarray:
    """Spatial autocorrelograms of (cell × x × y) maps → (cell × 2x−1 × 2y−1), Pearson correlation
    over the overlapping visited bins at each lag (NaN where fewer than ``min_overlap``)."""
    maps = np.asarray(maps, dtype=np.float64)
    valid = np.isfinite(maps).astype(float)
    f = np.where(valid > 0, maps, 0.0)
    nx, ny = maps.shape[-2:]
    shape = (2 * nx - 1, 2 * ny - 1)

    # each array's transform, and its flipped one's, once (6 forward transforms, not 12), padded to
    # a fast FFT length (2n − 1 is often prime); lags beyond 2n − 1 are cropped
    fast = (next_fast_len(shape[0], real=True), next_fast_len(shape[1], real=True))
    spectra = {k: (np.fft.rfft2(a, fast), np.fft.rfft2(a[..., ::-1, ::-1], fast))
               for k, a in (("v", valid), ("f", f), ("ff", f * f))}

    def xcorr(a: str, b: str) -> np.ndarray:
        return np.fft.irfft2(spectra[a][0] * spectra[b][1], fast)[..., : shape[0], : shape[1]]

    n = np.rint(xcorr("v", "v"))
    s1, s2 = xcorr("f", "v"), xcorr("v", "f")
    s11, s22 = xcorr("ff", "v"), xcorr("v", "ff")
    s12 = xcorr("f", "f")
    num = n * s12 - s1 * s2
    den = (n * s11 - s1**2) * (n * s22 - s2**2)
    ok = (n >= min_overlap) & (den > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / np.sqrt(np.where(ok, den, 1.0)), np.nan)


def _ring_sums(values: np.ndarray, ring: np.ndarray, n_rings: int) -> np.ndarray:
    """Per row of ``values`` (map × bin), the sums over the bins of each ring index (map × ring): one
    ``bincount`` (a BLAS product with a one-hot matrix would be as exact, but multithreaded BLAS on
    small products stalls on a busy machine)."""
    index = (np.arange(len(values))[:, None] * n_rings + ring[None, :]).ravel()
    return np.bincount(index, weights=values.ravel(), minlength=len(values) * n_rings).reshape(-1, n_rings)


def _central_radius(acorrs: np.ndarray, radius: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Per cell, the radius (bins) where the radially averaged autocorrelogram first falls below
    ``threshold``: the extent of the central peak, excluded from the annulus."""
    rbin = np.rint(radius).astype(int).ravel()
    n_r = rbin.max() + 1
    valid = np.isfinite(acorrs).reshape(len(acorrs), -1)
    sums = _ring_sums(np.where(valid, acorrs.reshape(len(acorrs), -1), 0.0), rbin, n_r)
    counts = _ring_sums(valid.astype(float), rbin, n_r)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    below = profile < threshold
    below[:, 0] = False
    first = np.where(below.any(axis=1), below.argmax(axis=1), n_r // 8)  # no clear peak: a small one
    largest = int(min(acorrs.shape[1], acorrs.shape[2]) // 2)
    return np.clip(first, 1, max(1, (largest - 2) // 2))  # leave room for an annulus (e.g. stripes)


def grid_scores(
    maps: np.ndarray, radii: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid score per cell (max over annulus outer radii), the per-radius scores and the radii (bins).

    The annulus runs from each cell's central-peak radius to each outer radius; the
    correlation with each rotation uses the annulus bins finite in both.
    """
    acorrs = autocorrelograms(maps)
    cx, cy = (acorrs.shape[1] - 1) / 2, (acorrs.shape[2] - 1) / 2
    gx, gy = np.meshgrid(np.arange(acorrs.shape[1]) - cx, np.arange(acorrs.shape[2]) - cy, indexing="ij")
    radius = np.hypot(gx, gy)
    inner = _central_radius(acorrs, radius)
    if radii is None:
        largest = int(min(cx, cy))
        radii = tuple(range(max(int(inner.min()) + 4, 5), largest + 1))
    if not radii:
        raise AnalysisInputError("maps: too small for an annulus beyond the central peak")
    valid = np.isfinite(acorrs)
    filled = np.where(valid, acorrs, 0.0)
    n_maps = len(acorrs)
    # annulus (inner, outer] = rings inner+1 … outer, ring = ⌈radius⌉: the sums over an annulus are
    # differences of cumulative sums over rings, so all outer radii cost one pass over the bins
    ring = np.ceil(radius).astype(int).ravel()
    n_rings = int(ring.max()) + 1
    radii_index = np.asarray(radii, dtype=int)
    outer_ring = np.clip(radii_index, 0, n_rings - 1)  # an outer radius beyond the corners: every ring
    # an annulus must reach well beyond the central peak (outer ≥ 2 × its radius + 2 bins)
    usable = radii_index[None, :] >= 2 * inner[:, None] + 2
    a = filled.reshape(n_maps, -1)
    corr = {}
    # maps sharing a visited area (e.g. shuffles of one cell) share their valid mask: rotate each once
    masks, mask_of = np.unique(valid.reshape(n_maps, -1), axis=0, return_inverse=True)
    masks = masks.reshape(-1, *valid.shape[1:]).astype(float)
    for angle in (30, 60, 90, 120, 150):
        r = ndimage.rotate(filled, angle, axes=(1, 2), reshape=False, order=1, mode="constant", cval=0.0)
        m = (ndimage.rotate(masks, angle, axes=(1, 2), reshape=False, order=1, mode="constant") > 0.99)[
            mask_of.ravel()
        ]
        w = (valid & m).reshape(n_maps, -1).astype(float)
        b = np.where(m, r, 0.0).reshape(n_maps, -1)
        sums = []
        for term in (w, w * a, w * b, w * a * a, w * b * b, w * a * b):  # n, Σa, Σb, Σa², Σb², Σab
            cum = np.cumsum(_ring_sums(term, ring, n_rings), axis=1)
            sums.append(cum[:, outer_ring] - cum[np.arange(n_maps), inner][:, None])
        n, sa, sb, saa, sbb, sab = sums
        va, vb = n * saa - sa**2, n * sbb - sb**2
        ok = usable & (n >= 20) & (va > 1e-12 * n * saa) & (vb > 1e-12 * n * sbb)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr[angle] = np.where(ok, (n * sab - sa * sb) / np.sqrt(np.where(ok, va * vb, 1.0)), np.nan)
    scores = (corr[60] + corr[120]) / 2 - (corr[30] + corr[90] + corr[150]) / 3
    best = np.where(
        np.isfinite(scores).any(axis=1),
        np.nanmax(np.where(np.isfinite(scores), scores, -np.inf), axis=1),
        np.nan,
    )
    return best, scores, np.asarray(radii)


# ---------------------------------------------------------------- border score
def border_scores(maps: np.ndarray, field_threshold: float = 0.3, min_field_bins: int = 8) -> np.ndarray:
    """Border score per cell, ``(cM − dM) / (cM + dM)`` (Solstad et al. 2008); NaN without a field.

    Fields are 8-connected bins above ``field_threshold`` × the cell's peak rate with at
    least ``min_field_bins`` bins; walls are the map's outer rows and columns.
    """
    maps = np.asarray(maps, dtype=np.float64)
    n_cells, nx, ny = maps.shape
    rates = np.where(np.isfinite(maps), maps, 0.0)
    peak = rates.reshape(n_cells, -1).max(axis=1)
    above = rates > field_threshold * peak[:, None, None]
    above &= peak[:, None, None] > 0
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # connect within a map only
    labels, n_labels = ndimage.label(above, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=n_labels + 1)
    keep = sizes >= min_field_bins
    keep[0] = False
    owner = np.zeros(n_labels + 1, dtype=int)
    owner[labels.ravel()] = np.repeat(np.arange(n_cells), nx * ny)
    walls = [labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]]
    coverage = np.zeros(n_labels + 1)
    for wall in walls:
        coverage = np.maximum(coverage, np.bincount(wall.ravel(), minlength=n_labels + 1) / wall.shape[1])
    c_m = np.zeros(n_cells)
    np.maximum.at(c_m, owner[keep], coverage[keep])
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    distance = np.minimum.reduce([ix + 0.5, nx - ix - 0.5, iy + 0.5, ny - iy - 0.5]) / (min(nx, ny) / 2)
    in_field = keep[labels]
    weights = np.where(in_field, rates, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_m = (weights * distance[None]).sum((1, 2)) / weights.sum((1, 2))
        score = (c_m - d_m) / (c_m + d_m)
    has_field = in_field.any(axis=(1, 2))
    return np.where(has_field, score, np.nan)
