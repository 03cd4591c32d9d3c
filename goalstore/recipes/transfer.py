"""Transfer read-outs of a model (``goalstore analyze transfer MODEL [--stimuli S]``, thesis §3.4.3).

``MODEL`` is an ``activations`` store (used as it is) or a ``model`` store, which the ``extract``
recipe first runs on the stimulus set (content-addressed: an extraction already made is reused).
Each layer's features are then read out, on held-out images, for the stimulus variables ``--targets``
(default the embedded set's category, rotation, position and size) by cross-validated linear
decoders (:mod:`goalstore.analyses.transfer`), into one result store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.analyses.transfer import DEFAULT_TARGETS, TEMPORAL_MODES
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

#: the stimulus set a model store is extracted on when ``--stimuli`` is not given
DEFAULT_STIMULI = "embedded-objects"


@dataclass(frozen=True)
class Transfer:
    model: str = param("", positional=True, help="an activations store, or a model store (then extracted on "
                                                 "--stimuli first)")
    stimuli: str = param("", help="stimuli store whose coordinates are decoded (default: an activations "
                                  "store's stimuli attr, else its own coordinates; for a model store "
                                  f"{DEFAULT_STIMULI})")
    targets: str = param(",".join(DEFAULT_TARGETS), help="comma-separated stimulus coordinates to decode")
    layers: str = param("", help="comma-separated layers (default: all)")
    n_splits: int = param(10, flag="--splits", help="seeded train/test splits of the stimuli (default 10)")
    test_fraction: float = param(0.25, help="fraction of each category's stimuli held out (default 0.25)")
    stratify: str = param("category", help="stimulus coordinate the splits are stratified by ('none': "
                                           "no stratification)")
    temporal: str = param("mean", choices=list(TEMPORAL_MODES),
                          help="over time bins: decode the mean, or each bin (activations over time bins "
                               "only; default mean)")
    reduce: str = param("", help="pca:K: each layer reduced to K principal components fitted on each "
                                 "split's training stimuli (default: none)")
    device: str = param("", help="device of the extraction of a model store: auto, cpu or cuda")
    seed: int = param(0)


def target_names(p: Transfer) -> list[str]:
    return comma_list(p.targets)


def layer_names(p: Transfer) -> list[str]:
    return comma_list(p.layers)


def n_components(p: Transfer) -> int:
    """K of ``--reduce pca:K`` (0: no reduction)."""
    text = p.reduce.strip().lower()
    if text in ("", "none"):
        return 0
    method, _, k = text.partition(":")
    if method != "pca" or not k.isdigit() or int(k) < 1:
        raise AnalysisInputError(f"reduce {p.reduce!r}: expected none or pca:K with K ≥ 1")
    return int(k)


def stratify(p: Transfer) -> str | None:
    return None if p.stratify.strip().lower() in ("", "none") else p.stratify.strip()


def store_name(p: Transfer) -> str:
    """``transfer-<model>-<hash>``: a short hash of the parameters."""
    config = dataclasses.asdict(p)
    config.pop("device")  # where the extraction runs does not change the result
    return hashed_name(f"transfer-{p.model}", config)


def _kind(p: Transfer, root: Any) -> str:
    from goalstore import entries

    return str(entries.describe(p.model, root).get("kind"))


def _extraction_options(p: Transfer) -> dict[str, Any]:
    from goalstore.recipes.extract import given_options

    return given_options(p, ("layers", "device"))


def check(p: Transfer, root: Any) -> Transfer:
    """Refuse bad input before anything runs; returns the parameters with the stimulus set resolved."""
    import numpy as np

    from goalstore import entries
    from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits
    from goalstore.analyses.transfer import aligned_stimuli, layer_order, readout_targets
    from goalstore.recipes.extract import is_recurrent

    targets = target_names(p)
    if not targets:
        raise AnalysisInputError("targets: none given; pass --targets COORD1,COORD2 (stimulus coordinates)")
    refuse_repeats(targets, "targets")
    n_components(p)
    if not 0.0 < p.test_fraction < 1.0:
        raise AnalysisInputError(f"--test-fraction {p.test_fraction}: expected a fraction in (0, 1)")
    scheme = SplitScheme(p.n_splits, 1.0 - p.test_fraction, stratify(p), p.seed)
    if not p.model:
        raise AnalysisInputError("model: none given; pass MODEL (a model or activations store)")
    kind = _kind(p, root)  # an unknown entry: EntryNotFoundError, with close names
    if kind not in ("model", "activations"):
        raise AnalysisInputError(f"entry {p.model!r} is a {kind!r} entry; expected model or activations")
    check_entry(p.model, kind, root)
    act = entries.open(p.model, root) if kind == "activations" else None
    if act is not None:
        if "activation" not in act.data_vars:
            raise AnalysisInputError(f"activation store {p.model!r}: no variable 'activation'")
        try:
            have = layer_order(act)
        except AnalysisInputError:
            raise AnalysisInputError(f"activation store {p.model!r}: coordinate 'layer' missing on its units") \
                from None
        unknown = [layer for layer in layer_names(p) if layer not in have]
        if unknown:
            raise AnalysisInputError(f"layers: {', '.join(unknown)} not in activation store {p.model!r} "
                                     f"(have {', '.join(have)})")
    timed = "time_bin" in act.dims if act is not None else is_recurrent(p.model, root)
    if p.temporal == "per_bin" and not timed:
        raise AnalysisInputError(f"--temporal per_bin: {p.model!r} has no time bins (a feed-forward model's "
                                 "layers fire once); use --temporal mean")
    stimuli = p.stimuli or (str(act.attrs.get("stimuli", "")) if act is not None else DEFAULT_STIMULI)
    if stimuli:
        check_entry(stimuli, "stimuli", root)
        where = f"stimuli {stimuli!r}"
        coords = entries.open(stimuli, root)
        if act is not None:  # the activations' stimuli, in their order
            coords = aligned_stimuli(act, coords, where)
    else:
        coords, where = act, f"activation store {p.model!r}"
    readout_targets(coords, targets, where)
    labels = None
    if stratify(p):
        if stratify(p) not in coords.coords or coords[stratify(p)].dims != ("stimulus",):
            raise AnalysisInputError(f"{where}: no stimulus coordinate {stratify(p)!r} to stratify the splits "
                                     "by; pass --stratify COORD or none")
        labels = np.asarray(coords[stratify(p)].values).astype(str)
    stimulus_splits(coords.sizes["stimulus"], scheme, labels)  # refuses too few stimuli for a split
    return dataclasses.replace(p, stimuli=stimuli)


def requires(p: Transfer, root: Any) -> list[tuple[str, dict[str, Any]]]:
    """The ``extract`` of a model store on the stimulus set (built, or found cached, first)."""
    from goalstore.recipes.extract import extraction_params

    if _kind(p, root) != "model":
        return []
    return [("extract", extraction_params(root, p.model, p.stimuli, **_extraction_options(p))[0])]


def produce(root: Any, p: Transfer) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.analyses.transfer import transfer_readouts
    from goalstore.recipes.extract import extraction_params

    kind = _kind(p, root)
    store = (extraction_params(root, p.model, p.stimuli, **_extraction_options(p))[1] if kind == "model"
             else p.model)
    act = entries.open(store, root)
    stimuli = entries.open(p.stimuli, root) if p.stimuli else None
    result = transfer_readouts(act, stimuli, target_names(p), layer_names(p) or None, p.n_splits,
                               p.test_fraction, stratify(p), p.seed, n_components(p), p.temporal)
    a = act.attrs
    result.attrs.update({
        "kind": "result", "species": str(a.get("species", "model")), "modality": "transfer read-outs",
        "source": "goalstore.analyses.transfer", "license": str(a.get("license", "unknown")),
        "citation": str(a.get("citation", "unknown")), "schema_version": a.get("schema_version", ""),
        "model": p.model if kind == "model" else str(a.get("model", "")), "activation_store": store,
        "stimuli": p.stimuli, "targets": target_names(p), "layers_requested": p.layers, "reduce": p.reduce,
        "extraction_key": str(a.get("extraction_key", "")), "goalstore_version": __version__})
    return {store_name(p): Product(result, "result")}


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None, p: Transfer) -> dict[str, Any]:
    from goalstore.analyses.transfer import summary
    from goalstore.figures.transfer import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: Transfer) -> str:
    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    targets = report["targets"]
    bins = report["time_bins_ms"]
    stimuli = report["config"].get("stimuli") or "its own coordinates"
    lines = [f"Transfer read-outs of {p.model} (stimuli {stimuli}; "
             f"{report['config'].get('n_splits')} splits, held-out images; mean ± s.e.m. over splits"
             + (f", averaged over {len(bins)} time bins" if len(bins) > 1 else "") + ")"]
    header = {name: f"{name} ({t['metric']})" for name, t in targets.items()}
    rows = [{"layer": layer, **{header[name]: f"{fmt(t['layers'][i]['score'])} ± {fmt(t['layers'][i]['sem'])}"
                                for name, t in targets.items()}}
            for i, layer in enumerate(report["layers"])]
    rows.append({"layer": "chance", **{header[name]: fmt(t["chance"]) for name, t in targets.items()}})
    rows.append({"layer": "best layer", **{header[name]: t["best_layer"] for name, t in targets.items()}})
    lines.append(table(rows, ["layer", *header.values()]))
    return "\n".join([*lines, *result_lines(report)])


RECIPES = [
    Recipe("transfer", produce, outputs=lambda p: [(store_name(p), "zarr")],
           inputs=lambda p: [p.model, *([p.stimuli] if p.stimuli else [])],
           parameters=Transfer, check=check, requires=requires, build_check=True,
           description="transfer read-outs: cross-validated linear decoding of category, pose, position and "
                       "size from each layer of a model (held-out images)",
           analysis=Analysis(help="linear read-outs of stimulus category, pose, position and size from each "
                                  "layer of a model (transfer, thesis §3.4.3)",
                             out="goalstore-out/transfer", report=report, render=render)),
]
