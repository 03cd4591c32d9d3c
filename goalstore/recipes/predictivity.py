"""Model-vs-brain leaderboard (``goalstore analyze predictivity RECORDING --models M1,M2``).

Each model store is run on the recording's stimulus set by the ``extract`` recipe (content-addressed:
an extraction already made is reused; a recurrent model's steps aligned to the recording's time bins,
``--align``), then every model's layers are scored against the recording
with noise-corrected predictivity and ranked per area by the fraction of the inter-animal ceiling
(:mod:`goalstore.analyses.predictivity`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
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
class Predictivity:
    recording: str = param("demo-objects-recording", positional=True,
                           help="a recording store, e.g. demo-objects-recording")
    models: str = param("", flag="--models", help="comma-separated model stores to rank")
    stimuli: str = param("", help="the stimuli store the recording shows (default: the recording's "
                                  "stimulus_set attr)")
    mapping: str = param("ridge", help="one_to_one, ridge, lasso, elasticnet or pls (default ridge)")
    temporal: str = param("per_bin", choices=["per_bin", "fixed"],
                          help="per-time-bin or temporally fixed mapping (default per_bin)")
    pooled: bool = param(False, help="ceiling: pool all other animals into one source animal")
    n_splits: int = param(10, flag="--splits", help="train/test stimulus splits (default 10)")
    n_draws: int = param(100, flag="--bootstrap", help="split-half draws of the trials (default 100)")
    train_fraction: float = param(0.5, help="fraction of stimuli to train on")
    stratify: str = param("", help="stimulus coordinate to stratify splits by (e.g. category)")
    layers: str = param("", help="comma-separated layers to extract (default: the extractor's)")
    reduce: str = param("", help="extraction reduction, e.g. pca:256 (default: the extractor's)")
    pca_fit: str = param("", help="stimuli store the extraction's PCA is fitted on (default: the extractor's, "
                                  "embedded-objects); pass a set other than the recording's")
    device: str = param("", help="device of the extractions: auto, cpu or cuda (default: the extractor's)")
    workers: int = param(0, help="local dask.distributed workers of the extractions (stimulus shards) and of "
                                 "the scores (draws × layers); not part of the result's identity")
    scheduler: str = param("", help="address of a dask.distributed scheduler for the extractions and the "
                                    "scores, e.g. tcp://HEAD:8786")
    seed: int = param(0)


def model_names(p: Predictivity) -> list[str]:
    return comma_list(p.models)


def store_name(p: Predictivity) -> str:
    """``predictivity-<recording>-<hash>``: a short hash of the sorted models and the other parameters."""
    config = {**dataclasses.asdict(p), "models": sorted(model_names(p))}
    for how in ("device", "workers", "scheduler"):  # how the extractions run does not change the result
        config.pop(how)
    return hashed_name(f"predictivity-{p.recording}", config)


def _extraction_options(p: Predictivity, model: str, root: Any) -> dict[str, Any]:
    """The options of ``model``'s extraction: what they extract (in its key) and how (not in it); a
    recurrent model's steps aligned to the recording's time bins (:func:`~goalstore.recipes.extract.
    aligned_options`)."""
    from goalstore.recipes.extract import aligned_options, given_options

    return {**given_options(p, ("layers", "reduce", "pca_fit", "device", "workers", "scheduler")),
            **aligned_options(model, p.recording, root)}


def _stimulus_set(p: Predictivity, recording: Any) -> str:
    name = p.stimuli or str(recording.attrs.get("stimulus_set", ""))
    if not name:
        raise AnalysisInputError(f"recording {p.recording!r}: no stimulus_set attr names the images it shows; "
                                 "pass --stimuli STORE")
    return name


def check(p: Predictivity, root: Any) -> Predictivity:
    """Refuse bad input before anything runs; returns the parameters with the stimulus set resolved."""
    import numpy as np

    from goalstore import entries
    from goalstore.analyses.consistency import TEMPORAL_MODES
    from goalstore.analyses.mappings import make_mapping, mapping_name
    from goalstore.analyses.stimulus_splits import SplitScheme

    if mapping_name(p.mapping) == "rsa" or "," in p.mapping:
        raise AnalysisInputError(f"mapping {p.mapping!r}: the leaderboard takes one regression mapping "
                                 "(one_to_one, ridge, lasso, elasticnet or pls)")
    make_mapping(p.mapping)
    if p.temporal not in TEMPORAL_MODES:
        raise AnalysisInputError(f"temporal {p.temporal!r}: unknown; expected {' or '.join(TEMPORAL_MODES)}")
    SplitScheme(p.n_splits, p.train_fraction, p.stratify or None, p.seed)
    if p.n_draws < 1:
        raise AnalysisInputError(f"n_draws must be at least 1; got {p.n_draws}")
    if p.workers < 0:
        raise AnalysisInputError(f"--workers {p.workers}: expected at least 1")
    models = model_names(p)
    if not models:
        raise AnalysisInputError("models: none given; pass --models M1,M2,… (model stores)")
    refuse_repeats(models, "models")
    check_entry(p.recording, "recording", root)
    for model in models:
        check_entry(model, "model", root)
    recording = entries.open(p.recording, root)
    stimuli = _stimulus_set(p, recording)
    check_entry(stimuli, "stimuli", root)
    shown = np.asarray(recording["stimulus_id"].values).astype(str)
    have = np.asarray(entries.open(stimuli, root)["stimulus_id"].values).astype(str)
    missing = shown[~np.isin(shown, have)]
    if missing.size:
        raise AnalysisInputError(
            f"recording {p.recording!r}: {missing.size} of {shown.size} stimulus ids are missing from the "
            f"stimulus set {stimuli!r} (first: {', '.join(missing[:5])})")
    return dataclasses.replace(p, stimuli=stimuli)


def requires(p: Predictivity, root: Any) -> list[tuple[str, dict[str, Any]]]:
    """One ``extract`` of each model on the stimulus set (built, or found cached, before the analysis)."""
    from goalstore.recipes.extract import extraction_params

    return [("extract", extraction_params(root, model, p.stimuli, **_extraction_options(p, model, root))[0])
            for model in model_names(p)]


def produce(root: Any, p: Predictivity) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.recipes.extract import extraction_params

    stimuli = p.stimuli or _stimulus_set(p, entries.open(p.recording, root))  # resolved by check
    stores = {model: extraction_params(root, model, stimuli, **_extraction_options(p, model, root))[1]
              for model in model_names(p)}
    hashes = {model: str(entries.describe(model, root).get("weights_hash", "")) for model in stores}
    return {store_name(p): Product(leaderboard(root, p, stimuli, stores, hashes), "result")}


def leaderboard(root: Any, p: Predictivity, stimuli: str, stores: dict[str, str],
                weights_hashes: dict[str, str] | None = None) -> Any:
    """The leaderboard of ``p.recording`` against the activation stores ``{model: store name}``: each
    store opened lazily and narrowed to the recording's stimuli (in its order), its store name (and the
    model's weights hash where the store does not record one) put into its attrs for the result."""
    import numpy as np
    import pandas as pd

    from builders.dask_client import dask_client
    from goalstore import entries
    from goalstore.analyses.predictivity import predictivity_leaderboard
    from goalstore.analyses.stimulus_splits import SplitScheme

    data = entries.open(p.recording, root)
    ids = np.asarray(data["stimulus_id"].values).astype(str)
    activations = {}
    for model, store in stores.items():
        act = entries.open(store, root)
        index = pd.Index(np.asarray(act["stimulus_id"].values).astype(str)).get_indexer(ids)
        if (index < 0).any():
            raise AnalysisInputError(f"activation store {store!r}: {(index < 0).sum()} of the recording's "
                                     f"stimuli are missing (first: {', '.join(ids[index < 0][:5])})")
        act = act.isel(stimulus=index)  # the recording's stimuli, in its order (read lazily)
        act.attrs["activation_store"] = store
        if not act.attrs.get("weights_hash") and (weights_hashes or {}).get(model):
            act.attrs["weights_hash"] = weights_hashes[model]
        activations[model] = act
    scheme = SplitScheme(p.n_splits, p.train_fraction, p.stratify or None, p.seed)
    with dask_client(p.workers, p.scheduler or None) as executor:
        result = predictivity_leaderboard(data, activations, p.mapping, scheme, p.n_draws, p.seed, p.temporal,
                                          p.pooled, progress=True, executor=executor)
    result.attrs.update({k: str(data.attrs.get(k, "unknown")) for k in ("species", "modality", "license",
                                                                         "citation")})
    result.attrs.update({"recording": p.recording, "stimuli": stimuli, "kind": "result",
                         "source": "goalstore.analyses.predictivity",
                         "schema_version": data.attrs.get("schema_version", ""),
                         "layers_requested": p.layers, "reduce": p.reduce,
                         "goalstore_version": __version__})
    return result


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None,
           p: Predictivity) -> dict[str, Any]:
    from goalstore.analyses.predictivity import summary
    from goalstore.figures.predictivity import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: Predictivity) -> str:
    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    bins = report["time_bins_ms"]
    lines = [f"Model-vs-brain leaderboard on {p.recording} (stimuli {report['config'].get('stimuli')}; "
             "median over units" + (f", averaged over {len(bins)} time bins" if bins and len(bins) > 1 else "")
             + ")"]
    for area, entry in report["areas"].items():
        ceiling = entry["ceiling"]
        lines.append(f"\n{area}: inter-animal ceiling {fmt(ceiling['median'])} ± {fmt(ceiling['sem'])}")
        rows = [{"rank": r["rank"], "model": r["model"], "best layer": r["best_layer"],
                 "predictivity": f"{fmt(r['predictivity'])} ± {fmt(r['sem'])}",
                 "ceiling": fmt(ceiling["median"]), "fraction of ceiling": fmt(r["fraction_of_ceiling"])}
                for r in entry["ranking"]]
        lines.append(table(rows, ["rank", "model", "best layer", "predictivity", "ceiling",
                                  "fraction of ceiling"]))
    return "\n".join([*lines, "", *result_lines(report)])


RECIPES = [
    Recipe("predictivity", produce, outputs=lambda p: [(store_name(p), "zarr")],
           inputs=lambda p: [p.recording, *model_names(p), *([p.stimuli] if p.stimuli else [])],
           parameters=Predictivity, check=check, requires=requires, build_check=True,
           exclusive=("workers", "scheduler"),
           description="model-vs-brain leaderboard: noise-corrected predictivity per layer of each model, "
                       "best layer per area, fraction of the inter-animal ceiling",
           analysis=Analysis(help="rank models by noise-corrected predictivity against a recording "
                                  "(fraction of the inter-animal ceiling)",
                             out="goalstore-out/predictivity", report=report, render=render)),
]
