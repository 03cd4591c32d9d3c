"""Rate maps of a path integrator's hidden units (``path-integrator-maps``; thesis ch. 4).

``goalstore build path-integrator-maps --param model=NAME`` runs the path integrator of model store
``NAME`` (recipe ``path-integrator``) — or, with ``untrained``, its untrained control (the same
architecture with its initial weights) — on ``paths`` held-out simulated trajectories (seed stream
``[training seed, seed]``, disjoint from the training batches) and stores each hidden unit's mean
activation per ``bin_size_cm`` bin of the true position as a canonical rate-map recording
(:func:`goalstore.analyses.path_integration.rate_map_store`), ready for ``goalstore analyze spatial-scores``.

The store is ``rate-maps-<model>-<hash of the other parameters>`` (:func:`maps_name`); it records the
model's ``model_weights_hash``, and a registered store with the same name and weights hash is reused
(:func:`goalstore.api.ensure`), so analyses can ``require`` it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError, SchemaError
from goalstore.recipes import Product, Recipe, check_entry, hashed_name, param

RECIPE = "path-integrator-maps"
#: the parameters that change the maps (besides the model): they name the store
NAMED = ("paths", "steps", "arena", "box", "bin_size_cm", "untrained", "seed")


@dataclass(frozen=True)
class PathIntegratorMaps:
    model: str = param("", help="model store of a path integrator (recipe path-integrator)")
    paths: int = param(2000, help="held-out trajectories the network runs on")
    steps: int = param(0, help="steps per trajectory (0: the training's)")
    arena: str = param("", help="square, circle or track (empty: the training's)")
    box: float = param(0.0, help="arena size in m (0: the training's)")
    bin_size_cm: float = param(5.0, help="spatial bin of the rate maps (cm)")
    untrained: bool = param(False, help="maps of the untrained control (initial weights) instead")
    seed: int = param(2, help="seed stream [training seed, seed] of the trajectories (the training batches "
                              "draw from the training seed alone; 1 is the recipe path-integrator's test set)")
    device: str = param("cpu", help="cpu or cuda (not part of the store name)")
    weights_hash: str = param("", help="the model's weights hash (filled in by the check; not in the name)")


def _refuse(field: str, value: Any, expected: str) -> SchemaError:
    return SchemaError(f"parameter {field!r} of recipe {RECIPE!r}: {value!r}; expected {expected}")


def store_name(p: PathIntegratorMaps) -> str:
    return hashed_name(f"rate-maps-{p.model}", {k: getattr(p, k) for k in NAMED})


def maps_name(params: dict[str, Any]) -> str:
    """The name of the store ``path-integrator-maps`` makes with ``params`` (defaults for the rest)."""
    return store_name(RECIPES[0].resolve(params))


def check(p: PathIntegratorMaps, root: Any) -> PathIntegratorMaps:
    """Refuse bad values and a model store that is not a path integrator; fill in its weights hash."""
    from builders.trajectories import ARENAS
    from goalstore import entries

    if not p.model:
        raise _refuse("model", p.model, "the name of a path-integrator model store")
    if p.paths < 1:
        raise _refuse("paths", p.paths, "at least 1")
    if p.steps < 0:
        raise _refuse("steps", p.steps, "0 (the training's) or more")
    if p.arena not in ("", *ARENAS):
        raise _refuse("arena", p.arena, f"'' (the training's) or one of {', '.join(ARENAS)}")
    if p.box < 0:
        raise _refuse("box", p.box, "0 (the training's) or a size in m")
    if p.bin_size_cm <= 0:
        raise _refuse("bin_size_cm", p.bin_size_cm, "a positive bin size in cm")
    if p.seed < 0:
        raise _refuse("seed", p.seed, "0 or more")
    if p.device not in ("cpu", "cuda"):
        raise _refuse("device", p.device, "cpu or cuda")
    check_entry(p.model, "model", root)
    meta = entries.describe(p.model, root)
    if meta.get("architecture") != "path-integrator":
        raise AnalysisInputError(f"entry {p.model!r}: architecture {meta.get('architecture')!r}; expected a "
                                 "'path-integrator' model store (recipe path-integrator)")
    training = dict(meta.get("training") or {})
    box = p.box or float(training.get("box", 0.0))
    if p.bin_size_cm / 100.0 >= box:
        raise _refuse("bin_size_cm", p.bin_size_cm, f"less than the arena ({100 * box:g} cm)")
    return dataclasses.replace(p, weights_hash=str(meta["weights_hash"]))


def produce(root: Any, p: PathIntegratorMaps) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.activations.networks import network_from_weights
    from goalstore.analyses.path_integration import (
        held_out_paths,
        rate_map_store,
        rate_maps,
        run_paths,
        untrained_control,
    )

    weights = entries.open(p.model, root)
    attrs = weights.attrs
    if p.weights_hash and attrs["weights_hash"] != p.weights_hash:
        raise AnalysisInputError(f"entry {p.model!r}: its weights changed since the request was checked "
                                 "(weights hash differs); run it again")
    training = attrs["training"]
    module = untrained_control(weights).to(p.device) if p.untrained else network_from_weights(weights, p.device)
    traj = held_out_paths(training, p.paths, steps=p.steps, arena=p.arena, box=p.box, seed_offset=p.seed)
    run = run_paths(module, traj)
    bin_size = p.bin_size_cm / 100.0
    maps = rate_maps(run, traj.size, bin_size)
    ds = rate_map_store(
        maps, p.model, bin_size, arena=traj.arena, box=traj.size, n_paths=p.paths, steps=traj.steps,
        seed=p.seed, extra_attrs={
            "model_weights_hash": attrs["weights_hash"], "untrained": int(p.untrained),
            "architecture": attrs["architecture"], "training_seed": int(training["seed"]),
            "trajectory_seed": f"numpy default_rng([{int(training['seed'])}, {p.seed}])",
            "decoding_error_m": float(run.error.mean()), "recipe": RECIPE, "goalstore_version": __version__})
    return {store_name(p): Product(ds, "recording", "zarr")}


RECIPES = [
    Recipe(RECIPE, produce, outputs=lambda p: [(store_name(p), "zarr")], inputs=lambda p: [p.model],
           parameters=PathIntegratorMaps, check=check, build_check=True,
           cached=lambda p, meta: bool(p.weights_hash) and meta.get("model_weights_hash") == p.weights_hash,
           description="rate maps of a path integrator's hidden units on held-out simulated trajectories "
                       "(or of its untrained control)"),
]
