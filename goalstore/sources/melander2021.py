"""Loader of the PSD-95 synaptic weights of Melander, Nayebi et al. (2021).

Layer 2/3 pyramidal (spiny) and PV+ interneuron (shaft) dendrites in mouse barrel
cortex, the same synapses imaged every 4 days; weight 0 = synapse absent that day.
The data are vendored under ``goalstore/data/melander2021`` (MIT licence, kept
with the copy) and turned into canonical array stores (dims ``synapse`` ×
``session``; coords ``synapse_id``, ``cell_type``, ``dendrite``, ``animal``,
``session_id``, ``day``):

* :func:`load_weight_matrix` — ``weight_matrices/quantile_4060_{pyr,pv}.npz``:
  weights normalised per dendrite and day to the mean of the 40–60th percentile
  synapses, with ``{pyr,pv}_map.npz`` giving each row's dendrite index.  The
  dendrite index is resolved to the dendrite's id (and so its animal) by finding
  the per-dendrite file that holds the same rows.
* :func:`load_dendrite_variant` — ``weights_by_dendrite/<variant>/<dendrite>.npy``.
  Dendrites imaged on fewer sessions than others are padded with NaN (= not imaged).

Despite their suffix the ``.npz`` files hold plain ``.npy`` arrays: the format
is detected from the file's content (:func:`read_array`), never from its name.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

from goalstore.errors import CorruptStoreError, EntryNotFoundError
from goalstore.schema import recording_attrs

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "melander2021"
CELL_TYPES = ("pyr", "pv")
CELL_TYPE_NAMES = {"pyr": "L2/3 pyramidal neuron (spine synapses)",
                   "pv": "PV+ interneuron (shaft synapses)"}
SESSION_INTERVAL_DAYS = 4
CITATION = ("Melander JB, Nayebi A, Jongbloets BC, Fortin DA, Qin M, Ganguli S, Mao T, Zhong H (2021). "
            "Distinct in vivo dynamics of excitatory synapses onto cortical pyramidal neurons and "
            "parvalbumin-positive interneurons. Cell Reports 37(6):109972.")
SOURCE = "HZhongLab/melander_nayebi_2021 (commit 84dcd5d), vendored in goalstore/data/melander2021"

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_DENDRITE = re.compile(r"^(?P<animal>[a-z]+)(?P<number>\d+)$")


def read_array(path: str | Path) -> np.ndarray:
    """Read a NumPy array from ``path``, detecting ``.npy`` or ``.npz`` from the content.

    An ``.npz`` archive must hold exactly one array.  Anything else (or an
    object array, which would need unpickling) is refused with a clear error.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise CorruptStoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        if head.startswith(_NPY_MAGIC):
            return np.load(path, allow_pickle=False)
        if head.startswith(_ZIP_MAGIC):
            with np.load(path, allow_pickle=False) as archive:
                if len(archive.files) != 1:
                    raise CorruptStoreError(f"{path}: .npz archive holds {len(archive.files)} arrays "
                                            f"({', '.join(archive.files)}); expected exactly one")
                return archive[archive.files[0]]
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptStoreError(f"{path}: unreadable NumPy content ({exc})") from None
    raise CorruptStoreError(f"{path}: not a NumPy .npy array or .npz archive "
                            f"(content starts with {head!r}); the file name's suffix is not trusted")


def variants(data_dir: Path = DATA_DIR) -> list[str]:
    """Names of the per-dendrite variants available (e.g. ``norm_pyr``)."""
    return sorted(p.name for p in (data_dir / "weights_by_dendrite").iterdir() if p.is_dir())


def _cell_type_of_variant(variant: str) -> str:
    for cell_type in CELL_TYPES:
        if re.search(rf"(^|_){cell_type}(_|$)", variant):
            return cell_type
    raise EntryNotFoundError(variant, [])


def _animal(dendrite: str) -> str:
    match = _DENDRITE.match(dendrite)
    if not match:
        raise CorruptStoreError(f"dendrite id {dendrite!r}: expected letters (animal) then digits")
    return match.group("animal")


def _canonical(weights: np.ndarray, cell_type: str, dendrites: list[str], units: str,
               description: str) -> xr.Dataset:
    n_synapses, n_sessions = weights.shape
    counters: dict[str, int] = {}
    synapse_ids = []
    for dendrite in dendrites:
        synapse_ids.append(f"{cell_type}-{dendrite}-s{counters.get(dendrite, 0):03d}")
        counters[dendrite] = counters.get(dendrite, 0) + 1
    return xr.Dataset(
        {"weight": (("synapse", "session"), weights.astype(np.float64),
                    {"units": units, "description": description,
                     "absent_value": 0.0, "not_imaged_value": "NaN"})},
        coords={
            "synapse_id": ("synapse", synapse_ids),
            "cell_type": ("synapse", [cell_type] * n_synapses),
            "dendrite": ("synapse", list(dendrites)),
            "animal": ("synapse", [_animal(d) for d in dendrites]),
            "session_id": ("session", np.arange(n_sessions)),
            "day": ("session", SESSION_INTERVAL_DAYS * np.arange(n_sessions), {"units": "day"}),
        },
        attrs=recording_attrs(
            species="mouse",
            area="barrel cortex L2/3",
            modality="two-photon imaging of endogenous PSD-95-mVenus (synaptic weights)",
            source=SOURCE,
            license="MIT",
            citation=CITATION,
            cell_type=cell_type,
            cell_type_description=CELL_TYPE_NAMES[cell_type],
            description=description,
        ),
    )


