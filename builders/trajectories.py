"""Simulated animal trajectories for path integration (thesis ch. 4; science notes §3).

Smooth random walks with wall avoidance in a square arena (side ``size``, centred on the origin:
``[−size/2, size/2]²``), a circular one (diameter ``size``, centred on the origin) or a 1-D linear
track (a ``size`` × ``TRACK_WIDTH`` = 0.1 m rectangle along x, centred on the origin:
``[−size/2, size/2] × [−0.05, 0.05]``; the walls along it keep the agent running back and forth).  The
agent starts at a uniform position in the arena with a uniform heading ``θ_0 ~ U(−π, π)``; each step ``t`` of
``dt`` = 0.02 s it draws

* a forward speed ``v_t ~ Rayleigh(b)``, ``b = 0.13·2π`` m/s (mean ``b·√(π/2)`` ≈ 1.02 m/s),
* a turning velocity ``ω_t ~ N(0, σ_ω²)``, ``σ_ω = 5.76·2`` rad/s,

and, when it is within ``border`` = 0.03 m of a wall and heading towards it (the angle ``a`` between
its heading and the wall's outward normal ``n`` satisfies ``|a| < π/2``), it turns away by the angle
that makes it run parallel to the wall and slows down::

    Δθ_t = sign(a)·(π/2 − |a|)·[near wall] + ω_t·dt,     v_t ← 0.25·v_t  [near wall]
    θ_{t+1} = θ_t + Δθ_t
    p_{t+1} = p_t + v_t·dt·(cos θ_{t+1}, sin θ_{t+1})

(the heading is updated before the move, so a step taken at the wall already runs along it).  The
nearest wall counts (square and track: the closest of the four sides of the rectangle of half-sizes
``(size/2, size/2)`` resp. ``(size/2, TRACK_WIDTH/2)``; circle: the radial direction).  A rare
long step that would still leave the arena is cut at the wall (the position is clipped back inside);
the recorded velocity is always the actual displacement over ``dt``, so ``p_t = p_0 + Σ_{s<t} u_s·dt``
holds exactly for the recorded velocity ``u``.  ``wall[b, t]`` marks the steps where the wall turned,
slowed or cut the agent (statistics "away from walls" leave those out).

Everything is vectorised over the batch (numpy); the only loop is over time.  Deterministic given the
seed (``numpy.random.default_rng``).  Imports nothing from goalstore.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARENAS = ("square", "circle", "track")
DT = 0.02  #: s
SPEED_SCALE = 0.13 * 2 * np.pi  #: Rayleigh scale of the forward speed, m/s
TURN_SD = 5.76 * 2  #: s.d. of the turning velocity, rad/s
BORDER = 0.03  #: m: wall-avoidance region
WALL_SLOWDOWN = 0.25  #: speed factor inside the wall-avoidance region when heading towards the wall
BOX = 2.2  #: m: default arena size (side of the square; diameter of the circle; length of the track)
TRACK_WIDTH = 0.1  #: m: width of the linear track (arena "track")


@dataclass(frozen=True)
class Trajectories:
    """A batch of simulated trajectories (``B`` paths of ``T`` steps).

    ``position`` B × (T+1) × 2 (m); ``velocity`` B × T × 2 (m/s, step t moves ``position[:, t]`` to
    ``position[:, t+1]``); ``speed`` B × T (m/s, ``|velocity|``); ``heading`` B × (T+1) (rad,
    ``heading[:, t+1]`` is the direction of step t, ``heading[:, 0]`` the start heading);
    ``heading_change`` B × T × 2 = (sin, cos) of ``heading[:, t+1] − heading[:, t]``; ``wall`` B × T
    (bool: the wall turned, slowed or cut step t)."""

    position: np.ndarray
    velocity: np.ndarray
    speed: np.ndarray
    heading: np.ndarray
    heading_change: np.ndarray
    wall: np.ndarray
    arena: str
    size: float
    dt: float

    @property
    def batch(self) -> int:
        return int(self.position.shape[0])

    @property
    def steps(self) -> int:
        return int(self.velocity.shape[1])


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _half_sizes(arena: str, size: float) -> tuple[float, float]:
    """Half-sizes ``(hx, hy)`` of a rectangular arena (square: ``size/2``; track: ``TRACK_WIDTH/2`` in y)."""
    return size / 2, (TRACK_WIDTH / 2 if arena == "track" else size / 2)


def _nearest_wall(position: np.ndarray, arena: str, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest wall (B,) and the angle of that wall's outward normal (B,)."""
    if arena == "circle":
        half = size / 2
        return half - np.hypot(position[:, 0], position[:, 1]), np.arctan2(position[:, 1], position[:, 0])
    hx, hy = _half_sizes(arena, size)
    x, y = position[:, 0], position[:, 1]
    dists = np.stack([hx - x, hy - y, hx + x, hy + y], axis=1)  # right, top, left, bottom
    normals = np.array([0.0, np.pi / 2, np.pi, -np.pi / 2])
    k = dists.argmin(axis=1)
    return dists[np.arange(len(k)), k], normals[k]


