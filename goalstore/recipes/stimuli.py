"""Stimulus sets: the embedded procedural object set (``embedded-objects``) and imported ones
(``import-stimuli``, the recipe of ``goalstore import stimuli``: a flat image folder, an ImageNet-style
class-folder tree, binary CIFAR-10, a brainio zip or a .npy array)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.errors import SchemaError
from goalstore.recipes import Product, Recipe, param

#: Bytes of images per stored (zarr) chunk: whole images, a few MB, so readers stream them in batches.
CHUNK_BYTES = 16 << 20


def chunked(ds: Any) -> Any:
    """``ds`` with its images chunked along ``stimulus`` only (about :data:`CHUNK_BYTES` per chunk)."""
    per_image = ds["image"].dtype.itemsize * ds.sizes["channel"] * ds.sizes["height"] * ds.sizes["width"]
    return ds.chunk({"stimulus": max(1, CHUNK_BYTES // per_image), "channel": -1, "height": -1, "width": -1})


# ---------------------------------------------------------- embedded-objects
@dataclass(frozen=True)
class EmbeddedObjects:
    n_categories: int = param(8, help="shape categories (at most 10)")
    objects_per_category: int = param(4, help="objects per category")
    views_per_object: int = param(12, help="rendered views per object")
    size: int = param(64, help="image side in pixels")
    seed: int = param(0, help="random seed of shapes, colours, views and backgrounds")
    name: str = param("embedded-objects", help="store name (e.g. embedded-objects-128 for a larger variant)")


def check_objects(p: EmbeddedObjects, root: Any) -> EmbeddedObjects:
    """Refuse a bad name or size before anything runs (the generator's own checks, on a 1-image set)."""
    from goalstore.sources.objects import FAMILIES
    from goalstore.store import check_name

    check_name(p.name)
    for field in ("n_categories", "objects_per_category", "views_per_object"):
        if getattr(p, field) < 1:
            raise SchemaError(f"parameter {field!r} of recipe 'embedded-objects': {getattr(p, field)}; "
                              "expected at least 1")
    if p.n_categories > len(FAMILIES):
        raise SchemaError(f"parameter 'n_categories' of recipe 'embedded-objects': {p.n_categories}; "
                          f"expected at most {len(FAMILIES)} ({', '.join(FAMILIES)})")
    if p.size < 16:
        raise SchemaError(f"parameter 'size' of recipe 'embedded-objects': {p.size}; "
                          "expected at least 16 pixels")
    return p


def produce_objects(root: Any, p: EmbeddedObjects) -> dict[str, Product]:
    from goalstore.sources.objects import object_images

    ds = object_images(n_categories=p.n_categories, objects_per_category=p.objects_per_category,
                       views_per_object=p.views_per_object, size=p.size, seed=p.seed)
    ds.attrs["goalstore_version"] = __version__
    return {p.name: Product(chunked(ds), "stimuli")}


# ------------------------------------------------------------ import-stimuli
#: ``--source`` values: how to read PATH.
SOURCES = ("folder", "class-folders", "cifar10", "brainio", "npy")


@dataclass(frozen=True)
class StimuliImport:
    path: str = param("", help="a folder of images, a folder of class folders (ImageNet's train/), the binary "
                               "CIFAR-10 folder, a brainio zip (its CSV beside it) or a .npy file")
    source: str = param("", choices=list(SOURCES),
                        help="how to read PATH (default: cifar10 for a folder with batches.meta.txt, "
                             "class-folders for a folder whose subfolders hold the images, folder for "
                             "another folder, brainio for .zip, npy for .npy)")
    name: str = param("", help="store name (default: stimuli-<PATH's stem>)")
    csv: str = param("", help="metadata CSV (default: the brainio CSV beside the zip; a folder's metadata.csv)")
    size: int = param(0, help="resize every image to SIZE x SIZE pixels (0: keep the images' size)")
    subset: str = param("train", choices=["train", "test", "all"],
                        help="cifar10 only: the training batches, the test batch or all (coordinate subset)")


def _source(path: Path, source: str) -> str:
    if source:
        if source not in SOURCES:
            raise SchemaError(f"--source {source!r}: unknown; expected {', '.join(SOURCES)}")
        return source
    if path.is_dir():
        from goalstore.sources.stimulus_sets import is_cifar10, is_class_tree

        return "cifar10" if is_cifar10(path) else "class-folders" if is_class_tree(path) else "folder"
    if path.suffix.lower() in (".zip", ".npy"):
        return {".zip": "brainio", ".npy": "npy"}[path.suffix.lower()]
    raise SchemaError(f"{path}: cannot tell its source (not a folder, a .zip or a .npy file); give --source "
                      f"{'|'.join(SOURCES)}")


def default_name(path: str | Path) -> str:
    """``stimuli-<stem>`` of ``path``, reduced to the characters a store name may hold."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-._") or "imported"
    return stem if stem.startswith("stimuli") else f"stimuli-{stem}"


def read_stimuli(p: StimuliImport) -> Any:
    """The stimuli dataset ``p`` describes (lazily decoded images), with its import recorded in the attrs."""
    import json

    from goalstore.sources import stimulus_sets

    path = Path(p.path)
    source = _source(path, p.source)
    if not path.exists():
        raise SchemaError(f"{path}: no such file or folder")
    csv = p.csv or None
    size = p.size or None
    if source in ("class-folders", "cifar10") and csv:
        raise SchemaError(f"--csv: source {source} takes its categories from {path.name} itself; "
                          "expected no CSV")
    if source == "folder":
        ds = stimulus_sets.from_folder(path, csv=csv, size=size)
    elif source == "class-folders":
        ds = stimulus_sets.from_class_folders(path, size=size)
    elif source == "cifar10":
        ds = stimulus_sets.from_cifar10(path, subset=p.subset, size=size)
    elif source == "brainio":
        ds = stimulus_sets.from_brainio(path, csv=csv, size=size)
    else:
        ds = stimulus_sets.from_npy(path, csv=csv, size=size)
    ds.attrs["import"] = json.dumps({"source": source, "path": path.name, "csv": Path(csv).name if csv else "",
                                     "size": p.size, **({"subset": p.subset} if source == "cifar10" else {})},
                                    sort_keys=True)
    return ds


def check_import(p: StimuliImport, root: Any) -> StimuliImport:
    """Read the source (headers of every image, the CSV, the ids) and validate the dataset before anything
    runs, so bad input is refused with nothing stored changed; paths become absolute for ``datalad run``."""
    from goalstore.schema import validate
    from goalstore.store import check_name

    if not p.path:
        raise SchemaError("import stimuli: no PATH given; expected a folder, a brainio .zip or a .npy file")
    if p.subset not in ("train", "test", "all"):
        raise SchemaError(f"--subset {p.subset!r}: expected train, test or all")
    if p.size < 0:
        raise SchemaError(f"--size {p.size}: expected a positive number of pixels (0: keep the size)")
    path = Path(p.path).resolve()
    checked = dataclasses.replace(p, path=str(path), source=_source(path, p.source),
                                  csv=str(Path(p.csv).resolve()) if p.csv else "",
                                  name=p.name or default_name(path))
    check_name(checked.name)
    validate(read_stimuli(checked), "stimuli")
    return checked


def produce_import(root: Any, p: StimuliImport) -> dict[str, Product]:
    ds = read_stimuli(p)
    ds.attrs["goalstore_version"] = __version__
    return {p.name: Product(chunked(ds), "stimuli")}


RECIPES = [
    Recipe("embedded-objects", produce_objects, outputs=lambda p: [(p.name, "zarr")],
           parameters=EmbeddedObjects, check=check_objects, build_check=True,
           description="embedded procedural object set: 8 shape categories x 4 objects x 12 views (rotation, "
                       "position, size, background), 64x64 RGB; no network needed"),
    Recipe("import-stimuli", produce_import, outputs=lambda p: [(p.name or default_name(p.path), "zarr")],
           parameters=StimuliImport, check=check_import, build_check=True,
           description="import a stimulus set (image folder, class-folder tree, binary CIFAR-10, brainio "
                       "CSV + zip, or .npy array) "
                       "(goalstore import stimuli)"),
]
