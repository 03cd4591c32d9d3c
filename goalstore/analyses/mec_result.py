"""The result of ``goalstore analyze mec``: path integrators (and rate-map controls) against MEC (thesis ch. 4).

One dataset over a ``model`` axis.  Per model (a trained path integrator, its untrained control, or a
store of rate maps such as the NMF control):

* its units' grid and border scores (:func:`goalstore.analyses.spatial.spatial_scores`, with the
  shuffle test) and the fraction of units that pass each rule;
* for a network: the position decoding error (top-3 place cells) on held-out trajectories, by time
  step (its growth with path length), the knockouts of §4.5 (the top grid-score, the top border-score
  or random units silenced, the same count; mean error per held-out repeat) and the error in other arenas
  (generalisation; :mod:`goalstore.analyses.path_integration`);
* against a recording of real MEC cells: the rate-map consistency (pooled-source mapping, position bins
  as stimuli) and the Kolmogorov–Smirnov distances between the model's and the cells' score
  distributions (:mod:`goalstore.analyses.mec`).

Sizes that differ between models (units, steps) are padded with NaN along their axes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from builders.trajectories import DT
from goalstore.errors import AnalysisInputError

KNOCKOUTS = ("none", "grid", "border", "random")
N_EXAMPLES = 4  #: example rate maps kept per model (its top grid-score units)
EXAMPLE_BINS = 40  #: bins per side of the kept examples (box fractions, any arena)


@dataclass(frozen=True)
class MecConfig:
    """The analysis' settings (the ``analyze mec`` parameters that change numbers)."""

    test_paths: int = 256  #: held-out trajectories per repeat
    repeats: int = 5  #: held-out repeats (the error bars of decoding and knockouts)
    knockout_units: int = 0  #: units silenced per knockout (0: 10 % of the hidden units, at least 1)
    test_arenas: tuple[tuple[str, float], ...] = ()  #: (arena, size m) of the generalisation tests
    mapping: str = "ridge"
    n_splits: int = 10
    train_fraction: float = 0.2
    n_bins: int = 20  #: common bins per side of the consistency (normalised arena coordinates)
    shuffles: int = 20  #: shuffled maps per unit (the shuffle test of grid/border scores)
    seed: int = 0


@dataclass
class ModelRow:
    """One model of the analysis: its rate-map store and, for a network, the module that made them."""

    name: str
    maps: xr.Dataset
    kind: str  #: "trained", "untrained" or "rate maps"
    module: Any = None
    training: dict[str, Any] = field(default_factory=dict)


def parse_arenas(text: str) -> tuple[tuple[str, float], ...]:
    """``"square:1.5,circle:2.2"`` → ``(("square", 1.5), ("circle", 2.2))``; refuses a bad entry."""
    from builders.trajectories import ARENAS

    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        arena, _, size = item.partition(":")
        try:
            value = float(size)
        except ValueError:
            value = -1.0
        if arena not in ARENAS or not value > 0:
            raise AnalysisInputError(f"test_arenas {item!r}: expected ARENA:SIZE_M with ARENA one of "
                                     f"{', '.join(ARENAS)} and a positive size, e.g. square:1.5")
        out.append((arena, value))
    return tuple(out)


def _padded(values: Sequence[np.ndarray], length: int) -> np.ndarray:
    out = np.full((len(values), length), np.nan)
    for i, v in enumerate(values):
        out[i, : len(v)] = v
    return out


def _scores(maps: xr.Dataset, cfg: MecConfig) -> xr.Dataset:
    from goalstore.analyses.spatial import spatial_scores

    return spatial_scores(maps, variable="rate", n_shuffles=cfg.shuffles, seed=cfg.seed)


def _fraction(flags: xr.DataArray) -> float:
    return float(np.asarray(flags.values, dtype=float).mean())


