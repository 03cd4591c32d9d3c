"""Rate-map recordings from arrays (x × y × cell per animal) → the canonical ``unit × x × y`` store.

Also a generator of synthetic maps with known structure (hexagonal grids, wall fields,
random maps) for the embedded demo and tests, and a reader of the Gerlei open-field
firing maps (``firing_maps.npz``; real MEC cells — not redistributable, so goalstore
reads it from where the user keeps it and never vendors it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from goalstore.errors import AnalysisInputError
from goalstore.schema import recording_attrs


def rate_map_recording(
    maps: dict[str, np.ndarray],
    bin_size_cm: float,
    *,
    area: str = "MEC",
    species: str = "mouse",
    source: str = "arrays",
    license: str = "unknown",
    citation: str = "unknown",
    cell_ids: dict[str, list[str]] | None = None,
) -> xr.Dataset:
    """Canonical rate-map store from ``{animal: array (x × y × cell)}`` (rates in Hz, NaN = unvisited)."""
    blocks, ids, animals = [], [], []
    shape = None
    for animal, array in maps.items():
        array = np.asarray(array, dtype=np.float64)
        if array.ndim != 3:
            raise AnalysisInputError(f"maps[{animal!r}]: shape {array.shape}; expected (x, y, cell)")
        if shape is not None and array.shape[:2] != shape:
            raise AnalysisInputError(f"maps[{animal!r}]: {array.shape[:2]} bins; other animals have {shape}")
        shape = array.shape[:2]
        blocks.append(np.moveaxis(array, 2, 0))
        names = (cell_ids or {}).get(animal) or [f"cell{i:03d}" for i in range(array.shape[2])]
        ids += [f"{animal}_{n}" for n in names]
        animals += [animal] * array.shape[2]
    if not blocks:
        raise AnalysisInputError("maps: no animal given")
    values = np.concatenate(blocks)
    centers_x = (np.arange(shape[0]) + 0.5) * bin_size_cm
    centers_y = (np.arange(shape[1]) + 0.5) * bin_size_cm
    return xr.Dataset(
        {"rate": (("unit", "x", "y"), values, {"units": "Hz", "description": "firing-rate map"})},
        coords={
            "unit_id": ("unit", ids),
            "animal": ("unit", animals),
            "area": ("unit", [area] * len(ids)),
            "x_center": ("x", centers_x, {"units": "cm"}),
            "y_center": ("y", centers_y, {"units": "cm"}),
        },
        attrs=recording_attrs(
            species=species,
            modality="spatial rate maps",
            source=source,
            license=license,
            citation=citation,
            bin_size_cm=float(bin_size_cm),
        ),
    )


def load_gerlei_firing_maps(path: str | Path, box_size_cm: float = 100.0) -> xr.Dataset:
    """Rate maps in the Gerlei open-field layout: an ``.npz`` with ``firing_maps`` (cell × x × y, Hz, NaN =
    unvisited) and optionally ``cluster_id`` (cell) and ``session_id`` (one value, or one per cell).

    The Gerlei example (7 MEC cells of one mouse, 42 × 42 bins, already smoothed) is not redistributable:
    pass the path of ``firing_maps.npz`` where you keep it.  The maps are square bins of a box
    ``box_size_cm`` on a side.  A file that is not in this layout is refused in one line naming the
    array (:class:`~goalstore.errors.AnalysisInputError`).
    """
    path = Path(path)
    if not path.is_file():
        raise AnalysisInputError(f"{path}: no such file (an .npz with firing_maps, e.g. firing_maps.npz of the "
                                 "Gerlei open-field example)")
    if not box_size_cm > 0:
        raise AnalysisInputError(f"box_size_cm {box_size_cm}: expected a positive box side in cm")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in ("firing_maps", "cluster_id", "session_id") if k in data}
    except (OSError, ValueError, EOFError) as exc:
        raise AnalysisInputError(f"{path.name}: not a readable NumPy .npz file ({exc})") from None
    if "firing_maps" not in arrays:
        raise AnalysisInputError(f"{path.name}: no array firing_maps (expected cell × x × y rate maps)")
    raw = arrays["firing_maps"]
    if raw.ndim != 3 or raw.dtype.kind not in "fiu" or 0 in raw.shape:
        raise AnalysisInputError(f"{path.name}: firing_maps has shape {raw.shape} and dtype {raw.dtype}; "
                                 "expected numbers, cell × x × y")
    if raw.shape[1] != raw.shape[2]:
        raise AnalysisInputError(f"{path.name}: firing_maps has {raw.shape[1]} x {raw.shape[2]} bins; "
                                 "expected a square grid of a square box")
    maps = raw.astype(np.float64)  # cell × x × y
    if np.isinf(maps).any() or (maps < 0).any():
        raise AnalysisInputError(f"{path.name}: firing_maps holds infinite or negative rates; "
                                 "expected rates in Hz (NaN = unvisited)")
    empty = np.flatnonzero(np.isnan(maps).all(axis=(1, 2)))
    if len(empty):
        raise AnalysisInputError(f"{path.name}: firing_maps cell(s) {', '.join(map(str, empty[:5]))} have no "
                                 "visited bin")
    n = len(maps)
    clusters = [str(c) for c in arrays.get("cluster_id", np.arange(n)).ravel()]
    if len(clusters) != n or len(set(clusters)) != n:
        raise AnalysisInputError(f"{path.name}: cluster_id has {len(clusters)} values ({len(set(clusters))} "
                                 f"distinct); expected one distinct id per cell ({n})")
    sessions = {str(v) for v in np.asarray(arrays.get("session_id", [path.stem])).ravel()}
    if len(sessions) != 1:
        raise AnalysisInputError(f"{path.name}: session_id has {len(sessions)} different values; expected one "
                                 "session per file")
    session = sessions.pop()
    ds = rate_map_recording(
        {session: np.moveaxis(maps, 0, 2)},
        box_size_cm / maps.shape[1],
        source="klaragerlei/grid_score spatial_firing.pkl (converted)",
        license="none given: use for tests and examples only, do not redistribute",
        citation="Gerlei K. grid_score example data (GitHub klaragerlei/grid_score)",
        cell_ids={session: [f"cluster{c}" for c in clusters]},
    )
    return ds


def synthetic_rate_maps(n_bins: int = 20, bin_size_cm: float = 5.0, seed: int = 0) -> xr.Dataset:
    """Known-answer maps: 4 hexagonal grid cells, 4 wall (border) cells, 4 random smooth maps.

    Each map has a weak random background (real maps are never exactly zero).
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    centers = (np.arange(n_bins) + 0.5) * bin_size_cm
    x, y = np.meshgrid(centers, centers, indexing="ij")
    maps, kinds = [], []
    for i in range(4):
        spacing, ori = 30 + 5 * i, rng.uniform(0, np.pi / 3)
        phase = rng.uniform(0, spacing, 2)
        k = 4 * np.pi / (np.sqrt(3) * spacing)
        g = sum(
            np.cos(k * ((x - phase[0]) * np.cos(ori + a) + (y - phase[1]) * np.sin(ori + a)))
            for a in (0, np.pi / 3, 2 * np.pi / 3)
        )
        maps.append(np.maximum(g, 0) * 5.0)
        kinds.append("grid")
    for i in range(4):
        wall = np.zeros((n_bins, n_bins))
        depth = 2 + i % 2
        walls = [(slice(None), slice(0, depth)), (slice(None), slice(n_bins - depth, None)),
                 (slice(0, depth), slice(None)), (slice(n_bins - depth, None), slice(None))]
        wall[walls[i]] = 1.0  # one field along wall i
        maps.append(wall * 8.0)
        kinds.append("border")
    for _ in range(4):
        maps.append(ndimage.gaussian_filter(rng.random((n_bins, n_bins)), 1.0) * 10.0)  # smoothed noise
        kinds.append("random")
    values = np.stack(maps, axis=2) + 0.2 * rng.random((n_bins, n_bins, len(maps)))
    ds = rate_map_recording(
        {"virtual-mouse": values},
        bin_size_cm,
        species="virtual",
        source="goalstore.sources.rate_maps.synthetic_rate_maps",
        license="CC0-1.0",
        citation="goalstore synthetic rate maps (no publication)",
        cell_ids={"virtual-mouse": [f"{k}{i:02d}" for i, k in enumerate(kinds)]},
    )
    return ds.assign_coords(cell_type=("unit", kinds))
