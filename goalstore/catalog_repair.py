"""Rebuild a store root's catalog (``catalog.yaml``) from the stores themselves.

The catalog is the only index of the stores in a root: when it is missing or corrupt,
every command that reads it would either fail or (worse) see no stores, and the next
write would commit a catalog holding just the new store.  :func:`require_catalog` is
the guard the store root calls before it verifies or writes; :func:`repair` rebuilds
the catalog:

1. every store on disk — ``<arrays>/*.zarr``, ``<arrays>/*.nc``, ``<tables>/*.parquet`` and
   ``<models>/*.safetensors``
   (its name is the file stem) — gets the metadata the catalog *recorded* in the last
   commit that touched the store's path, if that metadata still describes the content
   (same content checksum, same number of versions);
2. otherwise its metadata is *reconstructed* from the content (as a write describes it);
   a table's kind comes from a recorded catalog, else from its columns;
3. remote entries come from the newest committed ``catalog.yaml`` that parses.

A healthy catalog is never rewritten: only entries of stores on disk that it lacks are
added (nothing at all when it has them all).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import intake

from goalstore import versioning
from goalstore.catalog import read_catalog_file
from goalstore.catalog_state import (
    OnDisk,
    catalog_problem,
    committed_catalog,
    committed_remote_entries,
    stores_on_disk,
)
from goalstore.checksum import content_checksum
from goalstore.errors import CorruptStoreError, GoalstoreError

if TYPE_CHECKING:
    from goalstore.store import StoreRoot


def _recorded(root: StoreRoot, store: OnDisk) -> dict[str, Any] | None:
    """The metadata the catalog recorded for ``store`` in the last commit that touched its path."""
    commit = versioning.git(root.path, "log", "-1", "--format=%H", "--", store.relpath, check=False).strip()
    raw = committed_catalog(root, commit) if commit else None
    entry = ((raw or {}).get("entries") or {}).get(store.name)
    meta = entry.get("metadata") if isinstance(entry, dict) else None
    return dict(meta) if isinstance(meta, dict) else None


def _table_kind(store: OnDisk, path: Path, recorded: dict[str, Any] | None) -> tuple[str, int, list[str]]:
    """The table kind of a Parquet store (recorded, else matched by its columns), rows and columns."""
    import pyarrow.dataset as pads

    from goalstore.schema import TABLES

    try:
        dataset = pads.dataset(str(path), format="parquet", partitioning="hive")
        names, rows = list(dataset.schema.names), dataset.count_rows()
    except (OSError, ValueError) as exc:
        raise CorruptStoreError(f"cannot read {store.relpath}: {exc}") from None
    kind = (recorded or {}).get("table_kind")
    if kind not in TABLES:
        candidates = []
        for name, spec in TABLES.items():
            declared = set(spec.schema.names)
            extra = [c for c in names if c not in declared]
            pattern = re.compile(spec.extra_columns[0]) if spec.extra_columns else None
            if declared <= set(names) and all(pattern and pattern.match(c) for c in extra):
                candidates.append(name)
        if len(candidates) != 1:
            found = "no table kind" if not candidates else f"several table kinds ({', '.join(candidates)})"
            raise GoalstoreError(f"its columns match {found}; cannot tell its table kind: rewrite it with "
                                 "`goalstore.write(name, table, kind=...)`")
        kind = candidates[0]
    declared = list(TABLES[kind].schema.names)  # a write records the declared order, then extra columns
    return kind, rows, declared + [c for c in names if c not in set(declared)]


def _reconstruct(root: StoreRoot, store: OnDisk, path: Path, checksum: str, versions: int,
                 recorded: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata described from the content, as a write of it would (version = its commits)."""
    from goalstore.formats import get_format
    from goalstore.schema import validate

    if store.fmt == "parquet":
        kind, rows, columns = _table_kind(store, path, recorded)
        meta = root._describe(store.name, (rows, columns), kind, store.fmt, store.relpath, checksum, True)
    else:  # an array or a model store: validate dispatches on what the format opens
        content = get_format(store.fmt).open(path, store.name)
        try:
            validate(content)
        except GoalstoreError as exc:
            raise GoalstoreError(f"its content does not follow the schema ({exc})") from None
        meta = root._describe(store.name, content, None, store.fmt, store.relpath, checksum, False)
    meta["version"] = versions
    return meta