def _dendrite_ids_of_groups(matrix: np.ndarray, groups: np.ndarray, cell_type: str,
                            data_dir: Path) -> dict[int, str]:
    """Resolve each dendrite index of the map to the id of the per-dendrite file with its rows."""
    n_sessions = matrix.shape[1]
    owner: dict[bytes, set[str]] = {}
    folder = data_dir / "weights_by_dendrite" / f"norm_{cell_type}"
    for path in sorted(folder.glob("*.npy")):
        rows = read_array(path)
        if rows.ndim != 2 or rows.shape[1] < n_sessions:
            continue
        for row in np.round(rows[:, :n_sessions], 9):
            owner.setdefault(row.tobytes(), set()).add(path.stem)
    resolved = {}
    for index in np.unique(groups):
        rows = np.round(matrix[groups == index], 9)
        candidates = set.intersection(*(owner.get(r.tobytes(), set()) for r in rows if r.any()))
        if len(candidates) != 1:
            raise CorruptStoreError(f"quantile_4060_{cell_type}: dendrite index {int(index)} matches "
                                    f"{len(candidates)} dendrites of norm_{cell_type}; expected one")
        resolved[int(index)] = candidates.pop()
    return resolved


def load_weight_matrix(cell_type: str, data_dir: Path = DATA_DIR) -> xr.Dataset:
    """Canonical store of ``quantile_4060_{cell_type}`` (synapse × session)."""
    if cell_type not in CELL_TYPES:
        raise EntryNotFoundError(cell_type, list(CELL_TYPES))
    folder = data_dir / "weight_matrices"
    matrix = read_array(folder / f"quantile_4060_{cell_type}.npz")
    groups = read_array(folder / f"{cell_type}_map.npz")
    if matrix.ndim != 2 or groups.shape != (matrix.shape[0],):
        raise CorruptStoreError(f"quantile_4060_{cell_type}: shape {matrix.shape} and map shape "
                                f"{groups.shape} do not describe one dendrite per synapse row")
    if not np.allclose(groups, np.round(groups)):
        raise CorruptStoreError(f"{cell_type}_map: dendrite indices must be whole numbers")
    groups = np.round(groups).astype(int)
    names = _dendrite_ids_of_groups(matrix, groups, cell_type, data_dir)
    return _canonical(matrix, cell_type, [names[g] for g in groups],
                      units="1 (relative to the 40-60th percentile mean of the dendrite and day)",
                      description=f"PSD-95 synaptic weights of {CELL_TYPE_NAMES[cell_type]}, normalised "
                                  "per dendrite and day to the mean of the 40-60th percentile synapses")


def load_dendrite_variant(variant: str, data_dir: Path = DATA_DIR) -> xr.Dataset:
    """Canonical store of ``weights_by_dendrite/<variant>`` (synapse × session, NaN = not imaged)."""
    available = variants(data_dir)
    if variant not in available:
        import difflib

        raise EntryNotFoundError(variant, difflib.get_close_matches(variant, available) or available)
    cell_type = _cell_type_of_variant(variant)
    blocks, dendrites = [], []
    for path in sorted((data_dir / "weights_by_dendrite" / variant).glob("*.npy")):
        rows = read_array(path)
        if rows.ndim != 2:
            raise CorruptStoreError(f"{path}: expected a synapse × session matrix, got shape {rows.shape}")
        blocks.append(rows.astype(np.float64))
        dendrites += [path.stem] * rows.shape[0]
    n_sessions = max(b.shape[1] for b in blocks)
    weights = np.full((len(dendrites), n_sessions), np.nan)
    row = 0
    for block in blocks:
        weights[row: row + block.shape[0], : block.shape[1]] = block
        row += block.shape[0]
    raw = "raw" in variant
    channel = "green" if "green" in variant else "red" if "red" in variant else None
    what = (f"raw integrated fluorescence ({'PSD-95-mVenus' if channel != 'red' else 'tdTomato'} "
            f"channel)" if raw else "normalised PSD-95 weights")
    ds = _canonical(weights, cell_type, dendrites, units="a.u." if raw else "1 (normalised)",
                    description=f"{what} of {CELL_TYPE_NAMES[cell_type]}, variant {variant}")
    ds.attrs["variant"] = variant
    return ds
