"""Synaptic weights of Melander et al. (2021): the vendored stores, and the Markov-chain and
Kesten-process fits per cell type (``goalstore analyze synapse-dynamics``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError
from goalstore.recipes import Analysis, NoParams, Product, Recipe, param, table
from goalstore.sources.melander2021 import CELL_TYPES, variants


def _melander(cell_type: str | None = None, variant: str | None = None):
    def produce(root: Any, p: NoParams) -> dict[str, Product]:
        from goalstore.sources import melander2021

        if cell_type:
            ds = melander2021.load_weight_matrix(cell_type)
        else:
            ds = melander2021.load_dendrite_variant(variant)
        ds.attrs["goalstore_version"] = __version__
        return {f"melander2021-{cell_type or variant}": Product(ds, "recording")}

    return produce


def _cell_types(cell_types: str) -> list[str]:
    chosen = list(CELL_TYPES) if cell_types in ("all", "") else cell_types.split(",")
    for cell_type in chosen:
        if cell_type not in CELL_TYPES:
            raise AnalysisInputError(f"cell type {cell_type!r}: unknown; expected one of "
                                     f"{', '.join(CELL_TYPES)} or all")
    return chosen


@dataclass(frozen=True)
class SynapseDynamics:
    cell_types: str = param("all", flag="--cell-type", choices=[*CELL_TYPES, "all"],
                            help="cell type(s), comma-separated, or all")
    n_bootstrap: int = param(30, flag="--bootstrap", help="bootstrap resamples over synapses")
    seed: int = param(0)


def check(p: SynapseDynamics, root: Any) -> SynapseDynamics:
    from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig

    SynapseDynamicsConfig(n_bootstrap=p.n_bootstrap, seed=p.seed)  # refuse bad values up front
    return p


def produce(root: Any, p: SynapseDynamics) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig, synapse_dynamics

    config = SynapseDynamicsConfig(n_bootstrap=p.n_bootstrap, seed=p.seed)
    out = {}
    for cell_type in _cell_types(p.cell_types):
        data = entries.open(f"melander2021-{cell_type}", root).load()
        result = synapse_dynamics(data, config)
        result.attrs["input"] = f"melander2021-{cell_type}"
        out[f"synapse-dynamics-{cell_type}"] = Product(result, "result")
    return out


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None,
           p: SynapseDynamics) -> dict[str, Any]:
    from goalstore import entries
    from goalstore.analyses.synapse_dynamics import summary

    doc: dict[str, Any] = {"cell_types": {}, "stores": {}, "figures": []}
    for name, meta in built.items():
        result = entries.open(name, root).load()
        cell = result.attrs["cell_type"]
        doc["cell_types"][cell] = summary(result)
        doc["stores"][name] = {"version": meta["version"], "checksum": meta["checksum"]}
        if out is not None:
            from goalstore.figures.synapse_dynamics import write_figures

            doc["figures"] += [str(p) for p in write_figures(result, Path(out))]
    return doc


def _mean_sem(aligned: dict, index: int) -> str:
    if not aligned["n"]:
        return "-"
    sem = aligned["sem"][index]
    return f"{aligned['mean'][index]:.3f}" + ("" if sem is None else f" ± {sem:.3f}")


def _change_rows(report: dict) -> list[dict]:
    rows = []
    for cell, r in report["cell_types"].items():
        change, logn = r["relative_change"], r["lognormal"]
        add, elim = r["aligned_addition"], r["aligned_elimination"]
        i = change["day"].index(24) if 24 in change["day"] else -1  # the thesis reports day 24
        rows.append({"cell type": cell, "never-present rows dropped": r["n_never_present_dropped"],
                     "π₀": f"{r['stationary'][0]:.4f}",
                     "|ln w(t)/w(0)| (n)": f"day {change['day'][i]:g}: {change['mean'][i]:.3f} ± "
                                           f"{change['sem'][i]:.3f} ({r['relative_change_n_synapses']})",
                     "w at addition": _mean_sem(add, 0),
                     "w before elimination": _mean_sem(elim, -1),
                     "log-normal σ": f"{min(logn['sigma']):.3f}-{max(logn['sigma']):.3f}",
                     "max KS D": f"{max(logn['ks_statistic']):.3f}"})
    return rows


def render(report: dict[str, Any], p: SynapseDynamics) -> str:
    rows = []
    for cell, r in report["cell_types"].items():
        k = r["kesten"]
        rows.append({"cell type": cell, "synapses": r["n_synapses"], "states": r["n_states"],
                     "TV(stat,emp)": f"{r['stationary_vs_empirical_tv']:.3f}",
                     "survival end data/model": f"{r['survival_data'][-1]:.3f}/"
                                                f"{r['survival_model'][-1]:.3f}",
                     "a": f"{k['a']:.4f}", "b": f"{k['b']:.4f}", "c": f"{k['c']:.4f}",
                     "d": f"{k['d']:.4f}",
                     "R² mean (no add.)": f"{k['r2_mean']:.3f} ({k['r2_mean_no_additive']:.3f})",
                     "R² var (no add.)": f"{k['r2_var']:.3f} ({k['r2_var_no_additive']:.3f})",
                     "n": k["n_values"]})
    lines = [f"Synaptic weight dynamics ({next(iter(report['cell_types'].values()))['n_bootstrap']} "
             "bootstrap resamples over synapses)",
             table(rows, list(rows[0])),
             table(_change_rows(report), ["cell type", "never-present rows dropped", "π₀", "|ln w(t)/w(0)| (n)",
                                          "w at addition", "w before elimination", "log-normal σ", "max KS D"])]
    lines += [f"result store {name}: version {store['version']}" for name, store in report["stores"].items()]
    if report["figures"]:
        lines.append(f"{len(report['figures'])} figures in {Path(report['figures'][0]).parent}")
    return "\n".join(lines)


RECIPES = [
    Recipe("synapse-dynamics", produce,
           outputs=lambda p: [(f"synapse-dynamics-{c}", "zarr") for c in _cell_types(p.cell_types)],
           inputs=lambda p: [f"melander2021-{c}" for c in _cell_types(p.cell_types)],
           parameters=SynapseDynamics, check=check,
           description="Markov-chain and Kesten-process fits of synaptic weights per cell type",
           analysis=Analysis(help="Markov-chain and Kesten-process fits of synaptic weights",
                             out="goalstore-out/synapses", report=report, render=render,
                             aliases=("synapses",))),
]
for _cell_type in CELL_TYPES:
    RECIPES.append(Recipe(f"melander2021-{_cell_type}", _melander(cell_type=_cell_type),
                          outputs=lambda p, name=f"melander2021-{_cell_type}": [(name, "zarr")],
                          description=f"quantile-normalised {_cell_type} weights (Melander 2021)"))
for _variant in variants():
    RECIPES.append(Recipe(f"melander2021-{_variant}", _melander(variant=_variant),
                          outputs=lambda p, name=f"melander2021-{_variant}": [(name, "zarr")],
                          description=f"per-dendrite weights, variant {_variant} (Melander 2021)"))
