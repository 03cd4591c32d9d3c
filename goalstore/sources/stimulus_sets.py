"""Stimulus sets made elsewhere → canonical ``stimuli`` datasets (image: stimulus × channel × height × width).

Five sources, one layout:

* :func:`from_folder` — a folder of image files (Pillow): file names sorted, ``stimulus_id`` = the file's stem,
  optional metadata CSV (``metadata.csv`` in the folder, or ``<folder>.csv`` beside it, or ``csv=``) keyed by
  ``stimulus_id`` (or ``image_id``);
* :func:`from_class_folders` — an ImageNet-style tree ``<root>/<class>/<image files>``: ``category`` = the
  class folder's name, ``stimulus_id`` = ``<class>/<file stem>``, stored in a seeded random order (so every
  stored chunk mixes the classes and a training run can read chunk-local minibatches);
* :func:`from_cifar10` — the *binary* CIFAR-10 distribution (``cifar-10-batches-bin``); the python (pickle)
  version is refused;
* :func:`from_brainio` — a brainio stimulus set: its CSV (one row per image: ``stimulus_id`` or ``image_id``,
  ``filename`` or ``image_file_name``, metadata columns) plus the zip of its images;
* :func:`from_arrays` / :func:`from_npy` — NumPy arrays ``N×H×W``, ``N×H×W×C`` or ``N×C×H×W`` (uint8 only).

Images: greyscale files give one channel ``L``, colour files ``R, G, B`` (alpha dropped: RGBA → RGB, LA → L,
palette → RGB); a set mixing greyscale and colour files is stored as RGB.  All images must share one size
unless ``size=N`` resizes every one to N × N (bicubic, aspect ratio not kept).  Files are decoded lazily,
one dask chunk of images at a time, so a large set is never in memory whole before it is written.

Metadata columns map to the canonical stimulus coordinates (:data:`COLUMN_MAP`: brainio's ``category_name``
→ ``category``, ``rxy`` → ``rotation`` [deg], ``ty``/``tz`` → ``position_x``/``position_y``, ``s`` →
``size``, ``background_id`` → ``background``, ``filename`` → ``image_path`` …); a column that already
has a canonical name another column maps onto is kept as ``csv_<name>`` (HvM's ``size`` beside its
``s``).  Every other column becomes an extra stimulus coordinate when its name is a plain identifier
that no dim of the vocabulary uses; numeric columns with missing values, and columns with unusable names,
are left out and listed in the ``dropped_columns`` attr.

Bad input (a float array, 2 or ≥ 4 channels, images of different sizes, duplicate ids, a CSV row without
its image, an unreadable file) raises :class:`~goalstore.errors.SchemaError` with one line naming the
file, stimulus or field.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import xarray as xr
from PIL import Image, UnidentifiedImageError

from goalstore.errors import SchemaError
from goalstore.schema import DIMS, store_attrs
from goalstore.schema.arrays import VARIABLE_NAME

#: Image file suffixes a folder source reads (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: Metadata columns (brainio and plain names) → canonical stimulus coordinates.
COLUMN_MAP = {
    "category_name": "category", "category": "category",
    "object_name": "object_name", "object": "object_name",
    "rxy": "rotation", "rotation": "rotation",
    "ty": "position_x", "position_x": "position_x",
    "tz": "position_y", "position_y": "position_y",
    "s": "size", "size": "size",
    "background_id": "background", "background": "background",
    "variation": "variation", "object_index": "object_index",
    "filename": "image_path", "image_path": "image_path",
}

#: Units of the canonical coordinates that have them.
COORD_UNITS = {"rotation": "deg"}

#: Columns naming a stimulus, in order of preference.
ID_COLUMNS = ("stimulus_id", "image_id")

#: Columns naming a brainio image's file inside its zip, in order of preference.
FILE_COLUMNS = ("filename", "image_file_name")

#: Pillow modes → stored channels (``None``: refused).
_MODES = {"L": "L", "1": "L", "LA": "L", "RGB": "RGB", "RGBA": "RGB", "P": "RGB", "PA": "RGB", "CMYK": "RGB",
          "YCbCr": "RGB"}

#: Bytes of decoded images per dask chunk.
CHUNK_BYTES = 16 << 20


def _reserved_names() -> set[str]:
    """Names an extra stimulus coordinate may not take: dims, and coordinates of the other dims."""
    names = set(DIMS) | {"image"}
    for dim in DIMS.values():
        if dim.name != "stimulus":
            names |= set(dim.coords) | set(dim.optional_coords)
    return names - set(DIMS["stimulus"].coords) - set(DIMS["stimulus"].optional_coords)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ metadata
def read_csv(path: Path) -> pd.DataFrame:
    """A metadata CSV, or :class:`SchemaError` naming the file."""
    try:
        return pd.read_csv(path, keep_default_na=True)
    except FileNotFoundError:
        raise SchemaError(f"{path}: no such metadata CSV") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SchemaError(_one_line(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})")) from None


def id_column(frame: pd.DataFrame, where: Any) -> str:
    """The column naming each stimulus (``stimulus_id``, else ``image_id``)."""
    name = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if name is None:
        raise SchemaError(f"{where}: no column {' or '.join(ID_COLUMNS)}; expected one id per row "
                          f"(columns: {', '.join(map(str, frame.columns[:12]))})")
    ids = frame[name]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise SchemaError(f"{where}: column {name!r} is empty in row {row + 2}; expected an id per row")
    return name


def _check_unique(ids: Sequence[str], where: Any) -> None:
    index = pd.Index(ids)
    if index.has_duplicates:
        raise SchemaError(f"{where}: stimulus id {index[index.duplicated()][0]!r} occurs twice; "
                          "expected unique stimulus ids")


def metadata_coords(frame: pd.DataFrame, skip: Sequence[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """Stimulus coordinates from a metadata frame (rows aligned with the stimuli) and the columns left out.

    See the module docstring for the mapping; ``skip`` names columns consumed elsewhere (the id)."""
    columns = [str(c) for c in frame.columns if str(c) not in skip]
    targets: dict[str, str] = {}
    for column in columns:  # brainio names first, so a column named like the target yields to them
        target = COLUMN_MAP.get(column)
        if target is not None and target != column and target not in targets.values():
            targets[column] = target
    for column in columns:
        if column in targets:
            continue
        if column == COLUMN_MAP.get(column) and column not in targets.values():
            targets[column] = column
        else:
            targets[column] = f"csv_{column}" if column in COLUMN_MAP else column
    reserved = _reserved_names()
    coords: dict[str, Any] = {}
    dropped: list[str] = []
    for column, name in targets.items():
        values = frame[column]
        if not VARIABLE_NAME.fullmatch(name) or name in reserved or name in coords:
            dropped.append(f"{column} (name)")
            continue
        if values.dtype == bool:
            values = values.astype(np.int64)
        if values.dtype.kind in "iuf":
            if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
                dropped.append(f"{column} (missing values)")
                continue
            array = values.to_numpy()
        else:
            array = np.asarray(values.fillna("").astype(str).to_numpy(), dtype=str)
        coords[name] = ("stimulus", array, {"units": COORD_UNITS[name]} if name in COORD_UNITS else {})
    return coords, dropped


# -------------------------------------------------------------------- images
def _mode(image: Image.Image, where: str) -> str:
    channels = _MODES.get(image.mode)
    if channels is None:
        raise SchemaError(f"{where}: image mode {image.mode!r} (e.g. 16-bit or float pixels); expected 8-bit "
                          "greyscale (L) or colour (RGB/RGBA) images")
    return channels


def _open_image(stream: BinaryIO, where: str) -> Image.Image:
    """The image in ``stream`` (Pillow reads its header only, until the pixels are asked for)."""
    try:
        return Image.open(stream)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise SchemaError(_one_line(f"{where}: not a readable image ({type(exc).__name__}: {exc})")) from None


def _decode(image: Image.Image, channels: str, size: int | None, where: str) -> np.ndarray:
    try:
        image = image.convert(channels)
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), Image.BICUBIC)
        pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise SchemaError(_one_line(f"{where}: cannot decode ({type(exc).__name__}: {exc})")) from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


class _Images:
    """Image files opened through ``opener(name) -> binary stream`` (a folder or a zip), scanned (headers only)
    up front and decoded lazily in dask chunks."""

    def __init__(self, opener: Callable[[str], BinaryIO], names: Sequence[str], labels: Sequence[str],
                 size: int | None, describe: str):
        self.opener, self.names, self.labels, self.size = opener, list(names), list(labels), size
        self.describe = describe
        modes, shapes = [], {}
        for name, label in zip(self.names, self.labels, strict=True):
            where = f"{describe}: {label}"
            with self.opener(name) as stream, _open_image(stream, where) as image:
                modes.append(_mode(image, where))
                shapes.setdefault(image.size, (name, label))
        if len(shapes) > 1 and size is None:
            (a, (_, first)), (b, (_, other)) = list(shapes.items())[:2]
            raise SchemaError(f"{describe}: {other} is {b[0]}x{b[1]} pixels but {first} is {a[0]}x{a[1]}; "
                              "expected images of one size (or resize them all with size=N / --size N)")
        self.channels = "RGB" if "RGB" in modes else "L"
        width, height = (size, size) if size is not None else next(iter(shapes))
        self.shape = (len(self.names), len(self.channels), height, width)

    def _block(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.shape[1:]), dtype=np.uint8)
        for i in range(start, stop):
            where = f"{self.describe}: {self.labels[i]}"
            with self.opener(self.names[i]) as stream, _open_image(stream, where) as image:
                out[i - start] = _decode(image, self.channels, self.size, where)
        return out

    def array(self) -> Any:
        """The images as one dask array (stimulus × channel × height × width, uint8)."""
        import dask
        import dask.array as da

        per_image = int(np.prod(self.shape[1:]))
        step = max(1, CHUNK_BYTES // per_image)
        blocks = [da.from_delayed(dask.delayed(self._block)(a, min(a + step, self.shape[0])),
                                  shape=(min(a + step, self.shape[0]) - a, *self.shape[1:]), dtype=np.uint8)
                  for a in range(0, self.shape[0], step)]
        return da.concatenate(blocks, axis=0)


def _dataset(images: Any, ids: Sequence[str], channels: str, coords: dict[str, Any], dropped: list[str],
             source: str, description: str, attrs: dict[str, Any]) -> xr.Dataset:
    all_coords = {"stimulus_id": ("stimulus", np.asarray(ids, dtype=str)), **coords,
                  "channel_name": ("channel", np.array(list(channels)))}
    descriptive = {"species": "none", "modality": "images", "source": source, "license": "unknown",
                   "citation": "unknown", **attrs}
    extra = {"dropped_columns": ", ".join(dropped)} if dropped else {}
    return xr.Dataset(
        {"image": (("stimulus", "channel", "height", "width"), images,
                   {"units": "intensity (0-255)", "description": f"{channels} image, rows top to bottom"})},
        coords=all_coords,
        attrs=store_attrs("stimuli", **descriptive, description=description, **extra))


def _check_size(size: int | None) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise SchemaError(f"size: {size!r}; expected a positive number of pixels")
    return int(size)


# -------------------------------------------------------------------- folder
def default_csv(folder: Path) -> Path | None:
    """The metadata CSV of an image folder: ``metadata.csv`` in it, else ``<folder>.csv`` beside it."""
    for candidate in (folder / "metadata.csv", folder.with_name(folder.name + ".csv")):
        if candidate.is_file():
            return candidate
    return None


def from_folder(folder: str | Path, csv: str | Path | None = None, size: int | None = None,
                **attrs: Any) -> xr.Dataset:
    """The image files of ``folder`` (sorted by name; ``stimulus_id`` = file stem) as a stimuli dataset.

    ``csv``: metadata (default :func:`default_csv`), one row per image keyed by ``stimulus_id`` or
    ``image_id``; ``size``: resize every image to size × size; ``attrs``: descriptive attrs (license,
    citation, …)."""
    folder = Path(folder)
    size = _check_size(size)
    if not folder.is_dir():
        raise SchemaError(f"{folder}: not a folder of image files")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SchemaError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    ids = [p.stem for p in files]
    _check_unique(ids, folder)
    csv_path = Path(csv) if csv is not None else default_csv(folder)
    coords: dict[str, Any] = {}
    dropped: list[str] = []
    if csv_path is not None:
        frame = read_csv(csv_path)
        key = id_column(frame, csv_path)
        keys = frame[key].astype(str)
        _check_unique(list(keys), csv_path)
        missing = sorted(set(keys) - set(ids))
        if missing:
            raise SchemaError(f"{csv_path}: row of stimulus {missing[0]!r} has no image file in {folder} "
                              f"({len(missing)} rows without an image)")
        unlisted = [i for i in ids if i not in set(keys)]
        if unlisted:
            raise SchemaError(f"{csv_path}: image {unlisted[0]!r} of {folder} has no row "
                              f"({len(unlisted)} images without metadata)")
        frame = frame.set_index(keys).loc[ids].reset_index(drop=True)
        coords, dropped = metadata_coords(frame, skip=(key,))
    images = _Images(_FolderReader(folder), [p.name for p in files],
                     [p.name for p in files], size, str(folder))
    return _dataset(images.array(), ids, images.channels, coords, dropped,
                    attrs.pop("source", f"image folder {folder.name}"),
                    attrs.pop("description", f"{len(ids)} images from the folder {folder.name}"), attrs)


# ------------------------------------------------------------- class folders
def is_class_tree(folder: Path) -> bool:
    """Whether ``folder`` is an ImageNet-style class-folder tree: no image files at its top level, and at
    least one subfolder holding image files."""
    if not folder.is_dir() or any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
        return False
    return any(sub.is_dir() and any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in sub.iterdir())
               for sub in folder.iterdir())


def from_class_folders(folder: str | Path, size: int | None = None, seed: int = 0, **attrs: Any) -> xr.Dataset:
    """The images of an ImageNet-style tree ``folder/<class>/<image files>`` as a stimuli dataset, decoded
    lazily (only the headers are read here; every image is decoded once, chunk by chunk, when written).

    ``category`` = the class folder's name; ``stimulus_id`` = ``<class>/<file stem>``; the stimuli are stored
    in the order of a random permutation (``seed``) of the sorted ids, so each stored chunk mixes the classes;
    ``size``: resize every image to size × size (needed unless all images share one size, unlike ImageNet's).
    Subfolders without image files, and files that are not images, are skipped."""
    folder = Path(folder)
    size = _check_size(size)
    if not folder.is_dir():
        raise SchemaError(f"{folder}: not a folder of class folders")
    names, categories = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
            names.append(f"{sub.name}/{file.name}")
            categories.append(sub.name)
    if not names:
        raise SchemaError(f"{folder}: no class folder holds image files ({', '.join(IMAGE_SUFFIXES)})")
    order = np.random.default_rng(seed).permutation(len(names))
    names = [names[i] for i in order]
    categories = [categories[i] for i in order]
    ids = [n.rsplit(".", 1)[0] for n in names]
    _check_unique(ids, folder)
    images = _Images(_FolderReader(folder), names, names, size, str(folder))
    coords = {"category": ("stimulus", np.asarray(categories, dtype=str), {})}
    n_classes = len(set(categories))
    return _dataset(images.array(), ids, images.channels, coords, [],
                    attrs.pop("source", f"class folders {folder.name}"),
                    attrs.pop("description", f"{len(ids)} images of {n_classes} classes from the class folders "
                                             f"of {folder.name}"), attrs)


# ------------------------------------------------------------------ CIFAR-10
#: batch files of the binary CIFAR-10 distribution, by subset
CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
#: bytes of one CIFAR-10 record: the label, then the R, G and B planes (32 × 32, rows top to bottom)
CIFAR_RECORD = 1 + 3 * 32 * 32


def is_cifar10(folder: Path) -> bool:
    """Whether ``folder`` holds a CIFAR-10 distribution (binary, or the refused python version)."""
    return folder.is_dir() and any((folder / name).is_file() for name in
                                   ("batches.meta.txt", "data_batch_1.bin", "batches.meta", "data_batch_1"))


def from_cifar10(folder: str | Path, subset: str = "train", size: int | None = None,
                 **attrs: Any) -> xr.Dataset:
    """CIFAR-10 in its binary distribution (``cifar-10-batches-bin``: ``data_batch_1.bin`` …
    ``data_batch_5.bin``, ``test_batch.bin``, ``batches.meta.txt``) as a stimuli dataset.

    Each record is 1 label byte and 3072 pixel bytes: the R, G and B planes of a 32 × 32 image, rows top to
    bottom.  ``subset``: ``train`` (the five data batches), ``test`` or ``all``; coordinate ``subset`` records
    each image's; ``category`` = the label's line of ``batches.meta.txt``; ``stimulus_id`` =
    ``<subset>-<index>`` (index within the subset, 5 digits).  The python version (pickles) is refused."""
    folder = Path(folder)
    size = _check_size(size)
    if (folder / "data_batch_1").is_file() or (folder / "batches.meta").is_file():
        raise SchemaError(f"{folder}: the python (pickle) version of CIFAR-10, which goalstore never loads (a "
                          "pickle can run code); download the binary version (cifar-10-binary.tar.gz, "
                          "folder cifar-10-batches-bin)")
    if subset not in ("train", "test", "all"):
        raise SchemaError(f"subset {subset!r}: expected train, test or all")
    meta = folder / "batches.meta.txt"
    if not meta.is_file():
        raise SchemaError(f"{folder}: no batches.meta.txt; expected the binary CIFAR-10 folder "
                          "(cifar-10-batches-bin)")
    names = [line.strip() for line in meta.read_text().splitlines() if line.strip()]
    subsets = ("train", "test") if subset == "all" else (subset,)
    blocks, labels, ids, kinds = [], [], [], []
    for kind in subsets:
        start = len(ids)
        for batch in CIFAR_BATCHES[kind]:
            path = folder / batch
            if not path.is_file():
                raise SchemaError(f"{folder}: no {batch}; expected the binary CIFAR-10 batches "
                                  f"({', '.join(CIFAR_BATCHES[kind])})")
            raw = np.fromfile(path, dtype=np.uint8)
            if raw.size == 0 or raw.size % CIFAR_RECORD:
                raise SchemaError(f"{path}: {raw.size} bytes; expected whole records of {CIFAR_RECORD} bytes "
                                  "(1 label byte + 3072 pixel bytes)")
            records = raw.reshape(-1, CIFAR_RECORD)
            if int(records[:, 0].max()) >= len(names):
                raise SchemaError(f"{path}: label {int(records[:, 0].max())}; batches.meta.txt names "
                                  f"{len(names)} categories")
            blocks.append(records[:, 1:].reshape(-1, 3, 32, 32))
            labels.append(records[:, 0])
            ids += [f"{kind}-{i:05d}" for i in range(len(ids) - start, len(ids) - start + len(records))]
            kinds += [kind] * len(records)
    metadata = pd.DataFrame({"stimulus_id": ids, "category": np.asarray(names)[np.concatenate(labels)],
                             "subset": kinds})
    array = np.concatenate(blocks)
    if size is not None and size != 32:
        array = np.stack([_decode(Image.fromarray(img.transpose(1, 2, 0), "RGB"), "RGB", size,
                                  f"{folder}: image {i}") for i, img in enumerate(array)])
    return from_arrays(array, metadata=metadata, layout="nchw", where=str(folder),
                       source=attrs.pop("source", "CIFAR-10 (binary version)"),
                       description=attrs.pop("description", f"{len(ids)} CIFAR-10 images ({subset})"),
                       citation=attrs.pop("citation", "Krizhevsky (2009), Learning multiple layers of features "
                                                      "from tiny images"), **attrs)


# ------------------------------------------------------------------- brainio
def _zip_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Names a CSV may use for each member: its full name, and its base name where that is unambiguous."""
    members = {info.filename: info.filename for info in archive.infolist() if not info.is_dir()}
    base: dict[str, list[str]] = {}
    for name in members:
        base.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    return {**{b: names[0] for b, names in base.items() if len(names) == 1}, **members}


def from_brainio(zip_path: str | Path, csv: str | Path | None = None, size: int | None = None,
                 **attrs: Any) -> xr.Dataset:
    """A brainio stimulus set (CSV + zip of images) as a stimuli dataset, decoded lazily.

    ``csv`` defaults to the zip's sibling with suffix ``.csv`` (brainio names them
    ``image_<identifier>.csv`` / ``.zip``); rows keep the CSV's order; each row's image is the zip member
    its ``filename`` (or ``image_file_name``) column names (full path or unambiguous base name)."""
    zip_path = Path(zip_path)
    size = _check_size(size)
    csv_path = Path(csv) if csv is not None else zip_path.with_suffix(".csv")
    if not csv_path.is_absolute() and not csv_path.exists():
        csv_path = zip_path.parent / csv_path
    frame = read_csv(csv_path)
    key = id_column(frame, csv_path)
    ids = [str(i) for i in frame[key]]
    _check_unique(ids, csv_path)
    file_column = next((c for c in FILE_COLUMNS if c in frame.columns), None)
    if file_column is None:
        raise SchemaError(f"{csv_path}: no column {' or '.join(FILE_COLUMNS)}; expected each row's image file")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = _zip_members(archive)
    except FileNotFoundError:
        raise SchemaError(f"{zip_path}: no such zip of images") from None
    except zipfile.BadZipFile as exc:
        raise SchemaError(f"{zip_path}: not a zip file ({exc})") from None
    names = []
    for stimulus, filename in zip(ids, frame[file_column], strict=True):
        member = members.get(str(filename))
        if member is None or pd.isna(filename):
            raise SchemaError(f"{csv_path}: row of stimulus {stimulus!r} names {file_column} {filename!r}, "
                              f"which is not in {zip_path.name}")
        names.append(member)
    coords, dropped = metadata_coords(frame, skip=(key,))
    images = _Images(_ZipReader(zip_path), names, [f"{zip_path.name}:{n} (stimulus {s!r})"
                                                   for n, s in zip(names, ids, strict=True)],
                     size, str(zip_path))
    return _dataset(images.array(), ids, images.channels, coords, dropped,
                    attrs.pop("source", f"brainio stimulus set {zip_path.stem}"),
                    attrs.pop("description", f"{len(ids)} images of the brainio stimulus set {zip_path.stem}"),
                    attrs)


class _FolderReader:
    """``open(name) -> stream`` of the files of one folder (picklable, for dask workers)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, name: str) -> BinaryIO:
        return open(self.folder / name, "rb")


class _ZipReader:
    """``open(member) -> stream`` of one zip, the archive kept open per process (dask tasks reuse it)."""

    def __init__(self, path: Path):
        self.path = path
        self._archive: zipfile.ZipFile | None = None

    def __call__(self, member: str) -> BinaryIO:
        if self._archive is None:
            self._archive = zipfile.ZipFile(self.path)
        return self._archive.open(member)  # zipfile serialises reads of one archive across threads

    def __getstate__(self) -> dict[str, Any]:  # a pickled copy (another process) opens its own
        return {"path": self.path, "_archive": None}


# -------------------------------------------------------------------- arrays
def from_arrays(images: Any, stimulus_ids: Sequence[str] | None = None, metadata: pd.DataFrame | None = None,
                layout: str = "auto", where: str = "array", **attrs: Any) -> xr.Dataset:
    """A stimuli dataset from a uint8 array ``N×H×W`` (greyscale), ``N×H×W×C`` or ``N×C×H×W`` (C = 1 or 3).

    ``layout`` ("auto", "nhwc" or "nchw") settles a 4-D array whose axes 1 and 3 could both be channels
    (auto: channels last, as NumPy and Pillow store images, unless only axis 1 has 1 or 3 elements).
    ``stimulus_ids`` default to ``metadata``'s id column, else ``stim-00000``…; ``metadata``: one row per
    image, in order."""
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise SchemaError(f"{where}: dtype {array.dtype}; expected uint8 images (intensities 0-255; "
                          "convert floats with (x * 255).round().astype('uint8') if they lie in [0, 1])")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        if layout not in ("auto", "nhwc", "nchw"):
            raise SchemaError(f"{where}: layout {layout!r}; expected auto, nhwc or nchw")
        last, second = array.shape[3] in (1, 3), array.shape[1] in (1, 3)
        channels_last = layout == "nhwc" or (layout == "auto" and (last or not second))
        array = array.transpose(0, 3, 1, 2) if channels_last else array
        if array.shape[1] not in (1, 3):
            axes = "axis 3" if layout == "nhwc" else "axis 1" if layout == "nchw" else "axis 1 or 3"
            raise SchemaError(f"{where}: shape {tuple(images.shape)} has {array.shape[1]} channels (no {axes} "
                              "of length 1 or 3); expected 1 (greyscale) or 3 (RGB) channels, N×H×W×C or "
                              "N×C×H×W")
    else:
        raise SchemaError(f"{where}: shape {array.shape}; expected N×H×W, N×H×W×C or N×C×H×W")
    n = array.shape[0]
    if n == 0 or min(array.shape[2:]) == 0:
        raise SchemaError(f"{where}: shape {array.shape} holds no image")
    coords: dict[str, Any] = {}
    dropped: list[str] = []
    if metadata is not None:
        if len(metadata) != n:
            raise SchemaError(f"{where}: metadata has {len(metadata)} rows for {n} images; expected one row "
                              "per image, in order")
        key = next((c for c in ID_COLUMNS if c in metadata.columns), None)
        if key is not None:
            id_column(metadata, where)
            stimulus_ids = [str(i) for i in metadata[key]] if stimulus_ids is None else stimulus_ids
        coords, dropped = metadata_coords(metadata.reset_index(drop=True), skip=(key,) if key else ())
    ids = [f"stim-{i:05d}" for i in range(n)] if stimulus_ids is None else [str(i) for i in stimulus_ids]
    if len(ids) != n:
        raise SchemaError(f"{where}: {len(ids)} stimulus ids for {n} images; expected one per image")
    _check_unique(ids, where)
    return _dataset(array, ids, "L" if array.shape[1] == 1 else "RGB", coords, dropped,
                    attrs.pop("source", f"arrays ({where})"),
                    attrs.pop("description", f"{n} images from {where}"), attrs)


def from_npy(path: str | Path, csv: str | Path | None = None, layout: str = "auto",
             size: int | None = None, **attrs: Any) -> xr.Dataset:
    """The images of a ``.npy`` file (uint8, see :func:`from_arrays`), with an optional metadata CSV (one row
    per image, in order; its ``stimulus_id``/``image_id`` column gives the ids).  ``size`` resizes
    (bicubic) every image to size × size."""
    path = Path(path)
    size = _check_size(size)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise SchemaError(f"{path}: no such .npy file") from None
    except (ValueError, OSError) as exc:
        raise SchemaError(_one_line(f"{path}: not a readable .npy array ({exc})")) from None
    if not isinstance(array, np.ndarray):
        raise SchemaError(f"{path}: holds several arrays (an .npz); expected one .npy array of images")
    metadata = read_csv(Path(csv)) if csv is not None else None
    ds = from_arrays(array, metadata=metadata, layout=layout, where=str(path),
                     source=attrs.pop("source", f"NumPy array {path.name}"), **attrs)
    if size is not None and (ds.sizes["height"], ds.sizes["width"]) != (size, size):
        mode = "L" if ds.sizes["channel"] == 1 else "RGB"
        resized = [_decode(Image.fromarray(img[0] if mode == "L" else img.transpose(1, 2, 0), mode), mode, size,
                           f"{path}: image {i}") for i, img in enumerate(ds["image"].values)]
        image = ds["image"]
        ds = ds.drop_vars("image").assign(image=(image.dims, np.stack(resized), image.attrs))
    return ds


def describe_source(kind: str, path: str | Path, **options: Any) -> str:
    """A JSON string recording how a stimuli store was imported (its ``import`` attr)."""
    return json.dumps({"source": kind, "path": str(path), **options}, sort_keys=True)
