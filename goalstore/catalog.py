"""Intake 2 catalogs: the shipped family catalogs merged with the store root's own.

``catalogs/`` (shipped with goalstore) holds ``index.yaml`` and one version-2
Intake catalog per family.  Stores built locally are registered in the store
root's ``catalog.yaml``.  :func:`merged_catalog` combines both into one
``intake`` Catalog; :func:`entries_frame` and :func:`search` query the searchable
metadata every entry carries (:data:`SEARCH_FIELDS`).
"""

from __future__ import annotations

import copy
import difflib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import intake
import pandas as pd
import yaml

from goalstore.errors import CorruptStoreError, EntryNotFoundError, SchemaError
from goalstore.resources import catalogs_dir, data_dir

#: Catalog families: one shipped YAML each.
FAMILIES = ("recordings", "stimuli", "models", "activations", "lr_corpora", "results")

#: Family an array store of each ``kind`` (or a table of each table kind) belongs to.
#: (``trajectories``, the simulated paths a path integrator runs along, are its stimuli.)
FAMILY_OF_KIND = {"recording": "recordings", "stimuli": "stimuli", "trajectories": "stimuli", "model": "models",
                  "activations": "activations",
                  "corpus": "lr_corpora", "result": "results", "lr_observables": "lr_corpora",
                  "lr_runs": "lr_corpora", "lr_view": "lr_corpora"}

#: Metadata fields every entry carries and :func:`search` can match on.
SEARCH_FIELDS = ("name", "family", "kind", "species", "areas", "modality", "dims", "sizes",
                 "format", "license", "citation", "version", "origin", "description")

#: Fields of model entries :func:`search` can match on too (empty for other entries), from their metadata:
#: ``model_family`` (a model grid's family label, ``training.family``; ``family`` is the catalog family,
#: ``models``), ``architecture``, ``cell`` (``training.cell``, else a ConvRNN's ``architecture_args.cell``),
#: ``objective`` (``training.objective``; ``supervised`` for the ``model`` recipe's classifiers) and
#: ``n_parameters``.
MODEL_SEARCH_FIELDS = ("model_family", "architecture", "cell", "objective", "n_parameters")

#: Fields compared as numbers: ``<V``, ``<=V``, ``>V``, ``>=V``, ``=V``, ``V`` or a range ``LO..HI`` (inclusive;
#: either end may be left out)
NUMERIC_FIELDS = ("n_parameters",)


def _resolve_catalog_dir(cat: intake.entry.Catalog, directory: str) -> intake.entry.Catalog:
    """Replace ``{CATALOG_DIR}`` and ``{GOALSTORE_DATA}`` in data URLs, so catalogs from
    different places can merge."""
    for data in cat.data.values():
        url = data.kwargs.get("url")
        if isinstance(url, str):
            url = url.replace("{CATALOG_DIR}", directory).replace("{GOALSTORE_DATA}", str(data_dir()))
            data.kwargs["url"] = url
    return cat


@lru_cache(maxsize=64)
def _parsed_yaml(text: str) -> Any:
    """``text`` parsed as YAML, cached by the text itself (a content key: a changed file is a new key),
    so the handful of catalog files one command reads many times are parsed once per process."""
    return yaml.safe_load(text)


