"""Object solution times of models against a recording (``goalstore analyze ost RECORDING --model M``).

Each ``--model`` is an ``activations`` store (used as it is) or a ``model`` store (then run on the
recording's stimulus set by the ``extract`` recipe; content-addressed, so an extraction already made is
reused).  A recurrent model's steps are aligned to the recording's time bins (``extract --align``: its
deepest layer's first response on the first bin, one step per bin).  A feed-forward model (activations
without ``time_bin``) gets its times from ``--time-mapping``: its IT-preferred layers, in network order,
spread over the recording's bins ``uniform``-ly or ``graded`` (:mod:`goalstore.activations.time_mapping`;
three layers unless ``--layers-kept`` says otherwise: with one, every bin would show the same layer).
The model's IT-preferred layers are chosen by PLS predictivity, its OSTs and the recording's are decoded
with a linear SVM, and the OST consistency, its bootstrap error and the size-vs-performance table
(parameters, units, task accuracy from the model store's catalog metadata) go into one result store
(:mod:`goalstore.analyses.ost`).

The behavioural I1 (each image's threshold, notes §2) is a stimulus coordinate of the recording
(``--behaviour``, default ``behaviour_i1``): the notes define it from the primate's behaviour, which the
recording cannot give; a number instead sets one fixed threshold for every image (for recordings
without behaviour; the result says so).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.activations.time_mapping import MAPPINGS
from goalstore.errors import AnalysisInputError
from goalstore.recipes import (
    Analysis,
    Product,
    Recipe,
    check_entry,
    comma_list,
    hashed_name,
    param,
    refuse_repeats,
    result_lines,
    result_report,
    table,
)


@dataclass(frozen=True)
class Ost:
    recording: str = param("demo-objects-timecourse", positional=True,
                           help="a recording store with time bins, e.g. demo-objects-timecourse")
    model: str = param("", flag="--model", help="comma-separated model stores or activations stores "
                                                "(over time_bin)")
    stimuli: str = param("", help="the stimuli store the recording shows, for extracting model stores "
                                  "(default: the recording's stimulus_set attr)")
    behaviour: str = param("behaviour_i1", help="stimulus coordinate of the recording holding the behavioural "
                                                "I1, or a number: a fixed I1 threshold (default behaviour_i1)")
    labels: str = param("category", help="stimulus coordinate naming each image's object (default category)")
    area: str = param("IT", help="the recorded area (default IT)")
    n_components: int = param(1000, flag="--components",
                              help="PCA components before the SVM (capped by images and units; default 1000)")
    n_splits: int = param(10, flag="--splits", help="train/test splits of the decoder and the layer choice "
                                                    "(default 10)")
    n_layers: int = param(0, flag="--layers-kept",
                          help="IT-preferred layers whose units are decoded (default 0: one for a model over "
                               "time bins, three for a feed-forward model)")
    pls_components: int = param(25, help="PLS components of the layer choice (default 25)")
    n_draws: int = param(20, flag="--draws", help="split-half draws of the layer choice's noise correction")
    n_boot: int = param(1000, flag="--bootstrap", help="bootstrap resamples of the OST consistency")
    time_steps: int = param(0, help="time steps to extract from a recurrent model store (0: as many as "
                                    "aligning to the recording's bins needs)")
    time_mapping: str = param("uniform", choices=list(MAPPINGS[1:]),
                              help="feed-forward models (activations without time bins): how the IT-preferred "
                                   "layers are spread over the recording's bins (default uniform)")
    layers: str = param("", help="comma-separated layers to extract from model stores (default: the "
                                 "extractor's)")
    reduce: str = param("", help="extraction reduction of model stores, e.g. pca:256 (default: the "
                                 "extractor's)")
    pca_fit: str = param("", help="stimuli store the extraction's PCA is fitted on (default: the extractor's)")
    device: str = param("", help="device of the extractions: auto, cpu or cuda (default: the extractor's)")
    seed: int = param(0)


def model_names(p: Ost) -> list[str]:
    return comma_list(p.model)


def store_name(p: Ost) -> str:
    """``ost-<recording>-<hash>``: a short hash of the models (in order) and the other parameters."""
    config = dataclasses.asdict(p)
    config.pop("device")  # where the extractions run does not change the result
    return hashed_name(f"ost-{p.recording}", config)


def _extraction_options(p: Ost, model: str, root: Any) -> dict[str, Any]:
    """``model``'s extraction options; a recurrent model aligned to the recording's bins."""
    from goalstore.recipes.extract import aligned_options, given_options

    return {**given_options(p, ("layers", "reduce", "pca_fit", "device", "time_steps")),
            **aligned_options(model, p.recording, root)}


def _kinds(p: Ost, root: Any) -> dict[str, str]:
    from goalstore import entries

    return {m: str(entries.describe(m, root).get("kind")) for m in model_names(p)}


def check(p: Ost, root: Any) -> Ost:
    """Refuse bad input before anything runs; returns the parameters with the stimulus set resolved
    (model stores only)."""
    import numpy as np

    from goalstore import entries
    from goalstore.analyses.consistency import check_same_bins
    from goalstore.analyses.ost import _fixed_threshold

    for name, value in (("components", p.n_components), ("splits", p.n_splits),
                        ("pls-components", p.pls_components), ("draws", p.n_draws), ("bootstrap", p.n_boot)):
        if value < 1:
            raise AnalysisInputError(f"--{name} {value}: expected at least 1")
    if p.n_layers < 0:
        raise AnalysisInputError(f"--layers-kept {p.n_layers}: expected 0 (automatic) or more")
    if p.time_mapping not in MAPPINGS[1:]:
        raise AnalysisInputError(f"--time-mapping {p.time_mapping!r}: expected {' or '.join(MAPPINGS[1:])}")
    if p.n_splits < 2:
        raise AnalysisInputError(f"--splits {p.n_splits}: expected at least 2")
    if p.time_steps < 0:
        raise AnalysisInputError(f"--time-steps {p.time_steps}: expected 0 (the recording's bins) or more")
    models = model_names(p)
    if not models:
        raise AnalysisInputError("model: none given; pass --model M (a model or activations store)")
    refuse_repeats(models, "model")
    check_entry(p.recording, "recording", root)
    recording = entries.open(p.recording, root)
    if "time_bin" not in recording.dims or recording.sizes["time_bin"] < 2:
        raise AnalysisInputError(f"recording {p.recording!r}: dim 'time_bin' missing or a single bin; object "
                                 "solution times need responses over at least two time bins")
    coords = [p.labels] + ([] if _fixed_threshold(p.behaviour) is not None else [p.behaviour])
    for coord in coords:
        if coord not in recording.coords or recording[coord].dims != ("stimulus",):
            raise AnalysisInputError(
                f"recording {p.recording!r}: coordinate {coord!r} is not on its stimuli"
                + ("; pass --behaviour COORD (the behavioural I1) or a fixed threshold" if coord == p.behaviour
                   else "; pass --labels COORD (each image's object)"))
    areas = set(np.asarray(recording["area"].values).astype(str).tolist())
    if p.area not in areas:
        raise AnalysisInputError(f"recording {p.recording!r}: no unit in area {p.area!r} "
                                 f"(areas {', '.join(sorted(areas))})")
    shown = np.asarray(recording["stimulus_id"].values).astype(str)
    kinds = {}
    for model in models:
        meta = entries.describe(model, root)  # an unknown entry: EntryNotFoundError, with close names
        kinds[model] = str(meta.get("kind"))
        if kinds[model] not in ("model", "activations"):
            raise AnalysisInputError(f"entry {model!r} is a {kinds[model]!r} entry; expected model or "
                                     "activations")
        check_entry(model, kinds[model], root)
        if kinds[model] == "activations":
            act = entries.open(model, root)
            _check_stimuli(shown, act, f"activation store {model!r}")
            if "layer" not in act.coords:
                raise AnalysisInputError(f"activation store {model!r}: coordinate 'layer' missing on its units "
                                         "(the IT-preferred layers are chosen among them)")
            if "time_bin" in act.dims and act.sizes["time_bin"] != recording.sizes["time_bin"]:
                raise AnalysisInputError(f"activation store {model!r}: {act.sizes['time_bin']} time bins, the "
                                         f"recording {recording.sizes['time_bin']}; OSTs need the model over "
                                         "the same time bins (extract it with --align RECORDING)")
            try:
                check_same_bins(recording, act)
            except AnalysisInputError as exc:
                raise AnalysisInputError(f"activation store {model!r}: {exc}") from None
    if "model" not in kinds.values():
        given = [(flag, v) for flag, v in (("--layers", p.layers), ("--reduce", p.reduce),
                                           ("--pca-fit", p.pca_fit), ("--time-steps", p.time_steps)) if v]
        if given:  # it would change nothing: say so rather than ignore it
            flag, value = given[0]
            raise AnalysisInputError(f"{flag} {value}: an extraction option, for model stores; the activations "
                                     f"store(s) {', '.join(models)} are used as they are")
        return p
    stimuli = p.stimuli or str(recording.attrs.get("stimulus_set", ""))
    if not stimuli:
        raise AnalysisInputError(f"recording {p.recording!r}: no stimulus_set attr names the images it shows; "
                                 "pass --stimuli STORE")
    check_entry(stimuli, "stimuli", root)
    _check_stimuli(shown, entries.open(stimuli, root), f"the stimulus set {stimuli!r}")
    return dataclasses.replace(p, stimuli=stimuli)


def _check_stimuli(shown: Any, ds: Any, what: str) -> None:
    import numpy as np

    have = np.asarray(ds["stimulus_id"].values).astype(str)
    missing = shown[~np.isin(shown, have)]
    if missing.size:
        raise AnalysisInputError(f"{what}: {missing.size} of the recording's {shown.size} stimulus ids are "
                                 f"missing (first: {', '.join(missing[:5])})")


def requires(p: Ost, root: Any) -> list[tuple[str, dict[str, Any]]]:
    """One ``extract`` of each model store on the stimulus set (built, or found cached, first)."""
    from goalstore.recipes.extract import extraction_params

    return [("extract", extraction_params(root, model, p.stimuli, **_extraction_options(p, model, root))[0])
            for model, kind in _kinds(p, root).items() if kind == "model"]


def _size_metadata(name: str, kind: str, act: Any, root: Any) -> dict[str, Any]:
    """The catalog metadata of the model behind ``name``: the model store itself, or the one an
    activations store's ``model`` attr names (empty when that is not in the catalog)."""
    from goalstore import entries
    from goalstore.errors import EntryNotFoundError

    model = name if kind == "model" else str(act.attrs.get("model", ""))
    if not model:
        return {}
    try:
        meta = entries.describe(model, root)
    except EntryNotFoundError:
        return {}
    return meta if meta.get("kind") == "model" else {}


