"""Catalog entries of one store root: describe, fetch and open them.

Thin functions over :class:`~goalstore.store.StoreRoot`, the merged catalog and
:mod:`goalstore.remote`, taking the store root explicitly.  Recipes read their
inputs through these (never through ``import goalstore``), and :mod:`goalstore.api`
wraps them with the ``home`` argument of the public API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goalstore import catalog as _catalog
from goalstore import remote
from goalstore.errors import GoalstoreError, SchemaError, VersionSpecError
from goalstore.intake_reader import call_loader
from goalstore.lr_corpus import corpus_stores
from goalstore.store import StoreRoot, parse_reference


def _meta(name: str, root: StoreRoot) -> dict[str, Any]:
    return _catalog.entry_metadata(_catalog.merged_catalog(root.catalog_path), name)


def describe(name: str, root: StoreRoot) -> dict[str, Any]:
    """The full metadata of catalog entry ``name`` (raises, with close names, for an unknown one)."""
    return {"name": name, **_meta(name, root)}


def fetch(name: str, root: StoreRoot) -> Path:
    """Local, checksum-verified copy of remote entry ``name`` (downloaded and saved on first use)."""
    meta = _meta(name, root)
    if not meta.get("remote"):
        raise GoalstoreError(f"entry {name!r} is not a remote entry")
    downloads = root.path / root.layout.downloads
    targets = remote.local_paths(downloads, name, meta["remote"])  # the main file, then any companions
    fresh = [target for target in targets if not target.exists()]
    path = remote.fetch(name, meta["remote"], downloads)
    if fresh:
        root.save_paths([str(target.relative_to(root.path)) for target in fresh],
                        f"download {name} from {meta['remote']['url']}")
    return path


def entry_url(name: str, root: StoreRoot) -> str:
    """The file behind a catalog entry that is read from a path."""
    cat = _catalog.merged_catalog(root.catalog_path)
    entry = _catalog.get_entry(cat, name)
    token = str(entry.kwargs.get("args", [""])[0]).removeprefix("{data(").removesuffix(")}")
    return cat.data[token].kwargs["url"]


def _open_file(name: str, path: Path, fmt: str | None) -> Any:
    from goalstore.formats import open_file

    return open_file(path, fmt, name)


def open(reference: str, root: StoreRoot, check: bool = False) -> Any:
    """Open ``NAME`` or ``NAME@VERSION`` of ``root`` lazily (see :func:`goalstore.open`)."""
    name, version = parse_reference(reference)
    meta = _meta(name, root)
    if meta.get("origin") == "store":
        return root.open(name, version, check=check)
    if version not in (None, "latest", str(meta.get("version"))):
        raise VersionSpecError(f"{name}@{version}: entry {name!r} has only version "
                               f"{meta.get('version')}")
    if meta.get("remote"):
        path = fetch(name, root)
        if meta.get("loader"):  # an external layout: the entry's loader converts it to canonical form
            return call_loader(meta, path)
        return _open_file(name, path, meta.get("format"))
    if meta.get("origin") == "package":  # vendored data, read through its goalstore loader
        return _catalog.merged_catalog(root.catalog_path)[name].read()
    return _open_file(name, Path(entry_url(name, root)), meta.get("format"))


def classifier_view(name: str, root: StoreRoot, statistics: Any = "finite") -> Any:
    """Classifier view of the learning-rule corpus ``name`` (see :func:`goalstore.lr_classifier_view`)."""
    from goalstore.lr_corpus import FINITE_24, load_view
    from goalstore.lr_corpus import classifier_view as _classifier_view

    meta = root.metadata(name)
    if meta.get("table_kind") != "lr_observables":
        raise SchemaError(f"store {name!r} is not an lr_observables corpus table")
    stored = root.registered(corpus_stores(name).view)
    if statistics == "finite" and stored is not None:
        view = load_view(root.path / stored["path"])  # the stored view: a fast wide read
        if set(view.statistics) <= set(FINITE_24):
            return view
    return _classifier_view(root.path / meta["path"], FINITE_24 if statistics == "finite" else statistics)