def _network_part(row: ModelRow, scores: xr.Dataset, cfg: MecConfig) -> dict[str, Any]:
    from goalstore.analyses.path_integration import error_by_step, held_out_paths, knockout_errors, run_paths

    trajs = [held_out_paths(row.training, cfg.test_paths, seed_offset=10 + r) for r in range(cfg.repeats)]
    errors = np.concatenate([run_paths(row.module, t).error for t in trajs])
    mean, sem = error_by_step(errors)
    hidden = int(scores.sizes["unit"])
    n_units = cfg.knockout_units or max(1, round(0.1 * hidden))
    if n_units >= hidden:
        raise AnalysisInputError(f"knockout_units {n_units}: model {row.name!r} has only {hidden} hidden units")
    knock = knockout_errors(row.module, trajs, {"grid": scores["grid_score"].values,
                                                "border": scores["border_score"].values}, n_units, cfg.seed)
    arena_mean, arena_sem = [], []
    for k, (arena, size) in enumerate(cfg.test_arenas):
        test = held_out_paths(row.training, cfg.test_paths, arena=arena, box=size, seed_offset=100 + k)
        err = run_paths(row.module, test).error.mean(axis=1)  # per path
        arena_mean.append(err.mean())
        arena_sem.append(err.std(ddof=1) / np.sqrt(len(err)) if len(err) > 1 else np.nan)
    return {"error_by_step": mean, "error_by_step_sem": sem, "decoding_error": float(errors.mean()),
            "knockout_error": knock["error"].sel(knockout=list(KNOCKOUTS)).values, "knockout_units": n_units,
            "arena_error": np.asarray(arena_mean, float), "arena_error_sem": np.asarray(arena_sem, float)}


def _examples(maps: xr.Dataset, scores: xr.Dataset, n_bins: int) -> np.ndarray:
    from goalstore.analyses.mec import common_bins

    order = np.argsort(-np.nan_to_num(scores["grid_score"].values, nan=-np.inf), kind="stable")[:N_EXAMPLES]
    resampled = common_bins(maps["rate"].isel(unit=order), n_bins).reshape(len(order), n_bins, n_bins)
    out = np.full((N_EXAMPLES, n_bins, n_bins), np.nan)
    out[: len(order)] = resampled
    return out


def mec_result(rows: Sequence[ModelRow], data: xr.Dataset | None, cfg: MecConfig,
               progress: Callable[[str], None] | None = None) -> xr.Dataset:
    """The analysis over ``rows`` (module docstring), compared with the rate maps ``data`` when given."""
    from goalstore.analyses.mec import map_consistency, score_distances

    if not rows:
        raise AnalysisInputError("models: none given; pass one or more path-integrator or rate-map stores")
    data_scores = _scores(data, cfg) if data is not None else None
    per: list[dict[str, Any]] = []
    for row in rows:
        if progress is not None:
            progress(row.name)
        scores = _scores(row.maps, cfg)
        part: dict[str, Any] = {
            "grid_score": scores["grid_score"].values, "border_score": scores["border_score"].values,
            "grid_fraction": _fraction(scores["is_grid_cell"]),
            "border_fraction": _fraction(scores["is_border_cell"]),
            "examples": _examples(row.maps, scores, EXAMPLE_BINS)}
        if cfg.shuffles:
            part["grid_fraction_shuffle"] = _fraction(scores["is_grid_cell_shuffle"])
            part["border_fraction_shuffle"] = _fraction(scores["is_border_cell_shuffle"])
        if row.module is not None:
            part.update(_network_part(row, scores, cfg))
        if data is not None:
            cons = map_consistency(row.maps["rate"], data["rate"], cfg.mapping, cfg.n_splits,
                                   cfg.train_fraction, cfg.n_bins, cfg.seed)
            part["consistency_unit"] = cons["unit_score"].values
            part["consistency"] = float(cons["median_score"])
            dist = score_distances(scores, data_scores)
            for name in ("grid", "border"):
                part[f"ks_{name}"] = float(dist[f"ks_{name}_score"])
                part[f"ks_{name}_p"] = float(dist[f"ks_{name}_score_p"])
        per.append(part)
    return _assemble(rows, per, data, data_scores, cfg)


