"""Noise-corrected inter-animal consistency and model predictivity (``goalstore analyze consistency``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError
from goalstore.recipes import Analysis, Product, Recipe, check_entry, param, result_lines, result_report, table


@dataclass(frozen=True)
class Consistency:
    recording: str = param("demo-recording", positional=True, help="a recording store, e.g. demo-recording")
    mappings: str = param("ridge", flag="--mapping",
                          help="one_to_one, ridge, lasso, elasticnet, pls, rsa, or a comma-separated list "
                               "(default ridge)")
    pooled: bool = param(False, help="pool all other animals into one source animal")
    n_splits: int = param(10, flag="--splits", help="train/test stimulus splits (default 10)")
    n_draws: int = param(100, flag="--bootstrap", help="split-half draws of the trials (default 100)")
    model: str = param("", help="an activations store: also score the model's layers")
    temporal: str = param("per_bin", choices=["per_bin", "fixed", "both"],
                          help="per-time-bin or temporally fixed mapping (default per_bin)")
    train_fraction: float = param(0.5, help="fraction of stimuli to train on")
    stratify: str = param("", help="stimulus coordinate to stratify splits by (e.g. category)")
    seed: int = param(0)
    workers: int = param(1, help="local dask.distributed workers: draws × mapping problems spread over them "
                                 "(not part of the result's identity)")
    scheduler: str = param("", help="address of an existing dask.distributed scheduler, e.g. tcp://HEAD:8786 "
                                    "(not part of the result's identity)")


def store_name(recording: str, model: str = "", pooled: bool = False) -> str:
    return f"consistency-{recording}" + (f"-{model}" if model else "") + ("-pooled" if pooled else "")


def _modes(temporal: str) -> tuple[str, ...]:
    return ("per_bin", "fixed") if temporal == "both" else tuple(t for t in temporal.split(",") if t)


def check(p: Consistency, root: Any) -> Consistency:
    from goalstore.analyses.consistency import TEMPORAL_MODES
    from goalstore.analyses.mappings import make_mapping, mapping_name
    from goalstore.analyses.stimulus_splits import SplitScheme

    for name in (m for m in p.mappings.split(",") if m):  # refuse bad input before anything runs
        if mapping_name(name) != "rsa":
            make_mapping(name)
    for mode in (("per_bin", "fixed") if p.temporal == "both" else tuple(p.temporal.split(","))):
        if mode not in TEMPORAL_MODES:
            raise AnalysisInputError(f"temporal {mode!r}: unknown; expected per_bin, fixed or both")
    SplitScheme(p.n_splits, p.train_fraction, p.stratify or None, p.seed)
    if p.n_draws < 1:
        raise AnalysisInputError(f"n_draws must be at least 1; got {p.n_draws}")
    if p.workers < 1:
        raise AnalysisInputError(f"--workers {p.workers}: expected at least 1")
    for store, kind in ((p.recording, "recording"), (p.model, "activations")):
        if store:
            check_entry(store, kind, root)
    return p


def produce(root: Any, p: Consistency) -> dict[str, Product]:
    from builders.dask_client import dask_client
    from goalstore import entries
    from goalstore.analyses.consistency import consistency_analysis
    from goalstore.analyses.stimulus_splits import SplitScheme

    data = entries.open(p.recording, root)
    activations = entries.open(p.model, root) if p.model else None
    scheme = SplitScheme(p.n_splits, p.train_fraction, p.stratify or None, p.seed)
    with dask_client(p.workers, p.scheduler or None) as executor:
        result = consistency_analysis(data, tuple(m for m in p.mappings.split(",") if m), p.pooled, scheme,
                                      p.n_draws, p.seed, _modes(p.temporal), activations, progress=True,
                                      executor=executor)
    result.attrs.update({k: str(data.attrs.get(k, "unknown")) for k in ("species", "modality", "license",
                                                                         "citation")})
    result.attrs.update({"recording": p.recording, "model_store": p.model,
                         "kind": "result", "source": "goalstore.analyses.consistency",
                         "schema_version": data.attrs.get("schema_version", ""),
                         "analysis": "inter-animal consistency"
                                     + (" and model predictivity" if p.model else ""),
                         "goalstore_version": __version__})
    return {store_name(p.recording, p.model, p.pooled): Product(result, "result")}


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None,
           p: Consistency) -> dict[str, Any]:
    from goalstore.analyses.consistency import summary
    from goalstore.figures.consistency import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: Consistency) -> str:
    def fmt(values: Any) -> str:
        values = values if isinstance(values, list) else [values]
        finite = [v for v in values if v is not None]
        return f"{sum(finite) / len(finite):.3f}" if finite else "n/a"

    rows = []
    for area, entry in report["areas"].items():
        for mapping, v in entry.get("consistency", {}).items():
            pred = entry.get("predictivity", {}).get(mapping)
            best = pred["layers"][pred["best_layer"]] if pred and pred["best_layer"] else None
            rows.append({"area": area, "mapping": mapping, "units": v["n_units"],
                         "consistency": f"{fmt(v['median'])} ± {fmt(v['sem'])}",
                         "best layer": pred["best_layer"] if best else "",
                         "predictivity": f"{fmt(best['median'])} ± {fmt(best['sem'])}" if best else ""})
        if "rsa" in entry:
            rows.append({"area": area, "mapping": "rsa", "units": "",
                         "consistency": fmt(entry["rsa"]["median"]), "best layer": "", "predictivity": ""})
    bins = report["time_bins_ms"]
    return "\n".join([f"Noise-corrected consistency of {p.recording} (median ± s.e.m. over target units"
                      + (f", averaged over {len(bins)} time bins" if bins and len(bins) > 1 else "") + ")",
                      table(rows, ["area", "mapping", "units", "consistency", "best layer", "predictivity"]),
                      *result_lines(report)])


RECIPES = [
    Recipe("consistency", produce,
           outputs=lambda p: [(store_name(p.recording, p.model, p.pooled), "zarr")],
           inputs=lambda p: [p.recording] + ([p.model] if p.model else []),
           parameters=Consistency, check=check, exclusive=("workers", "scheduler"),
           description="noise-corrected inter-animal consistency (and model predictivity per layer)",
           analysis=Analysis(help="noise-corrected inter-animal consistency and model predictivity",
                             out="goalstore-out/consistency", report=report, render=render)),
]