def _describe_store(root: StoreRoot, store: OnDisk) -> tuple[str, dict[str, Any]]:
    """``(source, metadata)`` of a store on disk; raises :class:`GoalstoreError` to skip it."""
    from goalstore.store import _absent_content, check_name

    check_name(store.name)
    path = root.path / store.relpath
    absent = _absent_content(path)
    if absent:
        raise CorruptStoreError(f"the content of {len(absent)} file(s) is absent (e.g. "
                                f"{absent[0].relative_to(root.path)}); `git annex get` it first")
    versions = len(versioning.history(root.path, store.relpath))
    if not versions:
        raise GoalstoreError(f"{store.relpath} was never saved (no commit); save it with "
                             "`datalad save` or remove it, then repair again")
    checksum = content_checksum(path)
    recorded = _recorded(root, store)
    if (recorded and recorded.get("checksum") == checksum and recorded.get("version") == versions
            and recorded.get("path") == store.relpath and recorded.get("format") == store.fmt):
        return "recorded", recorded
    return "reconstructed", _reconstruct(root, store, path, checksum, versions, recorded)


def repair(root: StoreRoot) -> dict[str, Any]:
    """Rebuild ``root``'s catalog from its stores where it is missing, corrupt or incomplete.

    Returns a report: ``catalog`` (its state before: ``ok``, ``incomplete``, ``missing`` or
    ``corrupt``), ``problem``, ``repaired`` (whether a catalog was written and saved), ``stores``
    (name, source — recorded / reconstructed / remote —, version, checksum of each entry written),
    ``skipped`` (name, path, reason) and ``commit`` (the saving commit; None where nothing was
    committed, e.g. the rebuilt catalog equals the committed one).
    """
    from goalstore.formats import reader

    with root._locked():
        problem = catalog_problem(root)
        on_disk = stores_on_disk(root)
        report: dict[str, Any] = {"home": str(root.path), "catalog": "ok", "problem": problem,
                                  "repaired": False, "stores": [], "skipped": [], "commit": None}
        if problem is None:
            present = set(read_catalog_file(root.catalog_path).entries)
            todo = [s for s in on_disk if s.name not in present]
            if todo:
                report["catalog"] = "incomplete"
                report["problem"] = f"{len(todo)} store(s) on disk have no catalog entry"
        else:
            report["catalog"] = "missing" if problem == "missing" else "corrupt"
            todo = on_disk
        names = [s.name for s in todo]
        described = []
        for store in todo:
            if names.count(store.name) > 1:
                paths = ", ".join(s.relpath for s in todo if s.name == store.name)
                report["skipped"].append({"name": store.name, "path": store.relpath,
                                          "reason": f"several stores are named {store.name!r} ({paths}); "
                                                    "keep one and repair again"})
                continue
            try:
                source, meta = _describe_store(root, store)
            except GoalstoreError as exc:
                report["skipped"].append({"name": store.name, "path": store.relpath, "reason": str(exc)})
                continue
            described.append((store, source, meta))

        remote_commit, remote, data = (None, {}, {}) if problem is None else committed_remote_entries(root)
        remote = {n: e for n, e in remote.items() if n not in {s.name for s in on_disk}}
        if problem is None and not described:
            return report  # a healthy catalog (or nothing this repair can add): never rewritten
        if problem == "missing" and not on_disk and not remote:
            report.update(catalog="ok", problem=None)  # a new, empty store root: nothing to rebuild
            return report
        if not described and not remote:
            return report  # every store skipped: writing an empty catalog would unregister them all
        if problem is not None:
            if root.catalog_path.exists():  # keep the damaged file for inspection
                kept = root.scratch / f"catalog-damaged-{time.strftime('%Y%m%dT%H%M%S')}.yaml"
                shutil.copyfile(root.catalog_path, kept)
                report["damaged_copy"] = str(kept)
            cat = intake.entry.Catalog(metadata={"title": "stores built in this goalstore root"})
            cat.data.update(data)  # _write_catalog drops the descriptions no entry uses
            for name, entry in sorted(remote.items()):
                cat.entries[name] = entry
                meta = dict(entry.metadata)
                report["stores"].append({"name": name, "source": "remote", "version": meta.get("version"),
                                         "checksum": (meta.get("remote") or {}).get("checksum"),
                                         "from_commit": remote_commit})
            for store, _source, meta in described:
                cat[store.name] = reader(store.fmt, "{CATALOG_DIR}/" + store.relpath, meta)
            root._write_catalog(cat)
        else:
            for store, _source, meta in described:
                root._register(store.name, store.fmt, store.relpath, meta)
        for store, source, meta in described:
            report["stores"].append({"name": store.name, "source": source, "version": meta["version"],
                                     "checksum": meta["checksum"]})
        summary = ", ".join(f"{r['name']} ({r['source']})" for r in report["stores"]) or "no entries"
        before = versioning.head(root.path)
        versioning.save(root.path, f"repair catalog: {summary}"[:200], [root.layout.catalog])
        report["repaired"] = True
        after = versioning.head(root.path)  # unchanged where the rebuilt catalog is the committed one
        report["commit"] = after if after != before else None
    return report
