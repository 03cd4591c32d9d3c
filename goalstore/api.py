"""goalstore's Python API: catalog queries, lazy opening, history, verification,
building and rebuilding stores.

All functions take an optional ``home`` (the store root; default
``$GOALSTORE_HOME`` or ``~/.goalstore``), created as a DataLad dataset on first use.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import intake
import pandas as pd
from intake import import_name

from goalstore import catalog as _catalog
from goalstore import remote, versioning
from goalstore.errors import GoalstoreError, ProvenanceError, SchemaError, VersionSpecError
from goalstore.intake_reader import call_loader
from goalstore.recipes import get_recipe
from goalstore.store import StoreRoot, parse_reference


def _root(home: str | Path | None) -> StoreRoot:
    return StoreRoot(home)


def catalog(home: str | Path | None = None) -> intake.entry.Catalog:
    """The merged Intake catalog: shipped entries plus the stores built in ``home``."""
    return _catalog.merged_catalog(_root(home).catalog_path)


def search(home: str | Path | None = None, **criteria: Any) -> pd.DataFrame:
    """Entries matching every ``field=value`` criterion, one row each (pandas DataFrame).

    Example: ``goalstore.search(species="mouse", kind="recording")``.
    """
    return _catalog.search(catalog(home), **criteria)


def describe(name: str, home: str | Path | None = None) -> dict[str, Any]:
    """The full metadata of catalog entry ``name``."""
    return {"name": name, **_catalog.entry_metadata(catalog(home), name)}


def open(reference: str, home: str | Path | None = None, check: bool = False) -> Any:
    """Open ``NAME`` or ``NAME@VERSION`` lazily.

    Array stores come back as dask-backed ``xarray.Dataset``s, tables as
    ``dask.dataframe.DataFrame``s; nothing large is read until computed.  Remote
    entries are downloaded into the store root on first open and verified
    against their published checksum.  A store whose files or annexed content are
    missing is refused (exit 7), never read as NaN; ``check=True`` first verifies the
    content against the checksum recorded for that version (exit 8 if it changed).
    """
    name, version = parse_reference(reference)
    root = _root(home)
    meta = _catalog.entry_metadata(_catalog.merged_catalog(root.catalog_path), name)
    if meta.get("origin") == "store":
        return root.open(name, version, check=check)
    if version not in (None, "latest", str(meta.get("version"))):
        raise VersionSpecError(f"{name}@{version}: entry {name!r} has only version "
                               f"{meta.get('version')}")
    if meta.get("remote"):
        path = fetch(name, home)
        if meta.get("loader"):  # an external layout: the entry's loader converts it to canonical form
            return call_loader(meta, path)
        return _open_file(name, path, meta.get("format"))
    if meta.get("origin") == "package":  # vendored data, read through its goalstore loader
        return _catalog.merged_catalog(root.catalog_path)[name].read()
    return _open_file(name, Path(get_entry_url(name, home)), meta.get("format"))


def get_entry_url(name: str, home: str | Path | None = None) -> str:
    cat = catalog(home)
    entry = _catalog.get_entry(cat, name)
    token = str(entry.kwargs.get("args", [""])[0]).removeprefix("{data(").removesuffix(")}")
    return cat.data[token].kwargs["url"]


def _open_file(name: str, path: Path, fmt: str | None) -> Any:
    from goalstore.formats import open_file

    return open_file(path, fmt, name)


def fetch(name: str, home: str | Path | None = None) -> Path:
    """Local, checksum-verified copy of remote entry ``name`` (downloaded on first use)."""
    root = _root(home)
    meta = _catalog.entry_metadata(_catalog.merged_catalog(root.catalog_path), name)
    if not meta.get("remote"):
        raise GoalstoreError(f"entry {name!r} is not a remote entry")
    downloads = root.path / root.layout.downloads
    target = remote.local_path(downloads, name, meta["remote"])
    already = target.exists()
    path = remote.fetch(name, meta["remote"], downloads)
    if not already:
        root.save_paths([str(path.relative_to(root.path))], f"download {name} from {meta['remote']['url']}")
    return path


def register_remote(name: str, url: str, checksum: str | None, fmt: str = "netcdf",
                    home: str | Path | None = None, **metadata: Any) -> None:
    """Register a remote file as catalog entry ``name`` of the store root.

    ``checksum`` is ``"<alg>:<hex>"`` (e.g. ``"sha256:…"``); the file is downloaded
    and verified on first :func:`open`.  ``metadata`` adds searchable fields
    (kind, species, areas, modality, license, citation, description…).
    """
    _root(home).register_remote(name, url, checksum, fmt, metadata)


def add_file(name: str, source: str | Path, home: str | Path | None = None, force: bool = False) -> Path:
    """Register a file obtained elsewhere for remote entry ``name`` (checksum verified).

    For an entry without a published checksum the first file added is kept as the reference:
    a different file replaces it only with ``force=True``."""
    root = _root(home)
    meta = _catalog.entry_metadata(_catalog.merged_catalog(root.catalog_path), name)
    if not meta.get("remote"):
        raise GoalstoreError(f"entry {name!r} is not a remote entry; nothing to add")
    path = remote.add_file(name, meta["remote"], Path(source), root.path / root.layout.downloads, force)
    root.save_paths([str(path.relative_to(root.path))], f"add {name} from a local file")
    return path


def write(name: str, obj: Any, *, kind: str | None = None, fmt: str | None = None,
          message: str | None = None, home: str | Path | None = None) -> dict[str, Any]:
    """Validate ``obj`` and write it atomically as store ``name`` (a new version if it exists)."""
    return _root(home).write(name, obj, kind=kind, fmt=fmt, message=message)


def history(name: str, home: str | Path | None = None) -> list[dict[str, Any]]:
    """Versions of store ``name``, oldest first, with their provenance (datalad run records)."""
    if not isinstance(name, str):
        raise TypeError(f"a store name is a string; got {type(name).__name__} {name!r}")
    root = _root(home)
    meta = _catalog.entry_metadata(_catalog.merged_catalog(root.catalog_path), name)
    if meta.get("origin") == "store":
        return [v.as_dict() for v in root.history(name)]
    if meta.get("remote"):  # the versions of its local copy (none before the first download)
        local = remote.local_path(root.path / root.layout.downloads, name, meta["remote"])
        return [v.as_dict() for v in versioning.history(root.path, str(local.relative_to(root.path)))]
    return []  # vendored package data: versioned with goalstore itself


def verify(name: str | None = None, home: str | Path | None = None,
           all_versions: bool = False) -> list[dict[str, Any]]:
    """Check checksums and annex integrity of one store or all; one report per store
    (``{"name", "ok", "problems"}``; with ``all_versions`` every saved version is checked too and
    listed under ``"versions"``; on a read-only root ``"notes"`` says ``git annex fsck`` was skipped)."""
    return _root(home).verify(name, all_versions=all_versions)


def repair(home: str | Path | None = None) -> dict[str, Any]:
    """Rebuild the store root's catalog from its stores when it is missing, corrupt or lacks
    stores present on disk (a healthy catalog is left as it is); returns the report of
    :func:`goalstore.catalog_repair.repair` (entries written with their source, stores skipped and why)."""
    from goalstore.catalog_repair import repair as _repair

    return _repair(_root(home))


def _recipe_params(spec: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The recipe's defaults updated by ``params``, each converted to its default's type
    (bool, int, float or str); an unknown name or a value that does not convert is refused."""
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise SchemaError(f"parameter {unknown[0]!r}: unknown for recipe {spec.name!r}; expected "
                          f"{', '.join(spec.params) or 'none'}")
    return {**spec.params, **{k: _typed(spec.name, k, v, spec.params[k]) for k, v in params.items()}}


