"""Simulated trajectories (``trajectories``): the paths a path integrator runs along, as a
``trajectories`` store (schema rule 14), from :func:`builders.trajectories.simulate_trajectories`
(smooth random walks with wall avoidance; science notes §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from goalstore._version import __version__
from goalstore.errors import SchemaError
from goalstore.recipes import Product, Recipe, param


@dataclass(frozen=True)
class SimulatedTrajectories:
    name: str = param("trajectories", help="store name")
    n_paths: int = param(64, help="number of trajectories")
    n_steps: int = param(100, help="steps per trajectory (dt = 0.02 s each)")
    arena: str = param("square", choices=["square", "circle", "track"],
                       help="arena shape: square (side SIZE), circle (diameter SIZE) or track (a linear track "
                            "of length SIZE and width 0.1 m along x), centred on the origin")
    size: float = param(2.2, help="arena size in m (side of the square, diameter of the circle, length of "
                                  "the track)")
    seed: int = param(0, help="random seed of start positions, speeds and turns")


def _refuse(field: str, value: Any, expected: str) -> SchemaError:
    return SchemaError(f"parameter {field!r} of recipe 'trajectories': {value!r}; expected {expected}")


def check_trajectories(p: SimulatedTrajectories, root: Any) -> SimulatedTrajectories:
    """Refuse a bad name, count, arena or size before anything runs."""
    from builders.trajectories import ARENAS
    from goalstore.store import check_name

    check_name(p.name)
    for field in ("n_paths", "n_steps"):
        if getattr(p, field) < 1:
            raise _refuse(field, getattr(p, field), "at least 1")
    if p.arena not in ARENAS:
        raise _refuse("arena", p.arena, f"one of {', '.join(ARENAS)}")
    if not np.isfinite(p.size) or p.size <= 0:
        raise _refuse("size", p.size, "a positive arena size in m")
    return p


def trajectories_dataset(p: SimulatedTrajectories) -> xr.Dataset:
    """The trajectories store of ``p``: per path × step the position before the step (``x``, ``y``), the
    step's velocity (``vx``, ``vy``; ``p_{t+1} = p_t + v_t·dt`` exactly), ``speed`` and ``heading``, the
    ``wall`` flag (the wall turned, slowed or cut the step), and per path the ``start_heading``."""
    from builders.trajectories import simulate_trajectories

    tr = simulate_trajectories(p.n_paths, p.n_steps, arena=p.arena, size=p.size, seed=p.seed)
    dims = ("path", "step")

    def var(values: np.ndarray, units: str, description: str) -> xr.Variable:
        return xr.Variable(dims[: values.ndim], values, {"units": units, "description": description})

    data = {
        "x": var(tr.position[:, :-1, 0], "m", "x position before the step"),
        "y": var(tr.position[:, :-1, 1], "m", "y position before the step"),
        "vx": var(tr.velocity[..., 0], "m/s", "x velocity of the step"),
        "vy": var(tr.velocity[..., 1], "m/s", "y velocity of the step"),
        "speed": var(tr.speed, "m/s", "speed of the step"),
        "heading": var(tr.heading[:, 1:], "rad", "direction of the step (unwrapped)"),
        "wall": var(tr.wall.astype(np.int8), "1", "1 where the wall turned, slowed or cut the step"),
        "start_heading": var(tr.heading[:, 0], "rad", "heading at the start"),
    }
    from goalstore.schema import store_attrs

    attrs = store_attrs("trajectories", species="none", modality="simulated trajectories",
                        source="builders.trajectories.simulate_trajectories", license="CC0-1.0",
                        citation="goalstore (simulated)", arena=p.arena, size=float(p.size), dt=float(tr.dt),
                        seed=int(p.seed), goalstore_version=__version__)
    return xr.Dataset(data, coords={"path_id": ("path", np.arange(p.n_paths)),
                                    "step_index": ("step", np.arange(p.n_steps))}, attrs=attrs)


def produce_trajectories(root: Any, p: SimulatedTrajectories) -> dict[str, Product]:
    return {p.name: Product(trajectories_dataset(p), "trajectories")}


RECIPES = [
    Recipe("trajectories", produce_trajectories, outputs=lambda p: [(p.name, "zarr")],
           parameters=SimulatedTrajectories, check=check_trajectories, build_check=True,
           description="simulated trajectories (smooth random walks with wall avoidance in a square or "
                       "circular arena or on a linear track) for path integrators"),
]
