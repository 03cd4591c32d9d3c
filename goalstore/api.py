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

from goalstore import catalog as _catalog
from goalstore import entries, recipes, remote, versioning
from goalstore.errors import GoalstoreError, ProvenanceError
from goalstore.recipes import get_recipe
from goalstore.store import StoreRoot


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
    return entries.describe(name, _root(home))


def open(reference: str, home: str | Path | None = None, check: bool = False) -> Any:
    """Open ``NAME`` or ``NAME@VERSION`` lazily.

    Array stores come back as dask-backed ``xarray.Dataset``s, tables as
    ``dask.dataframe.DataFrame``s; nothing large is read until computed.  Remote
    entries are downloaded into the store root on first open and verified
    against their published checksum.  A store whose files or annexed content are
    missing is refused (exit 7), never read as NaN; ``check=True`` first verifies the
    content against the checksum recorded for that version (exit 8 if it changed).
    """
    return entries.open(reference, _root(home), check=check)


def get_entry_url(name: str, home: str | Path | None = None) -> str:
    return entries.entry_url(name, _root(home))


def fetch(name: str, home: str | Path | None = None) -> Path:
    """Local, checksum-verified copy of remote entry ``name`` (downloaded on first use)."""
    return entries.fetch(name, _root(home))


def register_remote(name: str, url: str, checksum: str | None, fmt: str = "netcdf",
                    home: str | Path | None = None, companions: list[tuple[str, str | None]] | None = None,
                    **metadata: Any) -> None:
    """Register a remote file as catalog entry ``name`` of the store root.

    ``checksum`` is ``"<alg>:<hex>"`` (e.g. ``"sha256:…"``); the file is downloaded
    and verified on first :func:`open`.  ``companions``: further ``(url, checksum)`` files of the entry
    (e.g. the CSV of a brainio stimulus set's zip), downloaded and verified beside it.  ``metadata`` adds
    searchable fields (kind, species, areas, modality, license, citation, description, and ``loader`` /
    ``loader_kwargs`` for a file in an external layout…).
    """
    _root(home).register_remote(name, url, checksum, fmt, metadata, companions=companions)


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
           all_versions: bool = False, recheck: int = 0, recheck_seed: int = 0) -> list[dict[str, Any]]:
    """Check checksums and annex integrity of one store or all; one report per store
    (``{"name", "ok", "problems"}``; with ``all_versions`` every saved version is checked too and
    listed under ``"versions"``; on a read-only root ``"notes"`` says ``git annex fsck`` was skipped).

    ``recheck`` > 0: each extracted activations store also has a seeded random sample of ``recheck``
    stimuli re-extracted with its recorded model, stimuli, preprocessing and reduction and compared with
    the stored values (tolerance: :mod:`goalstore.activations.recheck`); a mismatch is a problem."""
    root = _root(home)
    report = root.verify(name, all_versions=all_versions)
    if recheck > 0:
        from goalstore.recipes.extract import recheck as _recheck

        for item in report:
            meta = root.registered(item["name"]) or {}
            if meta.get("kind") != "activations" or not meta.get("extraction_key"):
                continue
            problems, notes = _recheck(item["name"], root, recheck, recheck_seed)
            item["problems"] = [*item["problems"], *problems]
            item["notes"] = [*item.get("notes", []), *notes]
            item["ok"] = item["ok"] and not problems
    return report