def _inside(position: np.ndarray, arena: str, size: float) -> np.ndarray:
    """``position`` clipped into the closed arena."""
    if arena != "circle":
        half_xy = np.array(_half_sizes(arena, size))
        return np.clip(position, -half_xy, half_xy)
    half = size / 2
    r = np.hypot(position[:, 0], position[:, 1])
    scale = np.where(r > half, half / np.maximum(r, 1e-12), 1.0)
    return position * scale[:, None]


def sample_start(rng: np.random.Generator, batch: int, arena: str, size: float) -> np.ndarray:
    """``batch`` positions uniform in the arena (circle: radius ``R·√U``, angle uniform)."""
    if arena == "track":
        return rng.uniform(-1.0, 1.0, size=(batch, 2)) * np.array(_half_sizes(arena, size))
    if arena == "square":
        return rng.uniform(-size / 2, size / 2, size=(batch, 2))
    half = size / 2
    r = half * np.sqrt(rng.uniform(0.0, 1.0, size=batch))
    phi = rng.uniform(-np.pi, np.pi, size=batch)
    return np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)


def simulate_trajectories(batch: int, steps: int, *, arena: str = "square", size: float = BOX,
                          seed: int | np.random.Generator = 0, dt: float = DT,
                          speed_scale: float = SPEED_SCALE, turn_sd: float = TURN_SD,
                          border: float = BORDER, wall_slowdown: float = WALL_SLOWDOWN) -> Trajectories:
    """``batch`` simulated trajectories of ``steps`` steps (module docstring: the equations).

    ``seed`` is an int or a ``numpy.random.Generator`` (pass one Generator to draw successive
    training batches reproducibly)."""
    if arena not in ARENAS:
        raise ValueError(f"arena {arena!r}: expected one of {', '.join(ARENAS)}")
    if batch < 1 or steps < 1 or size <= 0 or dt <= 0:
        raise ValueError(f"batch={batch}, steps={steps}, size={size}, dt={dt}: all must be positive")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    position = np.empty((batch, steps + 1, 2))
    heading = np.empty((batch, steps + 1))
    wall = np.zeros((batch, steps), dtype=bool)
    position[:, 0] = sample_start(rng, batch, arena, size)
    heading[:, 0] = rng.uniform(-np.pi, np.pi, size=batch)
    speed_draw = rng.rayleigh(speed_scale, size=(batch, steps))
    turn_draw = rng.normal(0.0, turn_sd, size=(batch, steps))
    for t in range(steps):
        p, theta = position[:, t], heading[:, t]
        dist, normal = _nearest_wall(p, arena, size)
        a = _wrap(theta - normal)
        near = (dist < border) & (np.abs(a) < np.pi / 2)
        turn = np.where(near, np.sign(a) * (np.pi / 2 - np.abs(a)), 0.0) + turn_draw[:, t] * dt
        v = np.where(near, wall_slowdown, 1.0) * speed_draw[:, t]
        heading[:, t + 1] = theta + turn
        step = v[:, None] * dt * np.stack([np.cos(heading[:, t + 1]), np.sin(heading[:, t + 1])], axis=1)
        moved = p + step
        kept = _inside(moved, arena, size)
        cut = np.any(kept != moved, axis=1)
        position[:, t + 1] = kept
        wall[:, t] = near | cut
    velocity = np.diff(position, axis=1) / dt
    dtheta = np.diff(heading, axis=1)
    speed = np.hypot(velocity[..., 0], velocity[..., 1])
    return Trajectories(position=position, velocity=velocity, speed=speed,
                        heading=heading, heading_change=np.stack([np.sin(dtheta), np.cos(dtheta)], axis=-1),
                        wall=wall, arena=arena, size=float(size), dt=float(dt))
