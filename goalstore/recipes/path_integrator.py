"""Path integrators (``path-integrator``): a network of :mod:`builders.path_integrator` trained on
freshly simulated, seeded trajectories (thesis ch. 4; science notes §3) into a ``model`` store.

The store's ``training`` attr holds the configuration and ``loss_curve`` (task loss + L2 per iteration);
its ``metrics`` the mean top-3 place-cell decoding error (m) on held-out trajectories (drawn from a seed
stream disjoint from the training batches) of the trained network and of its untrained control (the
same architecture and initial weights, before training)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalstore._version import __version__
from goalstore.errors import SchemaError
from goalstore.recipes import Product, Recipe, param

RECIPE = "path-integrator"


@dataclass(frozen=True)
class TrainPathIntegrator:
    name: str = param("path-integrator-tiny", help="store name of the trained model")
    preset: str = param("tiny", choices=["tiny", "paper"],
                        help="builders.path_integrator preset: tiny (128 hidden, 300 iterations, CPU minutes) "
                             "or paper (4096 hidden, GPU)")
    cell: str = param("rnn", choices=["rnn", "ugrnn", "gru", "lstm"], help="recurrent cell")
    nonlinearity: str = param("relu", choices=["linear", "tanh", "sigmoid", "relu"],
                              help="nonlinearity of the rnn cell")
    loss: str = param("place_cells", choices=["place_cells", "position"],
                      help="place-cell cross-entropy or position squared error")
    hidden: int = param(0, help="hidden units (0: the preset's)")
    iterations: int = param(0, help="optimiser steps, each on a fresh batch (0: the preset's)")
    batch_size: int = param(0, help="trajectories per batch (0: the preset's)")
    arena: str = param("square", choices=["square", "circle", "track"],
                       help="arena shape of the trajectories (track: a 0.1 m wide linear track along x)")
    box: float = param(0.0, help="arena size and place-cell box in m (0: the preset's 2.2); train in one size "
                                 "and test in another with analyze mec --test-arenas")
    test_paths: int = param(256, help="held-out trajectories the decoding error is measured on")
    seed: int = param(0, help="seed of the initial weights, training batches and held-out trajectories")
    device: str = param("cpu", help="cpu or cuda")


def _refuse(field: str, value: Any, expected: str) -> SchemaError:
    return SchemaError(f"parameter {field!r} of recipe {RECIPE!r}: {value!r}; expected {expected}")


def config_of(p: TrainPathIntegrator) -> Any:
    """The :class:`builders.path_integrator.PathIntegratorConfig` of ``p`` (the preset, overridden)."""
    from builders.path_integrator import preset

    overrides = {k: getattr(p, k) for k in ("hidden", "iterations", "batch_size", "box") if getattr(p, k)}
    return preset(p.preset, cell=p.cell, nonlinearity=p.nonlinearity, loss=p.loss, arena=p.arena, seed=p.seed,
                  device=p.device, **overrides)


def check_path_integrator(p: TrainPathIntegrator, root: Any) -> TrainPathIntegrator:
    """Refuse a bad name or value before anything trains."""
    from builders.path_integrator import CELLS, LOSSES, NONLINEARITIES, PRESETS
    from builders.trajectories import ARENAS
    from goalstore.store import check_name

    check_name(p.name)
    for field, allowed in (("preset", PRESETS), ("cell", CELLS), ("nonlinearity", NONLINEARITIES),
                           ("loss", LOSSES), ("arena", ARENAS), ("device", ("cpu", "cuda"))):
        if getattr(p, field) not in allowed:
            raise _refuse(field, getattr(p, field), f"one of {', '.join(allowed)}")
    for field in ("hidden", "iterations", "batch_size", "box"):
        if getattr(p, field) < 0:
            raise _refuse(field, getattr(p, field), "0 (the preset's) or more")
    if p.test_paths < 1:
        raise _refuse("test_paths", p.test_paths, "at least 1")
    return p


def held_out(config: Any, n_paths: int) -> Any:
    """Held-out trajectories of ``config`` (a ``PathIntegratorConfig``): the training length and arena, from
    the seed stream ``[seed, 1]`` (:func:`goalstore.analyses.path_integration.held_out_paths`)."""
    from goalstore.analyses.path_integration import held_out_paths

    return held_out_paths(dataclasses.asdict(config), n_paths)


def produce_path_integrator(root: Any, p: TrainPathIntegrator) -> dict[str, Product]:
    import torch

    from builders.path_integrator import (
        ARCHITECTURE,
        build_path_integrator,
        decoding_error,
        train_path_integrator,
    )
    from goalstore.activations.networks import weights_from_network

    config = config_of(p)
    torch.manual_seed(config.seed)  # the untrained control: the initial weights of the run below
    control = build_path_integrator(**config.architecture_args()).eval()
    trained = train_path_integrator(config)
    test = held_out(config, p.test_paths)
    error = decoding_error(trained.model, test)
    control_error = decoding_error(control.to(config.device), test)
    metrics = {"decoding_error_m": float(error.mean()),
               "decoding_error_final_step_m": float(error[:, -1].mean()),
               "control_decoding_error_m": float(control_error.mean()),
               "control_decoding_error_final_step_m": float(control_error[:, -1].mean()),
               "final_loss": float(np.mean(trained.losses[-10:]))}
    training = {"recipe": RECIPE, "task": f"path integration ({config.loss} loss)", "objective": config.loss,
                "preset": p.preset, **{k: v for k, v in dataclasses.asdict(config).items() if k != "device"},
                "test_paths": p.test_paths, "test_seed": f"numpy default_rng([{config.seed}, 1])",
                "loss_curve": [float(v) for v in trained.losses], "goalstore_version": __version__}
    module = trained.model.cpu()
    weights = weights_from_network(
        module, ARCHITECTURE, config.architecture_args(), [config.steps, module.n_inputs], training=training,
        metrics=metrics, source="goalstore recipe path-integrator (builders.path_integrator)",
        license="CC0-1.0",
        citation="goalstore (this store root's history)",
        description=f"{config.cell} path integrator ({config.hidden} hidden, {config.nonlinearity}) trained "
                    f"{config.iterations} iterations on simulated {config.arena} trajectories")
    return {p.name: Product(weights, "model", "safetensors")}


RECIPES = [
    Recipe(RECIPE, produce_path_integrator, outputs=lambda p: [(p.name, "safetensors")],
           parameters=TrainPathIntegrator, check=check_path_integrator, build_check=True,
           description="a path integrator (velocity -> recurrent layer -> place cells) trained on simulated "
                       "trajectories, with its held-out decoding error and the untrained control's"),
]
