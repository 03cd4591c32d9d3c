"""Behaviour of a path-integrating network on trajectories (thesis ch. 4; science notes §3).

A path integrator (:class:`builders.path_integrator.PathIntegrator`, or any module with the same
``rollout`` / ``decode`` / ``inputs`` / ``head_direction`` interface) is run on a batch of simulated
trajectories (:func:`run_paths`); from that run come

* the decoding error per step, ``e_{b,t} = ‖p̂_{b,t} − p_{b,t}‖`` (m), its mean and s.e.m. over paths
  (:func:`error_by_step`);
* the rate map of every hidden unit, ``r_u(bin) = mean of h_{b,t,u} over the samples (b, t) whose true
  position falls in the bin`` (:func:`rate_maps`, 5 cm bins; unvisited bins NaN), as a canonical rate-map
  recording (:func:`rate_map_store`) that ``goalstore analyze spatial-scores`` scores;
* the knockout test (:func:`knockout_errors`): the mean decoding error with the ``n`` units of highest
  grid (or border) score silenced, against ``n`` random units and none — do the grid-like units carry
  the position code?

Held-out trajectories (:func:`held_out_paths`) come from a seed stream disjoint from the training
batches; :func:`untrained_control` rebuilds a model store's network with its initial weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from goalstore.errors import AnalysisInputError

KNOCKOUTS = ("none", "grid", "border", "random")
_BLOCK_VALUES = 2**24  #: samples × units binned at once by rate_maps


@dataclass(frozen=True)
class PathRun:
    """One network run on ``B`` paths of ``T`` steps (numpy arrays)."""

    hidden: np.ndarray  #: B × T × H float32 hidden states (after the knockout)
    decoded: np.ndarray  #: B × T × 2 decoded positions (m)
    true: np.ndarray  #: B × T × 2 true positions (``traj.position[:, 1:]``)
    error: np.ndarray  #: B × T distance between decoded and true position (m)


def run_paths(module: Any, traj: Any, knockout: np.ndarray | None = None, batch: int = 512) -> PathRun:
    """Run ``module`` on the trajectories ``traj`` (:class:`builders.trajectories.Trajectories`) from their
    true start positions, ``batch`` paths at a time without gradients; ``knockout`` (unit indices) silences
    those hidden units at every step.  Step ``t`` is compared with ``traj.position[:, t + 1]``."""
    import torch

    from builders.path_integrator import network_inputs

    if batch < 1:
        raise AnalysisInputError(f"batch {batch}: expected at least 1 path per chunk")
    inputs = network_inputs(traj, module.inputs, module.head_direction)
    start = torch.from_numpy(np.ascontiguousarray(traj.position[:, 0])).float()
    ko = None if knockout is None else torch.as_tensor(np.asarray(knockout, dtype=np.int64))
    hidden, decoded = [], []
    with torch.no_grad():
        for i in range(0, inputs.shape[0], batch):
            outputs, h = module.rollout(inputs[i:i + batch], start[i:i + batch], ko)
            hidden.append(h.detach().cpu().float().numpy())
            decoded.append(module.decode(outputs).detach().cpu().float().numpy())
    true = np.asarray(traj.position[:, 1:], dtype=np.float32)
    dec = np.concatenate(decoded).astype(np.float32)
    return PathRun(hidden=np.concatenate(hidden).astype(np.float32), decoded=dec, true=true,
                   error=np.linalg.norm(dec - true, axis=-1))


def error_by_step(error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean over paths of a B × T error, per step (T,) each
    (s.e.m. = s.d. with ``ddof=1`` / √B; NaN for a single path)."""
    error = np.asarray(error, dtype=np.float64)
    if error.ndim != 2 or error.shape[0] < 1:
        raise AnalysisInputError(f"error: shape {error.shape}; expected (paths, steps)")
    n = error.shape[0]
    sem = error.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(error.shape[1], np.nan)
    return error.mean(axis=0), sem