def extract(model: str, stimuli: str, home: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """The activations of model store ``model`` on stimuli store ``stimuli``, as a content-addressed
    store ``act-<model>-<stimuli>-<key[:10]>``, extracted through ``datalad run`` unless a store with the
    same extraction key exists (then returned at once, ``cached`` True).

    ``options``: ``layers`` (comma list), ``time_steps``, ``reduce`` (none | pca:K | random:K),
    ``pca_fit``, ``seed``, ``first_step``, ``time_start``, ``align`` (a recording), ``time_mapping``
    (none | uniform | graded), ``time_bins`` (of a time mapping without ``align``), ``batch_size``,
    ``device``, ``workers``, ``scheduler`` (recipe ``extract``).
    Returns ``{"store", "cached", "key", "metadata"}``."""
    result = ensure("extract", home=home, model=model, stimuli=stimuli, **options)
    name, meta = next(iter(result["stores"].items()))
    return {"store": name, "cached": result["cached"], "key": meta["extraction_key"], "metadata": meta}


def repair(home: str | Path | None = None) -> dict[str, Any]:
    """Rebuild the store root's catalog from its stores when it is missing, corrupt or lacks
    stores present on disk (a healthy catalog is left as it is); returns the report of
    :func:`goalstore.catalog_repair.repair` (entries written with their source, stores skipped and why)."""
    from goalstore.catalog_repair import repair as _repair

    return _repair(_root(home))


def build(recipe: str, home: str | Path | None = None, **params: Any) -> dict[str, dict[str, Any]]:
    """Produce the stores of ``recipe`` through ``datalad run`` so their provenance is recorded.

    The parameters (converted once to their declared types) reach ``goalstore produce`` as one JSON
    document.  Returns the catalog metadata of every store produced, by name.
    """
    spec = get_recipe(recipe)
    root = _root(home)
    typed = spec.resolve(params)
    merged = recipes.as_dict(typed)
    # ``--home .``: the recorded command runs (and reruns, also by a plain ``datalad rerun``) in the root
    command = f"goalstore produce {spec.name} --home ."
    if merged:  # one JSON document; braces doubled for datalad run's {placeholder} expansion
        document = shlex.quote(json.dumps(merged, sort_keys=True))
        command += " --params " + document.replace("{", "{{").replace("}", "}}")
    products = spec.outputs(typed)
    outputs = [root.relpath(name, fmt) for name, fmt in products] + [root.layout.catalog]
    inputs = []
    for name in spec.inputs(typed):
        meta = root.registered(name)
        if meta is not None and meta.get("path"):  # built in this store root: a path datalad can track
            inputs.append(meta["path"])
        elif meta is not None and meta.get("remote"):  # a remote entry's verified download(s)
            for local in remote.local_paths(root.path / root.layout.downloads, name, meta["remote"]):
                if local.exists():
                    inputs.append(str(local.relative_to(root.path)))
    root.run_recorded(command, outputs, message=f"build {spec.name}", inputs=inputs)
    return {name: root.metadata(name) for name, _ in products}


def _build_checked(recipe: str, home: str | Path | None, **params: Any) -> dict[str, dict[str, Any]]:
    """:func:`build` after the recipe's ``check`` (which refuses bad input before anything runs)."""
    spec = get_recipe(recipe)
    return build(spec.name, home=home, **recipes.as_dict(spec.check(spec.resolve(params), _root(home))))


def ensure(recipe: str, home: str | Path | None = None, **params: Any) -> dict[str, Any]:
    """The stores of ``recipe`` with ``params``, built only when they are not there yet.

    Runs the recipe's ``check``; a content-addressed recipe (``Recipe.cached``) whose every output is
    registered with matching content is not run again (``{"cached": True, "stores": {...}}``); otherwise
    the recipe is built (``{"cached": False, "stores": {...}}``)."""
    spec = get_recipe(recipe)
    root = _root(home)
    typed = spec.check(spec.resolve(params), root)
    names = [name for name, _ in spec.outputs(typed)]
    if spec.cached is not None:
        registered = {name: root.registered(name) for name in names}
        if all(meta is not None and spec.cached(typed, meta) for meta in registered.values()):
            return {"cached": True, "stores": registered}
    return {"cached": False, "stores": build(spec.name, home=home, **recipes.as_dict(typed))}


def produce(recipe: str, home: str | Path | None = None, **params: Any) -> dict[str, dict[str, Any]]:
    """Run a recipe and write its stores without saving (the step ``datalad run`` records).

    ``home`` resolves like every command's (``--home``, else ``$GOALSTORE_HOME``, else
    ``~/.goalstore``; recorded commands pass ``--home .``) and must already be a store root: this
    step never creates one.
    """
    spec = get_recipe(recipe)
    root = StoreRoot(home, create=False)
    products = spec.produce(root, spec.resolve(params))
    return {name: root.write(name, p.obj, kind=p.kind, fmt=p.fmt, save=False,
                             adopt=None if p.adopt is None else Path(p.adopt))
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


def analyze(name: str, home: str | Path | None = None, out: str | Path | None = None,
            **params: Any) -> dict[str, Any]:
    """Run analysis ``name`` (``goalstore analyze NAME``: a recipe with an analysis, e.g. ``consistency``)
    with ``params`` (its declared parameters; defaults for the rest) into its versioned result
    store(s) through ``datalad run``; returns its report, and writes PNG figures into ``out``.

    Bad input is refused before anything runs (the recipe's ``check``)."""
    spec = recipes.get_analysis(name)
    root = _root(home)
    typed = spec.check(spec.resolve(params), root)
    for required, required_params in spec.requires(typed, root):  # e.g. extracted activations
        ensure(required, home=home, **required_params)
    built = build(spec.name, home=home, **recipes.as_dict(typed))
    return spec.analysis.report(built, root, out, typed)


def analyze_synapses(cell_type: str = "all", n_bootstrap: int = 30, seed: int = 0,
                     out: str | Path | None = None, home: str | Path | None = None) -> dict[str, Any]:
    """Fit the Markov chain and Kesten process per cell type (Melander et al. 2021 data).

    The fits run through ``datalad run`` (recipe ``synapse-dynamics``) into the
    versioned result stores ``synapse-dynamics-{pyr,pv}``; the summary of each is
    returned, and with ``out`` the PNG figures are written there.
    """
    return analyze("synapse-dynamics", home, out, cell_types=cell_type, n_bootstrap=n_bootstrap, seed=seed)


def build_lr_corpus(preset: str = "tiny", device: str = "cpu", workers: int = 1, scheduler: str = "",
                    home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Train the learning-rule grid ``preset`` (``tiny``, ``paper`` or a grid file) and store the
    corpus (observables and runs tables) through ``datalad run``; resumes an interrupted sweep."""
    return _build_checked("lr-corpus", home, preset=preset, device=device, workers=workers,
                          scheduler=scheduler or "")


def import_lr_identify(path: str | Path, trust_pickle: bool = False, name: str = "lr-corpus-lr-identify",
                       home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Import a corpus in the published lr-identify ``dataset.pkl`` layout as stores ``name``
    (the long ``lr_observables`` table) and ``name-view`` (its classifier view), through
    ``datalad run``.  Several corpora can live side by side under different names.

    The pickle is read and checked here first (observable names, shapes, ``X_cat``), so a bad
    file is refused with its own error and exit code before anything runs.
    """
    return _build_checked("lr-identify", home, path=str(path), trust_pickle=trust_pickle, name=name)


def import_stimuli(path: str | Path, name: str = "", source: str = "", csv: str | Path | None = None,
                   size: int | None = None, subset: str = "train",
                   home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Import a stimulus set as a ``stimuli`` store through ``datalad run``: a folder of image files
    (``source="folder"``), an ImageNet-style tree of class folders (``"class-folders"``: category = the
    folder's name), binary CIFAR-10 (``"cifar10"``, ``subset`` train, test or all), a brainio stimulus set
    (its ``.zip``, the CSV beside it or ``csv``) or a ``.npy`` array of uint8 images (``source`` defaults
    from ``path``).  ``name`` defaults to ``stimuli-<stem>``; ``size`` resizes every image to size × size.

    The source is read and checked first (every image's header, the CSV, the ids), so bad input is
    refused (:class:`~goalstore.errors.SchemaError`, exit 3) before anything runs, nothing stored changed.
    """
    return _build_checked("import-stimuli", home, path=str(path), name=name, source=source,
                          csv=str(csv) if csv else "", size=size or 0, subset=subset)


def import_rate_maps(path: str | Path, name: str = "", box_size_cm: float = 100.0,
                     home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Import recorded rate maps as a rate-map ``recording`` store (unit × x × y, the layout of
    ``demo-rate-maps``) through ``datalad run``: an ``.npz`` with ``firing_maps`` (cell × x × y, Hz, NaN =
    unvisited; optional ``cluster_id``, ``session_id``) of a square box ``box_size_cm`` on a side.
    ``name`` defaults to ``rate-maps-<stem>``; the provenance records the file's name and sha256.

    The file is read and checked first, so a missing file or a bad array is refused
    (:class:`~goalstore.errors.SchemaError`, exit 3) before anything runs, nothing stored changed.
    """
    return _build_checked("import-rate-maps", home, path=str(path), name=name, box_size_cm=float(box_size_cm))


def import_model(architecture: str, weights: str | Path, name: str | None = None,
                 args: dict[str, Any] | None = None, input_shape: Any = None, input_mean: Any = None,
                 input_std: Any = None, license: str = "unspecified", citation: str = "unspecified",
                 home: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Register the weights in the ``.safetensors`` file ``weights`` as model store ``name`` (default:
    the file's name without suffix) of ``architecture`` built with ``args``, through ``datalad run``.

    ``input_shape`` (C, H, W; default from ``args``), ``input_mean`` / ``input_std`` (per channel;
    default 0.5 / 0.25) record how images are preprocessed for it
    (:mod:`goalstore.activations.preprocess`).  A pickle (``.pt``, ``.pth``, ``.pkl``, ``.ckpt`` …) is
    refused unread, and weights that do not fit the architecture are refused naming the first
    mismatching tensor (:class:`~goalstore.errors.SchemaError`), before anything is stored."""
    def text(values: Any) -> str:
        if values is None:
            return ""
        return values if isinstance(values, str) else ",".join(str(v) for v in values)

    return _build_checked("model-import", home, architecture=architecture, weights=str(weights),
                          name=name or "", args=json.dumps(args or {}, sort_keys=True),
                          input_shape=text(input_shape), input_mean=text(input_mean), input_std=text(input_std),
                          license=license, citation=citation)


def lr_classifier_view(name: str, home: str | Path | None = None, statistics: Any = "finite") -> Any:
    """Classifier view (examples = run × layer, features = statistic × checkpoint) of corpus ``name``.

    ``statistics="finite"`` keeps the 24 statistics that stay finite; ``None`` keeps all.
    """
    return entries.classifier_view(name, _root(home), statistics)


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
    return analyze("lr-identification", home, out, corpus=corpus, classifiers=classifiers,
                   observables=observables, holdouts=holdouts, periods=periods, n_samples=n_samples, fast=fast,
                   seed=seed, workers=workers, scheduler=scheduler or "", fractions=fractions, noise=noise,
                   n_splits=n_splits, cv=cv, relative_noise=relative_noise)


def analyze_consistency(recording: str, mappings: str = "ridge", pooled: bool = False, n_splits: int = 10,
                        n_draws: int = 100, model: str = "", temporal: str = "per_bin",
                        train_fraction: float = 0.5, stratify: str = "", seed: int = 0,
                        out: str | Path | None = None,
                        home: str | Path | None = None) -> dict[str, Any]:
    """Noise-corrected inter-animal consistency of ``recording`` (and predictivity of the activations
    store ``model`` per layer) into the versioned result store ``consistency-<recording>[-<model>]``
    through ``datalad run``; returns the summary and writes PNG figures into ``out``."""
    return analyze("consistency", home, out, recording=recording, mappings=mappings, pooled=pooled,
                   n_splits=n_splits, n_draws=n_draws, model=model or "", temporal=temporal,
                   train_fraction=train_fraction, stratify=stratify or "", seed=seed)


def analyze_spatial(maps: str, field_threshold: float = 0.3, min_field_bins: int = 8,
                    out: str | Path | None = None, home: str | Path | None = None, n_shuffles: int = 100,
                    seed: int = 0) -> dict[str, Any]:
    """Grid and border scores of every cell of the rate-map store ``maps`` into the versioned
    result store ``spatial-scores-<maps>`` (through ``datalad run``); returns per-cell scores and
    writes the score distributions as PNG into ``out``.  With ``n_shuffles`` ≥ 1 (default 100;
    0 = thresholds only) each cell is also tested against ``n_shuffles`` shuffled copies of its
    map (seeded by ``seed``): per cell ``grid_threshold``, ``grid_p``, ``border_threshold``,
    ``border_p``."""
    return analyze("spatial-scores", home, out, maps=maps, field_threshold=field_threshold,
                   min_field_bins=min_field_bins, n_shuffles=n_shuffles, seed=seed)
