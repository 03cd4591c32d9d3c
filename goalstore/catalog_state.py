"""What a store root's catalog file and layout folders hold: whether ``catalog.yaml`` is usable,
which stores exist on disk, and the catalogs committed in its history.

:func:`require_catalog` is the guard every write and ``verify`` passes: a missing or corrupt
catalog while stores exist is refused (exit 7) instead of verifying nothing or committing a
catalog that silently unregisters every other store; ``goalstore repair``
(:mod:`goalstore.catalog_repair`) rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import intake
import yaml

from goalstore import formats, versioning
from goalstore.catalog import read_catalog_file
from goalstore.errors import CorruptStoreError

if TYPE_CHECKING:
    from goalstore.store import StoreRoot


@dataclass(frozen=True)
class OnDisk:
    """A store found in the root's layout folders."""

    name: str
    fmt: str
    relpath: str


def stores_on_disk(root: StoreRoot) -> list[OnDisk]:
    """Stores present in the layout's arrays, tables and models folders, sorted by name."""
    found = []
    for folder, suffixes in ((root.layout.arrays, formats.suffixes("array")),
                             (root.layout.tables, formats.suffixes("table")),
                             (root.layout.models, formats.suffixes("model"))):
        base = root.path / folder
        if not base.is_dir():
            continue
        for item in base.iterdir():
            if item.suffix in suffixes and not item.name.startswith("."):
                found.append(OnDisk(item.stem, suffixes[item.suffix], f"{folder}/{item.name}"))
    return sorted(found, key=lambda s: (s.name, s.relpath))


def catalog_problem(root: StoreRoot) -> str | None:
    """Why the root's catalog cannot be used ("missing" or the reader's message), None if it reads."""
    if not root.catalog_path.is_file():
        return "missing"
    try:
        read_catalog_file(root.catalog_path)
    except CorruptStoreError as exc:
        return str(exc)
    return None


def require_catalog(root: StoreRoot) -> None:
    """Refuse (:class:`CorruptStoreError`, exit 7) to go on with a missing or corrupt catalog while
    stores exist: verifying would check nothing, and writing would unregister every other store.
    A new root (no stores, no catalog ever committed) passes."""
    problem = catalog_problem(root)
    if problem is None:
        return
    stores = stores_on_disk(root)
    remote = committed_remote_entries(root)[1] if problem == "missing" and not stores else {}
    if problem == "missing" and not stores and not remote:
        return  # a new (or empty) store root: nothing is registered yet
    what = (f"{len(stores)} store(s) exist in {root.path}" if stores or not remote
            else f"{len(remote)} remote entry(ies) were registered in {root.path}")
    if stores:
        shown = ", ".join(s.name for s in stores[:5]) + (", …" if len(stores) > 5 else "")
        what += f" ({shown})"
    head = (f"{root.catalog_path} is missing" if problem == "missing" else problem)
    raise CorruptStoreError(f"{head}; {what}: run `goalstore repair` to rebuild the catalog from the "
                            "stores (nothing was changed)")


def committed_catalogs(root: StoreRoot) -> list[tuple[str, dict[str, Any]]]:
    """Every committed ``catalog.yaml`` that parses as a catalog mapping, newest first, as
    ``(commit, raw mapping)``."""
    log = versioning.git(root.path, "log", "--format=%H", "--", root.layout.catalog, check=False)
    parsed = []
    for commit in log.split():
        raw = committed_catalog(root, commit)
        if raw is not None:
            parsed.append((commit, raw))
    return parsed


def committed_catalog(root: StoreRoot, commit: str) -> dict[str, Any] | None:
    """The catalog mapping committed at ``commit``, or None (absent, not YAML, not a catalog)."""
    text = versioning.git(root.path, "show", f"{commit}:{root.layout.catalog}", check=False)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries") or {}, dict):
        return None
    return raw


def committed_remote_entries(root: StoreRoot) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """``(commit, {name: reader description}, data descriptions)`` of the remote entries in the
    newest committed catalog that parses and intake reads."""
    for commit, raw in committed_catalogs(root):
        try:
            cat = intake.entry.Catalog.from_dict(raw)
        except Exception:  # intake's own validation of the mapping: try an older one
            continue
        remote = {name: entry for name, entry in cat.entries.items()
                  if isinstance(entry.metadata, dict) and entry.metadata.get("origin") == "remote"}
        return commit, remote, dict(cat.data)
    return None, {}, {}