def _scalar(per: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([p.get(key, np.nan) for p in per], dtype=float)


def _stack(per: list[dict[str, Any]], key: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.stack([np.asarray(p[key], float) if key in p else np.full(shape, np.nan) for p in per])


def _assemble(rows: Sequence[ModelRow], per: list[dict[str, Any]], data: xr.Dataset | None,
              data_scores: xr.Dataset | None, cfg: MecConfig) -> xr.Dataset:
    n_units = max(len(p["grid_score"]) for p in per)
    n_steps = max([len(p["error_by_step"]) for p in per if "error_by_step" in p] or [0])
    n_arenas, ex = len(cfg.test_arenas), EXAMPLE_BINS

    def var(dims: tuple[str, ...], values: np.ndarray, description: str, units: str = "1") -> tuple:
        return dims, values, {"units": units, "description": description}

    out = xr.Dataset(
        {
            "grid_score": var(("model", "model_unit"), _padded([p["grid_score"] for p in per], n_units),
                              "grid score of each unit (NaN: padding, or undefined)"),
            "border_score": var(("model", "model_unit"), _padded([p["border_score"] for p in per], n_units),
                                "border score of each unit"),
            "n_units": var(("model",), np.array([len(p["grid_score"]) for p in per]), "units of the model"),
            "grid_fraction": var(("model",), _scalar(per, "grid_fraction"),
                                 "fraction of units with grid score > 0.3"),
            "border_fraction": var(("model",), _scalar(per, "border_fraction"),
                                   "fraction of units with border score > 0.5"),
            "grid_fraction_shuffle": var(("model",), _scalar(per, "grid_fraction_shuffle"),
                                         "fraction of units with grid score > its shuffles' 95th pct."),
            "border_fraction_shuffle": var(("model",), _scalar(per, "border_fraction_shuffle"),
                                           "fraction of units with border score > its shuffles' 95th pct."),
            "decoding_error": var(("model",), _scalar(per, "decoding_error"),
                                  "mean distance of the top-3 place-cell decoding to the true position", "m"),
            "error_by_step": var(("model", "step"), _stack(per, "error_by_step", (n_steps,)),
                                 "decoding error by time step (mean over held-out paths)", "m"),
            "error_by_step_sem": var(("model", "step"), _stack(per, "error_by_step_sem", (n_steps,)),
                                     "s.e.m. over held-out paths", "m"),
            "knockout_error": var(("model", "knockout", "repeat"),
                                  _stack(per, "knockout_error", (len(KNOCKOUTS), cfg.repeats)),
                                  "mean decoding error with the units silenced (per held-out repeat)", "m"),
            "knockout_units": var(("model",), _scalar(per, "knockout_units"), "units silenced per knockout"),
            "arena_error": var(("model", "test_arena"), _stack(per, "arena_error", (n_arenas,)),
                               "decoding error in each test arena (generalisation)", "m"),
            "arena_error_sem": var(("model", "test_arena"), _stack(per, "arena_error_sem", (n_arenas,)),
                                   "s.e.m. over held-out paths", "m"),
            "example_maps": var(("model", "example", "map_x", "map_y"),
                                _stack(per, "examples", (N_EXAMPLES, ex, ex)),
                                "rate maps of the model's top grid-score units (normalised arena bins)"),
        },
        coords={"model_name": ("model", [r.name for r in rows]),
                "model_kind": ("model", [r.kind for r in rows]),
                "unit_index": ("model_unit", np.arange(n_units)),
                "step_index": ("step", np.arange(1, n_steps + 1)),
                "time_s": ("step", np.arange(1, n_steps + 1) * DT, {"units": "s"}),
                "knockout_name": ("knockout", list(KNOCKOUTS)),
                "repeat_index": ("repeat", np.arange(cfg.repeats)),
                "test_arena_name": ("test_arena", [f"{a}:{s:g}" for a, s in cfg.test_arenas]),
                "example_id": ("example", [f"top{i + 1}" for i in range(N_EXAMPLES)]),
                "map_x_center": ("map_x", (np.arange(ex) + 0.5) / ex),
                "map_y_center": ("map_y", (np.arange(ex) + 0.5) / ex)},
    )
    increase = out["knockout_error"] - out["knockout_error"].isel(knockout=0)  # 0: "none"
    out["knockout_increase"] = increase.assign_attrs(
        units="m", description="knockout error minus the intact network's, per repeat")
    if data is not None:
        n_cells = data.sizes["unit"]
        out = out.assign_coords(target_unit_id=("target_unit", np.asarray(data["unit_id"].values).astype(str)))
        out["consistency_unit"] = var(("model", "target_unit"), _stack(per, "consistency_unit", (n_cells,)),
                                      "Pearson r of each real cell's held-out bins, mean over splits")
        out["consistency"] = var(("model",), _scalar(per, "consistency"),
                                 "median over cells of consistency_unit (raw: no noise ceiling)")
        for name in ("grid", "border"):
            out[f"ks_{name}"] = var(("model",), _scalar(per, f"ks_{name}"),
                                    f"two-sample KS statistic of the model's vs the cells' {name} scores")
            out[f"ks_{name}_p"] = var(("model",), _scalar(per, f"ks_{name}_p"), "its p-value")
            out[f"data_{name}_score"] = var(("target_unit",), data_scores[f"{name}_score"].values,
                                            f"the real cells' {name} scores")
    empty = [d for d, n in out.sizes.items() if n == 0]  # no network (steps), no test arena: left out
    out = out.drop_vars([v for v in out.variables if set(out[v].dims) & set(empty)])
    out.attrs.update({k: v for k, v in dataclasses.asdict(cfg).items() if k != "test_arenas"})
    out.attrs["test_arenas"] = [f"{a}:{s:g}" for a, s in cfg.test_arenas]
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return float(value) if np.isfinite(value) else None


def summary(result: xr.Dataset) -> dict[str, Any]:
    """Per model (JSON-ready): unit counts and fractions of grid/border cells, decoding error, the
    knockouts' mean increase ± s.e.m. over repeats, the test arenas' errors and, with a recording,
    consistency and KS distances."""
    models = {}
    reps = result.sizes["repeat"]
    for i, name in enumerate(result["model_name"].values.astype(str)):
        r = result.isel(model=i)
        entry: dict[str, Any] = {
            "kind": str(r["model_kind"].values), "n_units": int(r["n_units"]),
            **{k: _num(r[k]) for k in ("grid_fraction", "grid_fraction_shuffle", "border_fraction",
                                       "border_fraction_shuffle", "decoding_error", "knockout_units")}}
        if np.isfinite(r["decoding_error"]) and "error_by_step" in result:
            inc = r["knockout_increase"]
            entry["knockout_increase_m"] = {
                k: {"mean": _num(inc.isel(knockout=j).mean()),
                    "sem": _num(inc.isel(knockout=j).std(ddof=1) / np.sqrt(reps)) if reps > 1 else None}
                for j, k in enumerate(KNOCKOUTS) if k != "none"}
            entry["error_by_step_m"] = [_num(v) for v in r["error_by_step"].values if np.isfinite(v)]
            entry["arena_error_m"] = ({str(a): _num(v) for a, v in zip(result["test_arena_name"].values,
                                                                       r["arena_error"].values, strict=True)}
                                      if "arena_error" in result else {})
        if "consistency" in result:
            entry.update({k: _num(r[k]) for k in ("consistency", "ks_grid", "ks_grid_p", "ks_border",
                                                  "ks_border_p")})
        models[str(name)] = entry
    out: dict[str, Any] = {"models": models, "n_models": len(models),
                           "config": {k: result.attrs.get(k) for k in (
                               "test_paths", "repeats", "knockout_units", "test_arenas", "mapping", "n_splits",
                               "train_fraction", "n_bins", "shuffles", "seed")}}
    if "consistency" in result:
        out["recording"] = {"n_cells": int(result.sizes["target_unit"]),
                            "grid_fraction": _num((result["data_grid_score"] > 0.3).mean()),
                            "border_fraction": _num((result["data_border_score"] > 0.5).mean())}
    return out