def produce(root: Any, p: Ost) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.analyses.ost import ost_model_analysis
    from goalstore.recipes.extract import extraction_params

    data = entries.open(p.recording, root)
    activations, sizes, stores = {}, {}, {}
    for model, kind in _kinds(p, root).items():
        stores[model] = (extraction_params(root, model, p.stimuli, **_extraction_options(p, model, root))[1]
                         if kind == "model" else model)
        activations[model] = entries.open(stores[model], root)
        sizes[model] = _size_metadata(model, kind, activations[model], root)
    result = ost_model_analysis(data, activations, p.labels, p.behaviour, p.area, p.n_components, p.n_splits,
                                p.n_layers, p.pls_components, p.n_draws, p.n_boot, p.seed, sizes,
                                p.time_mapping)
    result.attrs.update({k: str(data.attrs.get(k, "unknown")) for k in ("species", "modality", "license",
                                                                         "citation")})
    result.attrs.update({"recording": p.recording, "stimuli": p.stimuli, "kind": "result",
                         "source": "goalstore.analyses.ost",
                         "schema_version": data.attrs.get("schema_version", ""),
                         "activation_stores": [stores[m] for m in activations],
                         "goalstore_version": __version__})
    return {store_name(p): Product(result, "result")}


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None, p: Ost) -> dict[str, Any]:
    from goalstore.analyses.ost import summary
    from goalstore.figures.ost import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: Ost) -> str:
    def fmt(value: Any, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    def count(value: Any) -> str:
        return "n/a" if value is None else f"{value:,}"

    neural = report["neural"]
    lines = [f"Object solution times on {p.recording} ({report['area']}; {report['n_images']} images, "
             f"{len(report['time_bins_ms'])} time bins; behavioural I1: {report['behaviour']})",
             f"{report['area']} solves {neural['images_solved']} images (median OST "
             f"{fmt(neural['median_ost_ms'], 1)} ms)"]
    rows = [{"model": r["model"], "parameters": count(r["n_parameters"]), "units": count(r["n_units"]),
             "task accuracy": fmt(r["task_accuracy"]),
             "OST consistency": f"{fmt(r['ost_consistency'])} ± {fmt(r['ost_consistency_sem'])}",
             "images solved by both": count(r["n_images_solved_by_both"]),
             "IT-preferred layers": ",".join(r["preferred_layers"])} for r in report["models"]]
    lines.append(table(rows, ["model", "parameters", "units", "task accuracy", "OST consistency",
                              "images solved by both", "IT-preferred layers"]))
    return "\n".join([*lines, *result_lines(report)])


RECIPES = [
    Recipe("ost", produce, outputs=lambda p: [(store_name(p), "zarr")],
           inputs=lambda p: [p.recording, *model_names(p), *([p.stimuli] if p.stimuli else [])],
           parameters=Ost, check=check, requires=requires, build_check=True,
           description="object solution times: models' OSTs (IT-preferred layers, linear SVM) against a "
                       "recording's, OST consistency with bootstrap error, size-vs-performance table",
           analysis=Analysis(help="object solution times of models against a recording (OST consistency, "
                                  "size-vs-performance table)",
                             out="goalstore-out/ost", report=report, render=render)),
]