def rate_maps(run: PathRun, box: float, bin_size: float = 0.05) -> np.ndarray:
    """unit × nx × ny mean hidden activation per ``bin_size`` (m) bin of the true position over all
    (path, step) samples (:func:`goalstore.analyses.spatial_core.rate_maps_from_activations`).

    The arena (side or diameter ``box``, m) is centred on the origin, so positions are shifted by
    ``+box/2``; ``nx = ny = ⌈box / bin_size⌉`` (to 1e-9, so 2.2 m in 5 cm bins is 44 bins, not 45).  In a
    circular arena the bins outside the disc are never visited: NaN."""
    from goalstore.analyses.spatial_core import rate_maps_from_activations

    if box <= 0 or bin_size <= 0:
        raise AnalysisInputError(f"box {box} / bin_size {bin_size}: both must be positive (m)")
    n = int(np.ceil(box / bin_size - 1e-9))
    positions = run.true.reshape(-1, 2).astype(np.float64) + box / 2
    activations = run.hidden.reshape(-1, run.hidden.shape[-1])
    # a box of (n − ½) bins has ⌈·⌉ = n bins whatever the rounding of box / bin_size; positions on the
    # far wall fall in the last bin (the binning clips them)
    extent = (n - 0.5) * bin_size
    step = max(1, _BLOCK_VALUES // max(len(positions), 1))  # units per block: bounded memory (4096 units)
    return np.concatenate([rate_maps_from_activations(positions, activations[:, i:i + step], (extent, extent),
                                                      bin_size)
                           for i in range(0, activations.shape[1], step)])


def rate_map_store(maps: np.ndarray, model: str, bin_size: float, *, arena: str, box: float, n_paths: int,
                   steps: int, seed: int, extra_attrs: dict[str, Any] | None = None) -> xr.Dataset:
    """The canonical rate-map recording (``rate``: unit × x × y, :func:`goalstore.sources.rate_maps.
    rate_map_recording`) of a model's unit × x × y ``maps`` (``bin_size`` in m; animal = ``model``, area and
    species ``model``), with attrs ``model``, ``arena``, ``box_m``, ``n_paths``, ``steps``, ``seed`` and
    ``extra_attrs``.  ``x_center`` / ``y_center`` are cm from the arena's corner."""
    from goalstore.sources.rate_maps import rate_map_recording

    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise AnalysisInputError(f"maps: shape {maps.shape}; expected (unit, x, y)")
    ds = rate_map_recording({model: np.moveaxis(maps, 0, 2)}, 100.0 * bin_size, area="model",
                            species="model", source=f"goalstore.analyses.path_integration: hidden units of "
                                                    f"{model} on simulated {arena} trajectories",
                            license="CC0-1.0", citation="goalstore (this store root's history)",
                            cell_ids={model: [f"unit{i:04d}" for i in range(maps.shape[0])]})
    ds["rate"].attrs.update({"units": "a.u.", "description": "mean hidden-unit activation per spatial bin"})
    ds.attrs.update({"model": model, "arena": arena, "box_m": float(box), "n_paths": int(n_paths),
                     "steps": int(steps), "seed": int(seed),
                     "description": f"rate maps of the {maps.shape[0]} hidden units of {model} "
                                    f"({n_paths} paths of {steps} steps, {arena} arena of {box:g} m)",
                     **(extra_attrs or {})})
    return ds


def _top(score: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` units of highest score (NaN ranks lowest; ties by unit index)."""
    ranked = np.where(np.isfinite(score), score, -np.inf)
    return np.argsort(-ranked, kind="stable")[:n]


def knockout_errors(module: Any, trajs: list, scores: dict[str, np.ndarray], n_units: int,
                    seed: int = 0) -> xr.Dataset:
    """Mean decoding error (m) per knockout and repeat: none, the ``n_units`` units of highest
    ``scores["grid"]``, of highest ``scores["border"]`` (NaN = never selected first), and ``n_units``
    random units (``numpy.random.default_rng([seed, r])``), each on the held-out trajectories ``trajs[r]``
    of repeat ``r``.

    Returns ``error`` (knockout × repeat), ``increase = error − error[none]`` and ``units`` (knockout ×
    repeat × rank: the silenced unit indices, −1 for none); attr ``n_units``."""
    if not trajs:
        raise AnalysisInputError("trajs: no held-out trajectories (one per repeat)")
    missing = [k for k in ("grid", "border") if k not in scores]
    if missing:
        raise AnalysisInputError(f"scores: no {missing[0]!r} score; expected per-unit 'grid' and 'border'")
    n_repeats = len(trajs)
    errors = np.full((len(KNOCKOUTS), n_repeats), np.nan)
    units = np.full((len(KNOCKOUTS), n_repeats, n_units), -1, dtype=np.int64)
    for r, traj in enumerate(trajs):
        base = run_paths(module, traj)
        n_hidden = base.hidden.shape[-1]
        for key in ("grid", "border"):
            if np.asarray(scores[key]).shape != (n_hidden,):
                raise AnalysisInputError(f"scores[{key!r}]: shape {np.asarray(scores[key]).shape}; expected "
                                         f"({n_hidden},) (one per hidden unit)")
        if not 1 <= n_units <= n_hidden:
            raise AnalysisInputError(f"n_units {n_units}: expected 1 to {n_hidden} (the hidden units)")
        errors[0, r] = base.error.mean()
        chosen = {"grid": _top(np.asarray(scores["grid"], float), n_units),
                  "border": _top(np.asarray(scores["border"], float), n_units),
                  "random": np.random.default_rng([seed, r]).choice(n_hidden, n_units, replace=False)}
        for k, key in enumerate(KNOCKOUTS[1:], start=1):
            units[k, r] = chosen[key]
            errors[k, r] = run_paths(module, traj, knockout=chosen[key]).error.mean()
    return xr.Dataset(
        {"error": (("knockout", "repeat"), errors, {"units": "m", "description": "mean decoding error"}),
         "increase": (("knockout", "repeat"), errors - errors[:1],
                      {"units": "m", "description": "error minus the error without knockout"}),
         "units": (("knockout", "repeat", "rank"), units,
                   {"description": "indices of the silenced hidden units (-1: none)"})},
        coords={"knockout": list(KNOCKOUTS), "repeat": np.arange(n_repeats), "rank": np.arange(n_units)},
        attrs={"n_units": int(n_units), "seed": int(seed)})


def untrained_control(weights: Any) -> Any:
    """The network of model store ``weights`` with its initial weights (before training): the same
    architecture built after ``torch.manual_seed(training seed)``, as ``goalstore recipes path-integrator``
    builds its control; eval mode."""
    import torch

    from goalstore.activations.networks import build_untrained

    attrs = weights.attrs
    torch.manual_seed(int(attrs["training"]["seed"]))
    return build_untrained(attrs["architecture"], attrs["architecture_args"]).eval()


def held_out_paths(training: dict[str, Any], n_paths: int, *, steps: int = 0, arena: str = "",
                   box: float = 0.0, seed_offset: int = 1) -> Any:
    """``n_paths`` held-out trajectories for a network trained with ``training`` (a model store's
    ``training`` attr): its ``steps``, ``arena`` and ``box`` unless given, drawn from the seed stream
    ``numpy.random.default_rng([training seed, seed_offset])`` (the training batches draw from the seed
    alone, so the two never coincide)."""
    from builders.trajectories import simulate_trajectories

    return simulate_trajectories(int(n_paths), int(steps or training["steps"]),
                                 arena=arena or str(training["arena"]), size=float(box or training["box"]),
                                 seed=np.random.default_rng([int(training["seed"]), int(seed_offset)]))
