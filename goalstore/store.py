"""The store root: a DataLad dataset holding array stores (zarr / netCDF) and
table stores (Parquet), each registered in the root's Intake catalog.

Writes are atomic: the new content is written to a scratch directory,
validated, checksummed, then swapped into place (a journal lets an interrupted
swap be rolled back on next use), the catalog is rewritten through a temporary
file, and finally the change is saved with DataLad.  Old content is never
written over: annexed files are symlinks into the annex, and the swap only
removes the links, so every saved version stays readable.

Reads are lazy: :meth:`StoreRoot.open` returns dask-backed xarray / dask
DataFrame objects.  ``open(name, version)`` materialises the store as it was at
that version (symlinks into the annex) in the cache directory and opens that.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import intake
import pandas as pd
import pyarrow as pa

from goalstore import catalog_state, formats, journal, verification, versioning
from goalstore._version import __version__
from goalstore.catalog import FAMILY_OF_KIND, get_entry, read_catalog_file, write_catalog_atomically
from goalstore.checksum import content_checksum
from goalstore.errors import (
    ChecksumError,
    CorruptStoreError,
    GoalstoreError,
    SchemaError,
    StoreRootError,
    VersionSpecError,
)
from goalstore.resources import datalad_cfg
from goalstore.schema import MODEL_KIND, TABLES, ModelWeights, validate_array, validate_model, validate_table

#: attrs of an activations store copied into its catalog entry (the cache of ``goalstore extract`` is
#: decided from the catalog alone: no data is opened on a cache hit)
ACTIVATION_KEYS = ("extraction_key", "model", "model_weights_hash", "stimuli", "stimuli_checksum")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
DEFAULT_HOME = Path("~/.goalstore")


def default_home() -> Path:
    """``$GOALSTORE_HOME`` if set, else ``~/.goalstore``."""
    return Path(os.environ.get("GOALSTORE_HOME") or DEFAULT_HOME).expanduser()


def parse_reference(reference: str) -> tuple[str, str | None]:
    """Split ``"NAME@VERSION"`` into ``(NAME, VERSION)``; VERSION is None without ``@``."""
    if not isinstance(reference, str):
        raise TypeError(f"a store reference is a string NAME or NAME@VERSION; got {type(reference).__name__} "
                        f"{reference!r}")
    name, sep, version = reference.partition("@")
    if not name or (sep and not version) or "@" in version:
        raise VersionSpecError(f"malformed reference {reference!r}; expected NAME or NAME@VERSION "
                               "(VERSION: a number from `goalstore history NAME`, a commit, or 'latest')")
    return name, (version if sep else None)


MAX_NAME_LENGTH = 200  #: a store name is a file name (with a suffix): stay below the usual 255 bytes


def check_name(name: str) -> None:
    """Refuse a store name that is not letters, digits, '.', '_' or '-' (from a letter or digit) or
    is longer than :data:`MAX_NAME_LENGTH`; the whole name must match (a trailing newline too)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SchemaError(f"store name {name!r}: expected letters, digits, '.', '_' or '-' "
                          "(starting with a letter or digit)")
    if len(name) > MAX_NAME_LENGTH:
        raise SchemaError(f"store name {name[:20]!r}…: has {len(name)} characters; expected at most "
                          f"{MAX_NAME_LENGTH}")


@dataclass(frozen=True)
class Layout:
    """Sub-paths of a store root, read from its ``.datalad/config`` (set by ``datalad.cfg``)."""

    arrays: str = "arrays"
    tables: str = "tables"
    models: str = "models"
    downloads: str = "downloads"
    catalog: str = "catalog.yaml"
    scratch: str = ".goalstore-tmp"
    cache: str = ".goalstore-cache"

    @classmethod
    def from_settings(cls, settings: dict[str, str]) -> Layout:
        prefix = "goalstore.layout."
        known = cls.__dataclass_fields__
        return cls(**{k[len(prefix):]: v for k, v in settings.items()
                      if k.startswith(prefix) and k[len(prefix):] in known})