def _typed(recipe: str, key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    try:
        if kind is bool:
            text = str(value).strip().lower()
            if isinstance(value, bool) or text in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                return value if isinstance(value, bool) else text in ("true", "1", "yes", "on")
            raise ValueError
        if kind is int and not isinstance(value, bool):
            number = float(value) if not isinstance(value, int) else value
            if float(number) != int(number):
                raise ValueError
            return int(number)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise SchemaError(f"parameter {key!r} of recipe {recipe!r}: {value!r} does not convert to {kind.__name__} "
                      f"(default {default!r})")


def build(recipe: str, home: str | Path | None = None, **params: Any) -> dict[str, dict[str, Any]]:
    """Produce the stores of ``recipe`` through ``datalad run`` so their provenance is recorded.

    Returns the catalog metadata of every store produced, by name.
    """
    spec = get_recipe(recipe)
    root = _root(home)
    merged = _recipe_params(spec, params)
    # booleans as JSON (true/false) so that ``produce`` parses them back as booleans, not as the
    # (truthy) strings "True"/"False"
    args = " ".join(f"--param {shlex.quote(f'{k}={json.dumps(v) if isinstance(v, bool) else v}')}"
                    for k, v in sorted(merged.items()))
    # ``--home .``: the recorded command runs (and reruns, also by a plain ``datalad rerun``) in the root
    command = f"goalstore produce {spec.name} --home . {args}".strip()
    products = spec.outputs(**merged)
    outputs = [root.relpath(name, fmt) for name, fmt in products] + [root.layout.catalog]
    inputs = []
    for name in spec.inputs(**merged):
        meta = root.registered(name)
        if meta is not None and meta.get("path"):  # built in this store root: a path datalad can track
            inputs.append(meta["path"])
        elif meta is not None and meta.get("remote"):  # a remote entry's verified download
            local = remote.local_path(root.path / root.layout.downloads, name, meta["remote"])
            if local.exists():
                inputs.append(str(local.relative_to(root.path)))
    root.run_recorded(command, outputs, message=f"build {spec.name}", inputs=inputs)
    return {name: root.metadata(name) for name, _ in products}


def produce(recipe: str, home: str | Path | None = None, **params: Any) -> dict[str, dict[str, Any]]:
    """Run a recipe and write its stores without saving (the step ``datalad run`` records).

    ``home`` resolves like every command's (``--home``, else ``$GOALSTORE_HOME``, else
    ``~/.goalstore``; recorded commands pass ``--home .``) and must already be a store root: this
    step never creates one.
    """
    spec = get_recipe(recipe)
    root = StoreRoot(home, create=False)
    products = spec.produce(home=root.path, **_recipe_params(spec, params))
    return {name: root.write(name, p.obj, kind=p.kind, fmt=p.fmt, save=False)
            for name, p in products.items()}


def rebuild(name: str, home: str | Path | None = None) -> dict[str, Any]:
    """Re-execute the command recorded for store ``name`` and report whether it reproduces the
    version that command made.

    The newest version made by a recorded command is the one reproduced (a later direct write has
    no command to rerun); the report names it (``reproduces``), compares the new content with that
    version's recorded checksum, and says which version the store now is.
    """
    root = _root(home)
    versions = root.history(name)
    runs = [v for v in versions if v.run]
    if not runs:
        raise ProvenanceError(f"store {name!r} has no recorded command (it was written directly, "
                              "not through `goalstore build`); nothing to rebuild")
    last = runs[-1]
    target = versioning.recorded_checksum(root.path, last.commit, root.layout.catalog, name)
    outputs = [str(o) for o in (last.run.get("outputs") or [])]
    root.rerun_recorded(last.commit, outputs)
    after = root.metadata(name)
    report = {"name": name, "rerun_of": last.commit, "command": last.run.get("cmd"),
              "reproduces": last.number, "latest_before": len(versions),
              "identical": target == after["checksum"],
              "checksum_expected": target, "checksum_after": after["checksum"],
              "version": after["version"]}
    if last.number != len(versions):
        report["note"] = (f"versions {last.number + 1}–{len(versions)} were written directly (no recorded "
                          f"command); compared with version {last.number}, the last one built")
    return report


def analyze_synapses(cell_type: str = "all", n_bootstrap: int = 30, seed: int = 0,
                     out: str | Path | None = None, home: str | Path | None = None) -> dict[str, Any]:
    """Fit the Markov chain and Kesten process per cell type (Melander et al. 2021 data).

    The fits run through ``datalad run`` (recipe ``synapse-dynamics``) into the
    versioned result stores ``synapse-dynamics-{pyr,pv}``; the summary of each is
    returned, and with ``out`` the PNG figures are written there.
    """
    from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig, summary

    SynapseDynamicsConfig(n_bootstrap=int(n_bootstrap), seed=int(seed))  # refuse bad values up front
    built = build("synapse-dynamics", home=home, cell_types=cell_type, n_bootstrap=int(n_bootstrap),
                  seed=int(seed))
    report: dict[str, Any] = {"cell_types": {}, "stores": {}, "figures": []}
    for name, meta in built.items():
        result = open(name, home=home).load()
        cell = result.attrs["cell_type"]
        report["cell_types"][cell] = summary(result)
        report["stores"][name] = {"version": meta["version"], "checksum": meta["checksum"]}
        if out is not None:
            from goalstore.figures.synapse_dynamics import write_figures

            report["figures"] += [str(p) for p in write_figures(result, Path(out))]
    return report


def build_lr_corpus(preset: str = "tiny", device: str = "cpu", workers: int = 1, scheduler: str = "",
                    home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Train the learning-rule grid ``preset`` (``tiny``, ``paper`` or a grid file) and store the
    corpus (observables and runs tables) through ``datalad run``; resumes an interrupted sweep."""
    from builders.device import resolve_device
    from goalstore.errors import AnalysisInputError

    try:
        resolve_device(device)  # refuse an unusable device before anything runs
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    if Path(preset).is_file():
        preset = str(Path(preset).resolve())
    return build("lr-corpus", home=home, preset=preset, device=device, workers=int(workers),
                 scheduler=scheduler or "")


def import_lr_identify(path: str | Path, trust_pickle: bool = False, name: str = "lr-corpus-lr-identify",
                       home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Import a corpus in the published lr-identify ``dataset.pkl`` layout as stores ``name``
    (the long ``lr_observables`` table) and ``name-view`` (its classifier view), through
    ``datalad run``.  Several corpora can live side by side under different names.

    The pickle is read and checked here first (observable names, shapes, ``X_cat``), so a bad
    file is refused with its own error and exit code before anything runs.
    """
    from goalstore.sources.lr_identify import read_lr_identify
    from goalstore.store import check_name

    check_name(name)
    check_name(f"{name}-view")
    path = Path(path).resolve()
    read_lr_identify(path, trust_pickle)  # decide (refuse untrusted, unreadable or unmappable) before doing
    return build("lr-identify", home=home, path=str(path), trust_pickle=True, name=name)


def lr_classifier_view(name: str, home: str | Path | None = None, statistics: Any = "finite") -> Any:
    """Classifier view (examples = run × layer, features = statistic × checkpoint) of corpus ``name``.

    ``statistics="finite"`` keeps the 24 statistics that stay finite; ``None`` keeps all.
    """
    from goalstore.lr_corpus import FINITE_24, classifier_view, load_view

    root = _root(home)
    meta = root.metadata(name)
    if meta.get("table_kind") != "lr_observables":
        raise SchemaError(f"store {name!r} is not an lr_observables corpus table")
    stored = root.registered(f"{name}-view")
    if statistics == "finite" and stored is not None:
        view = load_view(root.path / stored["path"])  # the stored view: a fast wide read
        if set(view.statistics) <= set(FINITE_24):
            return view
    return classifier_view(root.path / meta["path"], FINITE_24 if statistics == "finite" else statistics)


def _result_report(built: dict[str, dict[str, Any]], summary: Any, figures: str, out: str | Path | None,
                   home: str | Path | None) -> dict[str, Any]:
    """The report of an analysis that built one result store: its name, version, ``summary`` of it,
    and (with ``out``) the PNGs written by the ``write_figures`` of module ``figures``."""
    name, store = next(iter(built.items()))
    result = open(name, home=home).load()
    report = {"store": name, "version": store["version"], **summary(result), "figures": []}
    if out is not None:
        report["figures"] = [str(p) for p in import_name(f"{figures}:write_figures")(result, Path(out))]
    return report


def analyze_lr_identify(corpus: str, classifiers: str = "rf,svm",
                        observables: str = "all,weights,activations,activity_change", holdouts: str = "",
                        periods: str = "", n_samples: str = "3", fast: bool = False, seed: int = 0,
                        workers: int = 1, scheduler: str = "", out: str | Path | None = None,
                        home: str | Path | None = None, fractions: str = "",
                        noise: str = "", n_splits: int = 10, cv: int = 5,
                        relative_noise: bool = False) -> dict[str, Any]:
    """Classify learning rules on corpus ``corpus`` into result store ``lr-identification-<corpus>``
    (through ``datalad run``); returns the summary, and writes PNG figures into ``out``.

    ``fractions`` and ``noise`` (comma-separated) add the measurement-realism surface of weights,
    activations and activity changes; ``relative_noise`` gives the noise s.d. in units of each
    measured quantity's own s.d. instead of absolute units."""
    from goalstore.analyses.lr_identification import IdentificationConfig, summary
    from goalstore.errors import AnalysisInputError

    def items(text: str) -> tuple[str, ...]:
        return tuple(t for t in str(text).split(",") if t)

    try:  # refuse bad names before anything runs
        IdentificationConfig(classifiers=items(classifiers), observable_sets=items(observables),
                             holdouts=items(holdouts), periods_epochs=tuple(int(p) for p in items(periods)),
                             n_samples=tuple(int(n) for n in items(n_samples)), n_splits=int(n_splits),
                             cv=int(cv))
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    root = _root(home)
    meta = root.metadata(corpus)
    if meta.get("table_kind") != "lr_observables":
        raise AnalysisInputError(f"store {corpus!r} is not a learning-rule corpus (lr_observables)")
    if bool(items(fractions)) != bool(items(noise)):
        raise AnalysisInputError("measurement realism needs both unit fractions and noise levels")
    if items(fractions) and root.registered(f"{corpus}-units") is None:
        raise AnalysisInputError(f"corpus {corpus!r} has no raw per-unit matrices ({corpus}-units); build it "
                                 "with keep_raw_layers in its grid to run unit subsampling and noise")
    built = build("lr-identification", home=home, corpus=corpus, classifiers=classifiers,
                  observables=observables, holdouts=holdouts, periods=periods, n_samples=n_samples,
                  fast=bool(fast), seed=int(seed), workers=int(workers), scheduler=scheduler or "",
                  fractions=fractions, noise=noise, n_splits=int(n_splits), cv=int(cv),
                  relative_noise=bool(relative_noise))
    return _result_report(built, summary, "goalstore.figures.lr_identification", out, home)


def _check_analysis_input(name: str, kind: str, home: str | Path | None) -> None:
    """Refuse an entry of the wrong kind up front, and download a remote entry (saving it in the store
    root) before the analysis runs inside ``datalad run``."""
    from goalstore.errors import AnalysisInputError

    meta = describe(name, home)  # raises, with close names, for an unknown entry
    if meta.get("kind") not in (None, kind):
        raise AnalysisInputError(f"entry {name!r} is a {meta.get('kind')!r} entry; expected {kind}")
    if meta.get("remote"):
        fetch(name, home)


def analyze_consistency(recording: str, mappings: str = "ridge", pooled: bool = False, n_splits: int = 10,
                        n_draws: int = 100, model: str = "", temporal: str = "per_bin",
                        train_fraction: float = 0.5, stratify: str = "", seed: int = 0,
                        out: str | Path | None = None,
                        home: str | Path | None = None) -> dict[str, Any]:
    """Noise-corrected inter-animal consistency of ``recording`` (and predictivity of the activations
    store ``model`` per layer) into the versioned result store ``consistency-<recording>[-<model>]``
    through ``datalad run``; returns the summary and writes PNG figures into ``out``."""
    from goalstore.analyses.consistency import TEMPORAL_MODES, summary
    from goalstore.analyses.mappings import make_mapping, mapping_name
    from goalstore.analyses.stimulus_splits import SplitScheme
    from goalstore.errors import AnalysisInputError

    for name in (m for m in str(mappings).split(",") if m):  # refuse bad input before anything runs
        if mapping_name(name) != "rsa":
            make_mapping(name)
    for mode in (("per_bin", "fixed") if temporal == "both" else tuple(str(temporal).split(","))):
        if mode not in TEMPORAL_MODES:
            raise AnalysisInputError(f"temporal {mode!r}: unknown; expected per_bin, fixed or both")
    SplitScheme(int(n_splits), float(train_fraction), stratify or None, int(seed))
    if int(n_draws) < 1:
        raise AnalysisInputError(f"n_draws must be at least 1; got {n_draws}")
    for store, kinds in ((recording, ("recording",)), (model, ("activations",))):
        if store:
            _check_analysis_input(store, kinds[0], home)
    built = build("consistency", home=home, recording=recording, mappings=mappings, pooled=bool(pooled),
                  n_splits=int(n_splits), train_fraction=float(train_fraction), stratify=stratify or "",
                  n_draws=int(n_draws), seed=int(seed), temporal=temporal, model=model or "")
    return _result_report(built, summary, "goalstore.figures.consistency", out, home)


def analyze_spatial(maps: str, field_threshold: float = 0.3, min_field_bins: int = 8,
                    out: str | Path | None = None, home: str | Path | None = None, n_shuffles: int = 100,
                    seed: int = 0) -> dict[str, Any]:
    """Grid and border scores of every cell of the rate-map store ``maps`` into the versioned
    result store ``spatial-scores-<maps>`` (through ``datalad run``); returns per-cell scores and
    writes the score distributions as PNG into ``out``.  With ``n_shuffles`` ≥ 1 (default 100;
    0 = thresholds only) each cell is also tested against ``n_shuffles`` shuffled copies of its
    map (seeded by ``seed``): per cell ``grid_threshold``, ``grid_p``, ``border_threshold``,
    ``border_p``."""
    from goalstore.analyses.spatial import summary
    from goalstore.analyses.spatial_shuffles import _check_n_shuffles
    from goalstore.errors import AnalysisInputError

    if not 0 < float(field_threshold) < 1 or int(min_field_bins) < 1:
        raise AnalysisInputError("field_threshold must lie in (0, 1) and min_field_bins be at least 1")
    if n_shuffles != 0:
        _check_n_shuffles(n_shuffles)
    _check_analysis_input(maps, "recording", home)
    built = build("spatial-scores", home=home, maps=maps, field_threshold=float(field_threshold),
                  min_field_bins=int(min_field_bins), n_shuffles=int(n_shuffles), seed=int(seed))
    return _result_report(built, summary, "goalstore.figures.spatial", out, home)
