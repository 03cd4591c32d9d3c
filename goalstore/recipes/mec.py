"""Path integrators against medial entorhinal cortex (``goalstore analyze mec MODELS… [--recording MAPS]``,
thesis ch. 4).

Each of ``MODELS`` is a ``path-integrator`` model store (its rate maps are made along held-out
trajectories by the ``path-integrator-maps`` recipe first — content-addressed, so maps already made are
reused — and its untrained control joins the table unless ``--no-controls``) or a rate-map recording
store used as it is (e.g. the ``nmf-grid-cells`` control).  The analysis itself is
:mod:`goalstore.analyses.mec_result`; its figures :mod:`goalstore.figures.mec`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.analyses.mec_result import KNOCKOUTS, MecConfig, ModelRow, parse_arenas
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
from goalstore.schema.vocabulary import SCHEMA_VERSION

ARCHITECTURE = "path-integrator"


@dataclass(frozen=True)
class Mec:
    models: str = param("", positional=True, append=True,
                        help="path-integrator model stores and/or rate-map stores (e.g. nmf-grid-cells)")
    recording: str = param("", help="rate-map store of real MEC cells (e.g. from `goalstore import "
                                    "rate-maps`); without it the model-vs-MEC comparison is left out")
    no_controls: bool = param(False, help="leave out the untrained control of each path integrator")
    paths: int = param(2000, help="held-out trajectories the rate maps are made from (default 2000)")
    test_paths: int = param(256, help="held-out trajectories per repeat of decoding and knockouts")
    repeats: int = param(5, help="held-out repeats: the error bars of decoding and knockouts (default 5)")
    knockout_units: int = param(0, help="units silenced per knockout (default 0: a tenth of the hidden units)")
    test_arenas: str = param("square:1.1,circle:2.2,track:2.2",
                             help="generalisation arenas ARENA:SIZE_M, comma-separated ('' for none)")
    mapping: str = param("ridge", help="mapping of the rate-map consistency (default ridge)")
    n_splits: int = param(10, flag="--splits", help="train/test splits of the position bins (default 10)")
    train_fraction: float = param(0.2, help="fraction of position bins the mapping is fitted on (default 0.2)")
    n_bins: int = param(20, help="common bins per side, in box fractions, of the consistency (default 20)")
    shuffles: int = param(20, help="shuffled maps per unit for the grid/border shuffle test (default 20)")
    seed: int = param(0)


def model_names(p: Mec) -> list[str]:
    return comma_list(p.models)


def store_name(p: Mec) -> str:
    """``mec-<first model>-<hash>``: a short hash of the parameters."""
    names = model_names(p)
    return hashed_name(f"mec-{names[0] if names else 'none'}", dataclasses.asdict(p))


def config_of(p: Mec) -> MecConfig:
    return MecConfig(test_paths=p.test_paths, repeats=p.repeats, knockout_units=p.knockout_units,
                     test_arenas=parse_arenas(p.test_arenas), mapping=p.mapping, n_splits=p.n_splits,
                     train_fraction=p.train_fraction, n_bins=p.n_bins, shuffles=p.shuffles, seed=p.seed)


def _kind(name: str, root: Any) -> str:
    from goalstore import entries

    return str(entries.describe(name, root).get("kind"))


def _is_network(name: str, root: Any) -> bool:
    from goalstore import entries

    meta = entries.describe(name, root)
    return meta.get("kind") == "model" and str(meta.get("architecture", "")) == ARCHITECTURE


def check(p: Mec, root: Any) -> Mec:
    """Refuse bad input before anything runs (one line naming the store or parameter)."""
    from goalstore import entries
    from goalstore.analyses.mappings import make_mapping
    from goalstore.analyses.spatial_shuffles import _check_n_shuffles

    names = model_names(p)
    if not names:
        raise AnalysisInputError("models: none given; pass one or more path-integrator or rate-map stores")
    refuse_repeats(names, "models")
    for field, value, low in (("paths", p.paths, 1), ("test_paths", p.test_paths, 2), ("repeats", p.repeats, 2),
                              ("knockout_units", p.knockout_units, 0), ("n_splits", p.n_splits, 1),
                              ("n_bins", p.n_bins, 4), ("shuffles", p.shuffles, 0)):
        if value < low:
            raise AnalysisInputError(f"{field} {value}: expected at least {low}")
    if not 0.0 < p.train_fraction < 1.0:
        raise AnalysisInputError(f"train_fraction {p.train_fraction}: expected a fraction in (0, 1)")
    if p.shuffles:
        _check_n_shuffles(p.shuffles)
    parse_arenas(p.test_arenas)
    make_mapping(p.mapping)
    for name in names:
        kind = _kind(name, root)  # an unknown entry: EntryNotFoundError, with close names
        if kind == "model":
            if not _is_network(name, root):
                arch = entries.describe(name, root).get("architecture")
                raise AnalysisInputError(f"model {name!r}: architecture {arch!r}; expected {ARCHITECTURE!r} "
                                         "(or a rate-map recording store)")
            check_entry(name, "model", root)
        elif kind == "recording":
            _check_rate_maps(name, root)
        else:
            raise AnalysisInputError(f"entry {name!r} is a {kind!r} entry; expected a path-integrator model "
                                     "or a rate-map recording")
    if p.recording:
        _check_rate_maps(p.recording, root)
    return p


def _check_rate_maps(name: str, root: Any) -> None:
    from goalstore import entries

    check_entry(name, "recording", root)
    ds = entries.open(name, root)
    if "rate" not in ds.data_vars or set(ds["rate"].dims) != {"unit", "x", "y"}:
        raise AnalysisInputError(f"recording {name!r}: no rate maps (variable 'rate' over unit × x × y)")


def _maps_params(p: Mec, model: str, untrained: bool) -> dict[str, Any]:
    return {"model": model, "paths": p.paths, "untrained": untrained}


def requires(p: Mec, root: Any) -> list[tuple[str, dict[str, Any]]]:
    """The rate maps of each path integrator (and of its untrained control), built or found cached."""
    out = []
    for name in model_names(p):
        if _is_network(name, root):
            out.append(("path-integrator-maps", _maps_params(p, name, False)))
            if not p.no_controls:
                out.append(("path-integrator-maps", _maps_params(p, name, True)))
    return out


def rows_of(p: Mec, root: Any) -> list[ModelRow]:
    """The models of the analysis, each with its rate maps (and network)."""
    from goalstore import entries
    from goalstore.activations.networks import network_from_weights
    from goalstore.analyses.path_integration import untrained_control
    from goalstore.recipes.path_integrator_maps import maps_name

    rows = []
    for name in model_names(p):
        if not _is_network(name, root):
            rows.append(ModelRow(name, entries.open(name, root), "rate maps"))
            continue
        weights = entries.open(name, root)
        training = dict(weights.attrs["training"])
        rows.append(ModelRow(name, entries.open(maps_name(_maps_params(p, name, False)), root), "trained",
                             network_from_weights(weights), training))
        if not p.no_controls:
            control = entries.open(maps_name(_maps_params(p, name, True)), root)
            rows.append(ModelRow(f"{name} (untrained)", control, "untrained", untrained_control(weights),
                                 training))
    return rows


def produce(root: Any, p: Mec) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.analyses.mec_result import mec_result

    data = entries.open(p.recording, root) if p.recording else None
    result = mec_result(rows_of(p, root), data, config_of(p))
    result.attrs.update({
        "kind": "result", "species": "model", "modality": "path integrators vs MEC",
        "source": "goalstore.analyses.mec_result", "license": "CC0-1.0",
        "citation": "Nayebi et al. 2021 (NeurIPS), thesis ch. 4", "analysis": "mec",
        "schema_version": SCHEMA_VERSION,
        "models": model_names(p), "recording": p.recording, "goalstore_version": __version__})
    if data is not None:
        result.attrs["recording_license"] = str(data.attrs.get("license", "unknown"))
    return {store_name(p): Product(result, "result")}


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None, p: Mec) -> dict[str, Any]:
    from goalstore.analyses.mec_result import summary
    from goalstore.figures.mec import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: Mec) -> str:
    def fmt(value: Any, spec: str = ".3f") -> str:
        return "n/a" if value is None else format(value, spec)

    def frac(entry: dict[str, Any], name: str) -> str:
        shuffle = entry.get(f"{name}_fraction_shuffle")
        return fmt(entry.get(f"{name}_fraction"), ".2f") + ("" if shuffle is None else f" ({shuffle:.2f})")

    cfg = report["config"]
    compared = "consistency" in next(iter(report["models"].values()))
    lines = [f"Path integrators vs MEC ({cfg['repeats']} held-out repeats of {cfg['test_paths']} paths; "
             "fractions of units over the fixed threshold (over their own shuffles)"
             + (f"; consistency: {cfg['mapping']} on {cfg['train_fraction']:g} of the position bins, "
                f"median over {report['recording']['n_cells']} cells, raw r" if compared else "") + ")"]
    rows = []
    for name, e in report["models"].items():
        row = {"model": name, "units": e["n_units"], "grid": frac(e, "grid"), "border": frac(e, "border"),
               "error (m)": fmt(e["decoding_error"])}
        for k in KNOCKOUTS[1:]:
            inc = (e.get("knockout_increase_m") or {}).get(k)
            row[f"KO {k}"] = "n/a" if not inc else f"+{fmt(inc['mean'])} ± {fmt(inc['sem'])}"
        if compared:
            row.update({"consistency": fmt(e["consistency"]), "KS grid": fmt(e["ks_grid"]),
                        "KS border": fmt(e["ks_border"])})
        rows.append(row)
    columns = ["model", "units", "grid", "border", "error (m)", *(f"KO {k}" for k in KNOCKOUTS[1:])]
    if compared:
        columns += ["consistency", "KS grid", "KS border"]
    lines.append(table(rows, columns))
    arenas = cfg.get("test_arenas") or []
    if arenas:
        lines.append("decoding error (m) in other arenas: " + "; ".join(
            f"{name}: " + ", ".join(f"{a} {fmt(v)}" for a, v in e["arena_error_m"].items())
            for name, e in report["models"].items() if e.get("arena_error_m")))
    if compared:
        rec = report["recording"]
        grid, border = fmt(rec["grid_fraction"], ".2f"), fmt(rec["border_fraction"], ".2f")
        lines.append(f"recording {p.recording}: {rec['n_cells']} cells, grid fraction {grid}, "
                     f"border fraction {border}")
    return "\n".join([*lines, *result_lines(report)])


RECIPES = [
    Recipe("mec", produce, outputs=lambda p: [(store_name(p), "zarr")],
           inputs=lambda p: [*model_names(p), *([p.recording] if p.recording else [])],
           parameters=Mec, check=check, requires=requires, build_check=True,
           description="path integrators vs MEC: grid/border scores, decoding error, knockouts, "
                       "generalisation, rate-map consistency and score distances to real cells",
           analysis=Analysis(help="path integrators (and rate-map controls) vs medial entorhinal cortex: "
                                  "scores, decoding, knockouts, generalisation, consistency (thesis ch. 4)",
                             out="goalstore-out/mec", report=report, render=render)),
]