class StoreRoot:
    """A goalstore store root (a DataLad dataset), created on first use."""

    def __init__(self, path: str | Path | None = None, create: bool = True, recover: bool = True):
        """``recover=False``: a reader working for a running build (a dask.distributed worker on another
        machine or outside the build's process tree) leaves pending journals alone — they are the
        build's own, and waiting for its lock would deadlock it."""
        self.path = Path(path).expanduser().resolve() if path else default_home().resolve()
        if not versioning.is_dataset(self.path):
            if not create:
                raise StoreRootError(f"{self.path} is not a goalstore store root")
            with journal.creation_lock(self.path):  # two processes using a new root at once: one creates it
                if not versioning.is_dataset(self.path):
                    self._create()
        self.layout = Layout.from_settings(versioning.read_settings(self.path / ".datalad" / "config"))
        if recover and self._pending() and self._writable() and not journal.holds_lock(self.path):
            self.recover()  # settle a killed writer's work before anything reads the tree

    def _create(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreRootError(f"store root {self.path} exists and is not a directory")
        if self.path.is_dir() and any(self.path.iterdir()):  # never convert someone's folder or repo
            raise StoreRootError(f"store root {self.path} is a non-empty directory that is not a goalstore "
                                 "store root; point $GOALSTORE_HOME / --home at a new or empty directory")
        versioning.create_dataset(self.path, datalad_cfg())

    # ------------------------------------------------------------------ paths
    @property
    def catalog_path(self) -> Path:
        return self.path / self.layout.catalog

    @property
    def scratch(self) -> Path:
        return self.path / self.layout.scratch

    def relpath(self, name: str, fmt: str) -> str:
        check_name(name)
        store_format = formats.get_format(fmt, formats.STORE_FORMATS)
        folder = {"array": self.layout.arrays, "table": self.layout.tables,
                  "model": self.layout.models}[store_format.kind]
        return f"{folder}/{name}{store_format.suffix}"

    # ---------------------------------------------------------------- locking
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the root's inter-process write lock; taking it first settles what writers that
        were killed left behind (see :mod:`goalstore.journal`)."""
        with journal.locked(self.path, self.scratch, on_acquire=self._recover):
            yield

    def _writable(self) -> bool:
        return not verification.root_is_read_only(self.path)

    def _recover(self) -> list[dict[str, Any]]:
        """Finish or roll back the writes killed processes left behind (the lock is held)."""
        return journal.recover(self.path, self.scratch, self._finish_write)

    def _finish_write(self, state: dict[str, Any]) -> bool:
        """Save a killed direct write whose content was fully in place and registered — if its
        files and catalog entry still carry the checksum it recorded; else it is rolled back."""
        if state.get("kind") != "write":
            return False
        name, relpath, checksum = state.get("name"), state.get("relpath"), state.get("checksum")
        path = self.path / str(relpath)
        try:
            entry = self._registered_metadata(str(name))
            intact = (entry is not None and entry.get("checksum") == checksum
                      and entry.get("path") == relpath and (path.exists() or path.is_symlink())
                      and not _absent_content(path) and content_checksum(path) == checksum)
            if intact:
                versioning.save(self.path, state.get("message") or f"write {name}", state["paths"])
        except (OSError, GoalstoreError):
            return False
        return intact

    def recover(self) -> list[dict[str, Any]]:
        """Settle interrupted writes now (waiting for a running writer); what was finished or
        rolled back, one record per interrupted write."""
        done: list[dict[str, Any]] = []
        with journal.locked(self.path, self.scratch, on_acquire=lambda: done.extend(self._recover())):
            pass
        return done

    def _pending(self) -> bool:
        """Whether journals of interrupted writes wait to be settled."""
        return self.scratch.is_dir() and any(True for pattern in ("txn-*.json", "swap-*.json")
                                             for _ in self.scratch.glob(pattern))

    # ----------------------------------------------------------------- writes
    def write(self, name: str, obj: Any, *, kind: str | None = None, fmt: str | None = None,
              message: str | None = None, save: bool = True,
              extra_metadata: dict[str, Any] | None = None, adopt: Path | None = None) -> dict[str, Any]:
        """Validate and atomically write ``obj`` as store ``name``; return its catalog metadata.

        ``obj`` is an ``xarray.Dataset`` (``fmt`` zarr [default] or netcdf; ``kind``
        the expected store kind) or a pandas DataFrame / pyarrow Table / pyarrow
        ``RecordBatchReader`` (``kind`` = table kind; written as a Parquet dataset
        partitioned as declared; a reader is validated and written batch by batch, so a
        table larger than memory streams through), or a
        :class:`~goalstore.schema.models.ModelWeights` (a model store, written as safetensors).
        With ``save=False`` the change is left for the caller (``datalad run``) to save.

        The whole write holds the root's lock; a journal lets a kill at any point be finished
        or rolled back by the next process (:mod:`goalstore.journal`).  Writing an existing name
        in another format is a new version of the same store: the old layout is removed in the
        same commit and the history carries on.

        ``adopt``: a zarr directory inside this root's scratch folder, already written in the store's
        zarr layout (v2, consolidated), that the dataset ``obj`` was opened from (e.g. a streamed
        extraction).  It is moved into place by a rename instead of being written a second time;
        everything else is as for any write: ``obj`` is validated (values included), the moved
        directory read back through the schema and checksummed, and the swap journaled.
        """
        if adopt is not None:
            adopt = _adoptable(self.scratch, Path(adopt), obj, fmt)
            obj = obj.copy()  # coords into memory: ``adopt`` moves before the catalog entry is described
            obj = obj.assign_coords({k: obj[k].load() for k in obj.coords})
            fmt = "zarr"
        is_table = isinstance(obj, (pd.DataFrame, pa.Table, pa.RecordBatchReader))
        if isinstance(obj, ModelWeights):
            validate_model(obj)
            if kind not in (None, MODEL_KIND):
                raise SchemaError(f"store {name!r}: a model store's kind is {MODEL_KIND!r}, not {kind!r}")
            fmt = "safetensors"
        elif is_table:
            if kind is None:
                raise SchemaError(f"table store {name!r}: no table kind given; expected one of "
                                  f"{', '.join(TABLES)}")
            if not isinstance(obj, pa.RecordBatchReader):
                obj = validate_table(obj, kind)
                if obj.num_rows == 0:
                    raise SchemaError(f"table store {name!r}: has no rows; expected at least one")
            fmt = "parquet"
        else:
            validate_array(obj, kind)
            fmt = fmt or formats.ARRAY_FORMATS[0]
            formats.get_format(fmt, formats.ARRAY_FORMATS, " for array stores")
        relpath = self.relpath(name, fmt)
        store_format = formats.get_format(fmt)
        final = self.path / relpath
        with self._locked():
            self._require_catalog()
            new = self.scratch / f"new-{uuid.uuid4().hex}{Path(relpath).suffix}"
            try:
                if adopt is not None:
                    adopt.rename(new)
                    shape = None
                else:
                    shape = store_format.write(obj, new, kind=kind)  # tables: (rows, columns)
                store_format.check(new, kind)  # read back through the schema (array values: checked)
                checksum = content_checksum(new)
            except BaseException:
                _remove(new)
                raise
            previous = self._registered_metadata(name)
            if previous and previous.get("checksum") == checksum and previous.get("path") == relpath \
                    and final.exists():
                _remove(new)  # identical content: keep the stored version untouched
                return previous
            former = _former_paths(previous, relpath)
            retire = self.path / previous["path"] if previous and previous.get("path") != relpath else None
            metadata = self._describe(name, shape if is_table else obj, kind, fmt, relpath, checksum,
                                      is_table, former)
            metadata.update(extra_metadata or {})
            paths = [relpath, *([previous["path"]] if retire else []), self.layout.catalog]
            message = message or f"write {name}"
            txn = journal.begin(self.scratch, "write", paths, name=name, relpath=relpath,
                                checksum=checksum, message=message) if save else None
            try:
                journal.fault("before-swap")
                journal.swap(self.scratch, new, final, retire)
                journal.fault("after-swap")
                self._register(name, fmt, relpath, metadata)
                if txn is not None:
                    journal.advance(txn, "registered")
                    journal.fault("before-save")
                    journal.advance(txn, "saving")
                    versioning.save(self.path, message, paths)
                    journal.fault("after-save")
            except BaseException:
                _remove(new)
                if txn is not None:  # undo our own change now: the tree matches history again
                    journal.restore_to_head(self.path, paths)
                raise
            finally:
                if txn is not None:
                    journal.end(txn)
        return metadata

    def run_recorded(self, command: str, outputs: list[str], message: str,
                     inputs: list[str] | None = None) -> dict[str, Any]:
        """``datalad run`` ``command`` (a ``goalstore produce``) inside this root's lock, lent to
        the command; a failed or killed run leaves ``outputs`` as the last commit has them."""
        return self._recorded(outputs, lambda: versioning.run(self.path, command, outputs, message, inputs))

    def rerun_recorded(self, commit: str, outputs: list[str]) -> dict[str, Any]:
        """``datalad rerun`` the command recorded in ``commit``, like :meth:`run_recorded`."""
        return self._recorded(outputs, lambda: versioning.rerun(self.path, commit))

    def _recorded(self, outputs: list[str], execute: Any) -> dict[str, Any]:
        paths = list(dict.fromkeys([*outputs, self.layout.catalog]))
        with self._locked():
            txn = journal.begin(self.scratch, "run", paths)
            try:
                with journal.lend_lock(self.path):
                    return execute()
            except BaseException:
                journal.restore_to_head(self.path, paths)
                raise
            finally:
                journal.end(txn)

    def save_paths(self, paths: list[str], message: str) -> None:
        """Save files added outside :meth:`write` (downloads) under the lock, through a journal."""
        with self._locked():
            txn = journal.begin(self.scratch, "save", paths)
            try:
                versioning.save(self.path, message, paths)
            except BaseException:
                journal.restore_to_head(self.path, paths)
                raise
            finally:
                journal.end(txn)

    def _describe(self, name: str, obj: Any, kind: str | None, fmt: str, relpath: str,
                  checksum: str, is_table: bool, former_paths: list[str] | None = None) -> dict[str, Any]:
        versions = versioning.history(self.path, [relpath, *(former_paths or [])])
        common = {"format": fmt, "checksum": checksum, "version": len(versions) + 1,
                  "origin": "store", "path": relpath, "goalstore_version": __version__,
                  **({"former_paths": former_paths} if former_paths else {})}
        if is_table:  # obj: the written table's (rows, columns)
            rows, columns = obj
            return {**common, "kind": "table", "table_kind": kind,
                    "family": FAMILY_OF_KIND.get(kind, "results"),
                    "dims": {"row": rows}, "sizes": {"row": rows},
                    "columns": columns, "description": TABLES[kind].description,
                    **TABLES[kind].catalog}
        attrs = obj.attrs
        if isinstance(obj, ModelWeights):
            return {**common, "kind": MODEL_KIND, "family": FAMILY_OF_KIND[MODEL_KIND],
                    "species": attrs["species"], "modality": attrs["modality"], "areas": [],
                    "dims": ["tensor"], "sizes": {"tensor": len(obj.tensors)},
                    "license": attrs["license"], "citation": attrs["citation"], "source": attrs["source"],
                    "description": attrs.get("description", ""), "architecture": attrs["architecture"],
                    "architecture_args": attrs["architecture_args"], "n_parameters": attrs["n_parameters"],
                    "n_units": attrs["n_units"], "weights_hash": attrs["weights_hash"],
                    "input_shape": list(attrs["input_shape"]),
                    "training": attrs["training"], "metrics": attrs["metrics"],
                    "schema_version": attrs["schema_version"]}
        if "area" in obj.coords:
            areas = sorted({str(a) for a in obj["area"].values})
        else:  # e.g. synapse stores: one area for the whole store, in the attrs
            areas = [str(obj.attrs["area"])] if obj.attrs.get("area") else []
        return {**common, "kind": attrs["kind"], "family": FAMILY_OF_KIND[attrs["kind"]],
                "species": attrs["species"], "modality": attrs["modality"], "areas": areas,
                "dims": list(obj.sizes), "sizes": {str(k): int(v) for k, v in obj.sizes.items()},
                "license": attrs["license"], "citation": attrs["citation"],
                "source": attrs["source"], "description": attrs.get("description", ""),
                **{key: str(attrs[key]) for key in ("cell_type", "variant", "analysis", *ACTIVATION_KEYS)
                   if key in attrs},
                "schema_version": attrs["schema_version"]}

    def _require_catalog(self) -> None:
        """Refuse (exit 7) a missing or corrupt catalog while stores exist: run `goalstore repair`."""
        catalog_state.require_catalog(self)

    def _raw_catalog(self) -> intake.entry.Catalog:
        if self.catalog_path.exists():
            return read_catalog_file(self.catalog_path)
        return intake.entry.Catalog(metadata={"title": "stores built in this goalstore root"})

    def registered(self, name: str) -> dict[str, Any] | None:
        """Catalog metadata of store ``name`` if it was built in this root, else None."""
        return self._registered_metadata(name)

    def _registered_metadata(self, name: str) -> dict[str, Any] | None:
        cat = self._raw_catalog()
        return dict(cat.entries[name].metadata) if name in cat.entries else None

    def _register(self, name: str, fmt: str, relpath: str, metadata: dict[str, Any]) -> None:
        cat = self._raw_catalog()
        if name in cat.entries:
            del cat[name]
        cat[name] = formats.reader(fmt, "{CATALOG_DIR}/" + relpath, metadata)
        self._write_catalog(cat)

    def _write_catalog(self, cat: intake.entry.Catalog) -> None:
        for token in [t for t in cat.data if not any(f"{{data({t})}}" in str(e.kwargs)
                                                     for e in cat.entries.values())]:
            del cat.data[token]  # drop data descriptions no entry uses any more
        for key in ("CATALOG_PATH", "CATALOG_DIR", "STORAGE_OPTIONS"):
            cat.user_parameters.pop(key, None)
        write_catalog_atomically(cat, self.catalog_path)

    def register_remote(self, name: str, url: str, checksum: str | None, fmt: str,
                        metadata: dict[str, Any] | None = None, filename: str | None = None,
                        companions: list[tuple[str, str | None]] | None = None) -> None:
        """Register a remote file (URL + ``"<alg>:<hex>"`` checksum) as a catalog entry.

        It is downloaded into the store root, and verified, on first open.  ``companions``: further
        ``(url, checksum)`` files of the entry (e.g. the CSV of a brainio zip), fetched and verified with it
        into the same folder.
        """
        check_name(name)
        formats.get_format(fmt, formats.REMOTE_FORMATS)
        remote = {"url": url, "checksum": checksum, "filename": filename or _file_name(url)}
        if companions:
            remote["companions"] = [{"url": u, "checksum": c, "filename": _file_name(u)} for u, c in companions]
            names = [spec["filename"] for spec in [remote, *remote["companions"]]]
            if len(set(names)) != len(names):
                raise SchemaError(f"remote entry {name!r}: its files share a file name ({', '.join(names)}); "
                                  "expected one name per file")
        meta = {"origin": "remote", "format": fmt, "version": 1, "remote": remote,
                **(metadata or {})}
        with self._locked():
            self._require_catalog()
            cat = self._raw_catalog()
            if name in cat.entries:
                del cat[name]
            cat[name] = formats.reader(fmt, url, meta)
            self._write_catalog(cat)
            versioning.save(self.path, f"register remote entry {name}", [self.layout.catalog])

    # ------------------------------------------------------------------ reads
    def metadata(self, name: str) -> dict[str, Any]:
        """Catalog metadata of a store built in this root."""
        meta = self._registered_metadata(name)
        if meta is None:
            get_entry(self._raw_catalog(), name)  # raises with close matches
        return meta

    def history(self, name: str) -> list[versioning.Version]:
        """Versions of store ``name``, oldest first, with their provenance (across format changes)."""
        meta = self.metadata(name)
        return versioning.history(self.path, [meta["path"], *meta.get("former_paths", [])])

    def resolve_version(self, name: str, version: str | None) -> versioning.Version | None:
        """The :class:`Version` named by ``version`` (None/'latest' → None = working tree)."""
        if version in (None, "latest"):
            return None
        versions = self.history(name)
        available = ", ".join(str(v.number) for v in versions) or "none"
        if version.lstrip("v").isdigit():
            number = int(version.lstrip("v"))
            if not 1 <= number <= len(versions):
                raise VersionSpecError(f"{name}@{version}: no such version; available: {available}")
            return versions[number - 1]
        if re.fullmatch(r"[0-9a-fA-F]{7,40}", version):
            for v in versions:
                if v.commit.startswith(version.lower()):
                    return v
            raise VersionSpecError(f"{name}@{version}: no version of {name} has that commit; "
                                   f"available versions: {available}")
        raise VersionSpecError(f"{name}@{version}: malformed version; expected a number "
                               f"({available}), a commit hash or 'latest'")

    def open(self, name: str, version: str | None = None, check: bool = False) -> Any:
        """Open store ``name`` lazily (dask-backed), at ``version`` if given.

        The latest version is read from a snapshot of its commit (links to the immutable annexed
        content, copies of the small git-tracked files, in the root's cache), so a lazily opened store
        keeps returning the version it was opened at even after a later write of the same name.

        Refused (:class:`CorruptStoreError`, exit 7) rather than read wrong: a store whose
        catalog path is not its own location, whose files are missing, or whose annexed
        content is absent (it would read back as NaN).  ``check=True`` also recomputes the
        content checksum and compares it with the one recorded for that version
        (:class:`ChecksumError`, exit 8, on a difference).
        """
        meta = self.metadata(name)
        chosen = self.resolve_version(name, version)
        if chosen is not None:  # NAME@N reads commit N (also the latest N), never the working tree
            meta = versioning.recorded_metadata(self.path, chosen.commit, self.layout.catalog, name) or meta
        fmt = meta["format"]
        expected = self.relpath(name, fmt)
        if meta.get("path") != expected:
            raise CorruptStoreError(f"store {name!r}: its catalog entry points at {meta.get('path')!r}, not "
                                    f"at its own location {expected!r}; refusing to open another store")
        if chosen is None:
            path = self.path / meta["path"]
            commit = self._saved_as_is(meta["path"])
            if commit:  # read a snapshot of the saved version: a later write never changes what this returns
                path = versioning.snapshot(self.path, meta["path"], self._snapshots() / commit, commit)
        else:
            path = versioning.materialise(self.path, chosen.commit, meta["path"],
                                          self._snapshots() / chosen.commit)
        if not (path.exists() or path.is_symlink()):
            raise CorruptStoreError(f"store {name!r}: {meta['path']} is missing from {self.path}")
        absent = _absent_content(path)
        if absent:
            raise CorruptStoreError(f"store {name!r}: the content of {len(absent)} file(s) is absent (e.g. "
                                    f"{absent[0].relative_to(path.parent)}); `git annex get` it or run "
                                    "`goalstore verify`")
        if check:
            recorded = meta.get("checksum")
            actual = content_checksum(path)
            if actual != recorded:
                raise ChecksumError(f"store {name!r}: content checksum {actual} differs from the recorded "
                                    f"{recorded}; the stored files were changed")
        return formats.get_format(fmt).open(path, name)

    def _saved_as_is(self, relpath: str) -> str | None:
        """The commit that saved ``relpath`` as the working tree holds it, or None where the working tree
        differs (a write a recorded command has not saved yet, or files changed by hand)."""
        path = self.path / relpath
        if not (path.exists() or path.is_symlink()):
            return None
        if versioning.git(self.path, "status", "--porcelain", "--", relpath, check=False).strip():
            return None
        return versioning.git(self.path, "log", "-1", "--format=%H", "--", relpath, check=False).strip() or None

    def _snapshots(self) -> Path:
        """Where older versions are materialised: the root's cache, or (read-only root) a per-user
        temporary folder keyed by the root's location."""
        if self._writable():
            return self.path / self.layout.cache / "snapshots"
        import hashlib
        import tempfile

        key = hashlib.sha256(str(self.path).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"goalstore-{os.getuid()}-snapshots" / key

    # ----------------------------------------------------------- verification
    def verify(self, name: str | None = None, all_versions: bool = False) -> list[dict[str, Any]]:
        """Check each store's content checksum and annex integrity (``git annex fsck``).

        ``all_versions``: also every older version's content against the checksum recorded at its
        commit (a ``versions`` list per store).  On a read-only root ``git annex fsck`` (which needs to
        write) is skipped, with a note; the checksums are still compared.  Elsewhere verify holds the
        root's lock, so no write is in flight and a killed one is settled first: it never reports on
        a tree that is changing.
        """
        if verification.root_is_read_only(self.path):
            return self._verify(name, all_versions, read_only=True)
        with self._locked():
            return self._verify(name, all_versions, read_only=False)

    def _verify(self, name: str | None, all_versions: bool, read_only: bool) -> list[dict[str, Any]]:
        self._require_catalog()
        cat = self._raw_catalog()
        names = [name] if name else sorted(cat.entries)
        if name:
            self.metadata(name)
        report = []
        for store in names:
            meta = dict(cat.entries[store].metadata)
            if meta.get("remote"):  # a registered remote entry: its verified download, if any
                report.append(self._verify_download(store, meta["remote"]))
                continue
            report.append(verification.check_store(self.path, store, meta, self.layout.catalog,
                                                   all_versions=all_versions, read_only=read_only))
        return report

    def _verify_download(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A remote entry's local copies (its main file and any companions) against their published
        checksums (not downloaded: nothing to check)."""
        import pooch

        from goalstore import remote

        specs = remote.files(spec)
        locals_ = remote.local_paths(self.path / self.layout.downloads, name, spec)
        if not any(local.exists() or local.is_symlink() for local in locals_):
            return {"name": name, "ok": True, "problems": [], "note": "remote entry, not downloaded"}
        problems = []
        for file_spec, local in zip(specs, locals_, strict=True):
            if not (local.exists() or local.is_symlink()):
                problems.append(f"file missing: {local.relative_to(self.path)}")
                continue
            absent = [f"content missing: {p.relative_to(self.path)}" for p in _absent_content(local)]
            problems += absent
            checksum = file_spec.get("checksum")
            if checksum and not absent:
                alg, _, expected = checksum.partition(":")
                actual = pooch.file_hash(str(local), alg=alg)
                if actual != expected:
                    where = f" ({local.name})" if len(specs) > 1 else ""
                    problems.append(f"checksum mismatch{where}: published {checksum}, found {alg}:{actual}")
        return {"name": name, "ok": not problems, "problems": problems}

    def checksum_matches(self, name: str) -> bool:
        meta = self.metadata(name)
        return content_checksum(self.path / meta["path"]) == meta["checksum"]


# ------------------------------------------------------------------ helpers
_absent_content = verification.absent_content


def _file_name(url: str) -> str:
    """The file name a URL's path ends with (query and trailing slash left out)."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


_remove = journal.remove


def _adoptable(scratch: Path, path: Path, obj: Any, fmt: str | None) -> Path:
    """``path`` when it may be adopted by :meth:`StoreRoot.write`: a zarr directory directly or deeper
    inside ``scratch``, and ``obj`` an ``xarray.Dataset``; otherwise a :class:`SchemaError`."""
    import xarray as xr

    resolved = path.resolve()
    if fmt not in (None, "zarr") or not isinstance(obj, xr.Dataset):
        raise SchemaError(f"adopt {path}: only a zarr dataset can be adopted")
    if not resolved.is_dir() or resolved.suffix != ".zarr" or not resolved.is_relative_to(scratch.resolve()):
        raise SchemaError(f"adopt {path}: not a zarr directory in the store root's scratch folder")
    return resolved


def _former_paths(previous: dict[str, Any] | None, relpath: str) -> list[str]:
    """The paths store ``previous`` had before (format changes), now that it moves to ``relpath``."""
    if not previous or not previous.get("path"):
        return []
    former = [*previous.get("former_paths", []), previous["path"]]
    return [p for p in dict.fromkeys(former) if p != relpath]


__all__ = ["ChecksumError", "StoreRoot", "default_home", "parse_reference"]