def read_catalog_file(path: Path) -> intake.entry.Catalog:
    """An Intake 2 catalog from its YAML file (``intake.from_yaml_file``'s result), or
    :class:`CorruptStoreError` (exit 7) naming the file — and the line, for a YAML error — when it
    is not text, not YAML, not a mapping, or has an entry without a mapping of metadata."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorruptStoreError(f"{path}: not a text file; expected an Intake catalog (YAML)") from None
    try:
        raw = copy.deepcopy(_parsed_yaml(text))  # a copy: intake and callers may change what they get
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise CorruptStoreError(f"{path}:{where} not valid YAML ({problem})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries", {}), dict):
        raise CorruptStoreError(f"{path}: is a {type(raw).__name__}; expected an Intake catalog mapping "
                                "(version, entries, data)")
    for name, entry in (raw.get("entries") or {}).items():
        meta = entry.get("metadata") if isinstance(entry, dict) else None
        if not isinstance(meta, dict) or (meta.get("origin") == "store" and not meta.get("path")):
            raise CorruptStoreError(f"{path}: entry {name!r} has no metadata with its path")
    try:
        cat = intake.entry.Catalog.from_dict(raw)
    except Exception as exc:  # intake's own validation of the mapping
        problem = f"{type(exc).__name__}: {exc}"
        raise CorruptStoreError(f"{path}: not a readable Intake catalog ({problem})") from None
    # the parameters intake.from_yaml_file sets
    import fsspec

    fs = fsspec.open(str(path)).fs
    cat.user_parameters["CATALOG_PATH"] = str(path)
    cat.user_parameters["CATALOG_DIR"] = fs.unstrip_protocol(fs._parent(str(path)))
    cat.user_parameters["STORAGE_OPTIONS"] = {}
    return cat


def _load(path: Path) -> intake.entry.Catalog:
    return _resolve_catalog_dir(read_catalog_file(path), str(path.parent))


@lru_cache(maxsize=1)
def _shipped_paths() -> tuple[Path, ...]:
    index = yaml.safe_load((catalogs_dir() / "index.yaml").read_text())
    families = index.get("metadata", {}).get("families", {})
    return tuple(catalogs_dir() / families[f] for f in FAMILIES if f in families)


def _merge(catalogs: list[intake.entry.Catalog]) -> intake.entry.Catalog:
    """One catalog with every entry and data description; later catalogs shadow earlier ones.

    (Intake's ``+=`` does not carry data descriptions over, so entries would dangle.)
    """
    merged = intake.entry.Catalog(metadata={"title": "goalstore merged catalog"})
    for cat in catalogs:
        merged.data.update(cat.data)
        merged.entries.update(cat.entries)
        merged.aliases.update(cat.aliases)
    return merged


def shipped_catalog() -> intake.entry.Catalog:
    """All entries of the catalogs shipped with goalstore (vendored, local and remote data)."""
    return _merge([_load(path) for path in _shipped_paths()])


def store_catalog(path: Path) -> intake.entry.Catalog:
    """Entries registered in a store root's catalog file (empty if there is none yet)."""
    return _load(path) if path.exists() else intake.entry.Catalog()


def merged_catalog(store_catalog_path: Path | None) -> intake.entry.Catalog:
    """Shipped entries plus the store root's; a locally built store shadows a shipped one."""
    parts = [_load(path) for path in _shipped_paths()]
    if store_catalog_path is not None:
        parts.append(store_catalog(store_catalog_path))
    return _merge(parts)


def entry_metadata(cat: intake.entry.Catalog, name: str) -> dict[str, Any]:
    return dict(get_entry(cat, name).metadata)


def get_entry(cat: intake.entry.Catalog, name: str):
    """The reader description of entry ``name``; unknown names list the closest matches."""
    if name not in cat.entries:
        raise EntryNotFoundError(name, difflib.get_close_matches(name, list(cat.entries), n=5,
                                                                 cutoff=0.5))
    return cat.entries[name]


def _model_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """The :data:`MODEL_SEARCH_FIELDS` of a model entry's metadata (all ``None`` for other entries)."""
    if metadata.get("kind") != "model":
        return dict.fromkeys(MODEL_SEARCH_FIELDS)
    training = metadata.get("training") or {}
    args = metadata.get("architecture_args") or {}
    objective = training.get("objective") or ("supervised" if training.get("recipe") == "model" else None)
    return {"model_family": training.get("family"), "architecture": metadata.get("architecture"),
            "cell": training.get("cell") or args.get("cell"), "objective": objective,
            "n_parameters": metadata.get("n_parameters")}


def _row(name: str, metadata: dict[str, Any]) -> dict[str, Any]:
    row = {field: metadata.get(field) for field in SEARCH_FIELDS}
    row["name"] = name
    return {**row, **_model_fields(metadata)}


def entries_frame(cat: intake.entry.Catalog) -> pd.DataFrame:
    """One row per entry, columns :data:`SEARCH_FIELDS` and :data:`MODEL_SEARCH_FIELDS`, sorted by family
    and name."""
    rows = [_row(name, entry.metadata) for name, entry in cat.entries.items()]
    frame = pd.DataFrame(rows, columns=list(SEARCH_FIELDS))
    for field in MODEL_SEARCH_FIELDS:  # as given (ints stay ints, missing values None)
        frame[field] = pd.Series([row[field] for row in rows], index=frame.index, dtype=object)
    return frame.sort_values(["family", "name"], kind="stable").reset_index(drop=True)


def _number(text: str, key: str, wanted: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SchemaError(f"search criterion {key}={wanted!r}: {text!r} is not a number; expected <V, <=V, "
                          ">V, >=V, =V, V or LO..HI with numbers V, LO, HI") from None


def _numeric_test(key: str, wanted: Any) -> Any:
    """The test of a :data:`NUMERIC_FIELDS` criterion: ``<1e6``, ``>=1000``, ``1e5..1e6``, ``..1e6``, ``42``."""
    text = str(wanted).strip()
    if ".." in text:
        low, high = (part.strip() for part in text.split("..", 1))
        lo = _number(low, key, wanted) if low else -float("inf")
        hi = _number(high, key, wanted) if high else float("inf")
        return lambda v: lo <= v <= hi
    for op, test in (("<=", lambda a, b: a <= b), (">=", lambda a, b: a >= b), ("<", lambda a, b: a < b),
                     (">", lambda a, b: a > b), ("=", lambda a, b: a == b), ("", lambda a, b: a == b)):
        if text.startswith(op):
            bound = _number(text[len(op):].strip(), key, wanted)
            return lambda v, t=test, b=bound: t(v, b)
    raise AssertionError("unreachable")  # the empty operator matches every text


def _numeric_matches(value: Any, test: Any) -> bool:
    try:
        return value is not None and not isinstance(value, bool) and bool(test(float(value)))
    except (TypeError, ValueError):
        return False


def _matches(value: Any, wanted: str) -> bool:
    wanted = str(wanted).lower()
    if value is None:
        return False
    if isinstance(value, dict):
        return wanted in {str(k).lower() for k in value}
    if isinstance(value, (list, tuple, set)):
        return wanted in {str(v).lower() for v in value}
    return str(value).lower() == wanted


def search(cat: intake.entry.Catalog, **criteria: Any) -> pd.DataFrame:
    """Entries whose metadata match every criterion (case-insensitive).

    A list-valued field (``areas``) matches if it contains the value; ``dims``
    matches a dim name; a :data:`NUMERIC_FIELDS` field compares numbers (``n_parameters="<1e6"``,
    ``n_parameters="1e5..1e6"``).  ``family`` with a value that is no catalog family (:data:`FAMILIES`)
    means a model's ``model_family`` (``family="convrnn"``); a value that is neither (a typo such as
    ``family="recording"``) is refused with :class:`SchemaError` rather than matching nothing.
    Example: ``search(cat, species="mouse", kind="recording")``.
    """
    known = (*SEARCH_FIELDS, *MODEL_SEARCH_FIELDS)
    unknown = [k for k in criteria if k not in known]
    if unknown:
        raise SchemaError(f"search field {unknown[0]!r}: unknown; expected one of {', '.join(known)}")
    frame = entries_frame(cat)
    keep = pd.Series(True, index=frame.index)
    for key, wanted in criteria.items():
        if key == "family" and str(wanted).lower() not in FAMILIES:
            key = "model_family"
            present = sorted({str(v) for v in frame["model_family"] if v is not None})
            if str(wanted).lower() not in {v.lower() for v in present}:
                raise SchemaError(f"search criterion family={wanted!r}: neither a catalog family "
                                  f"({', '.join(FAMILIES)}) nor a model family of the catalog's models "
                                  f"({', '.join(present) or 'none'})")
        if key in NUMERIC_FIELDS:
            test = _numeric_test(key, wanted)
            keep &= frame[key].map(lambda v, t=test: _numeric_matches(v, t))
        else:
            keep &= frame[key].map(lambda v, w=wanted: _matches(v, w))
    return frame[keep].reset_index(drop=True)


def write_catalog_atomically(cat: intake.entry.Catalog, path: Path) -> None:
    """Write ``cat`` as YAML to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".yaml", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # as any file the user writes (mkstemp's is private: 0600)
        cat.to_yaml_file(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
