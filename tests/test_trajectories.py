"""Simulated trajectories (builders.trajectories) and DoG place cells (builders.place_cells): arena bounds,
determinism, speed/turn statistics against the parameters, exact velocity integration, place-cell code
shape/normalisation and top-3 decoding error at the default density."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from builders.place_cells import PlaceCells, decode_top_k, dog_code, place_cell_centres
from builders.trajectories import BORDER, DT, SPEED_SCALE, TRACK_WIDTH, TURN_SD, simulate_trajectories


@pytest.mark.parametrize("arena", ["square", "circle"])
def test_trajectories_shapes_and_stay_inside(arena: str) -> None:
    tr = simulate_trajectories(200, 150, arena=arena, size=1.0, seed=3)
    assert tr.position.shape == (200, 151, 2) and tr.velocity.shape == (200, 150, 2)
    assert tr.speed.shape == (200, 150) and tr.heading.shape == (200, 151)
    assert tr.heading_change.shape == (200, 150, 2) and tr.wall.shape == (200, 150)
    if arena == "square":
        assert np.abs(tr.position).max() <= 0.5
    else:
        assert np.hypot(tr.position[..., 0], tr.position[..., 1]).max() <= 0.5 + 1e-12
    # the walls are reached (a 1 m arena, 3 s paths) and the recorded velocity integrates exactly
    assert tr.wall.any()
    integrated = tr.position[:, :1] + np.cumsum(tr.velocity, 1) * DT
    np.testing.assert_allclose(integrated, tr.position[:, 1:], atol=1e-9)
    np.testing.assert_allclose(np.hypot(*np.moveaxis(tr.heading_change, -1, 0)), 1.0)


def test_trajectories_deterministic_by_seed() -> None:
    a, b = simulate_trajectories(8, 30, seed=7), simulate_trajectories(8, 30, seed=7)
    c = simulate_trajectories(8, 30, seed=8)
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.heading, b.heading)
    assert not np.allclose(a.position, c.position)
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(simulate_trajectories(4, 5, seed=rng1).position,
                                  simulate_trajectories(4, 5, seed=rng2).position)


def test_speed_and_turn_statistics_away_from_walls() -> None:
    """Known answer: away from walls speed ~ Rayleigh(0.13·2π) (mean b√(π/2), var (2 − π/2)b²) and
    the turning velocity Δθ/dt ~ N(0, 11.52²)."""
    tr = simulate_trajectories(400, 100, size=2.2, seed=0)
    free = ~tr.wall
    assert free.mean() > 0.9
    speed = tr.speed[free]
    assert speed.mean() == pytest.approx(SPEED_SCALE * np.sqrt(np.pi / 2), rel=0.02)
    assert speed.var() == pytest.approx((2 - np.pi / 2) * SPEED_SCALE ** 2, rel=0.05)
    omega = np.arctan2(tr.heading_change[..., 0], tr.heading_change[..., 1])[free] / DT
    assert abs(omega.mean()) < 0.1
    assert omega.std() == pytest.approx(TURN_SD, rel=0.02)
    # at the wall the speed drops to a quarter
    assert tr.speed[tr.wall].mean() < 0.5 * speed.mean()


def test_wall_turn_runs_parallel() -> None:
    """An agent at the right wall heading straight at it turns by ±π/2 (plus the small random turn)."""
    tr = simulate_trajectories(2000, 1, size=2.2, seed=1, turn_sd=0.0)
    x = tr.position[:, 0, 0]
    at_wall = (x > 1.1 - BORDER) & (np.abs(tr.position[:, 0, 1]) < 1.0) & (np.cos(tr.heading[:, 0]) > 0)
    assert at_wall.sum() >= 3
    np.testing.assert_allclose(np.cos(tr.heading[at_wall, 1]), 0.0, atol=1e-9)
    assert (tr.position[at_wall, 1, 0] <= tr.position[at_wall, 0, 0] + 1e-12).all()


def test_bad_arena_refused() -> None:
    with pytest.raises(ValueError, match="arena 'hexagon'"):
        simulate_trajectories(2, 2, arena="hexagon")


def test_place_cell_code_shapes_and_normalisation() -> None:
    pc = PlaceCells()
    assert pc.centres.shape == (512, 2) and pc.centres.abs().max() <= 1.1
    torch.testing.assert_close(pc.centres, place_cell_centres(512, 2.2, 0))
    code = pc(torch.zeros(3, 4, 2))
    assert code.shape == (3, 4, 512)
    torch.testing.assert_close(code.sum(-1), torch.ones(3, 4))
    assert code.min() >= 0
    assert pc.decode(code).shape == (3, 4, 2)


def test_place_cell_self_decoding_error() -> None:
    """Measured at the default density (512 cells, σ 0.12 m, 2.2 m box): top-3 decoding of a position's
    own code is off by ≈ 0.04 m on average, < 0.11 m for 99% of positions, < 0.2 m always."""
    pc = PlaceCells()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(5000, 2, generator=g) - 0.5) * 2.2
    err = (pc.decode(pc(x)) - x).norm(dim=-1)
    assert err.mean() < 0.06
    assert err.quantile(0.99) < 0.12
    assert err.max() < 0.2
    # a code that is not the position's own decodes elsewhere (the test can fail)
    shifted = (decode_top_k(dog_code(x + 0.5, pc.centres), pc.centres) - x).norm(dim=-1)
    assert shifted.mean() > 0.4


def test_track_stays_inside_and_runs_along_x() -> None:
    """The linear track (2.2 m × TRACK_WIDTH): the agent stays in the rectangle, covers the whole length,
    moves mostly along x (measured: |vx| > |vy| on ≈ 91% of steps, seed 0) and turns back at the ends."""
    tr = simulate_trajectories(100, 500, arena="track", size=2.2, seed=0)
    assert np.abs(tr.position[..., 0]).max() <= 1.1
    assert np.abs(tr.position[..., 1]).max() <= TRACK_WIDTH / 2
    assert tr.position[..., 0].min() < -1.0 and tr.position[..., 0].max() > 1.0
    along = np.abs(tr.velocity[..., 0]) > np.abs(tr.velocity[..., 1])
    assert along.mean() > 0.85
    # back and forth: some paths run the length both ways (x velocity sign flips near both ends)
    flips = np.diff(np.sign(tr.velocity[..., 0]), axis=1) != 0
    x_at_flip = tr.position[:, 1:-1, 0][flips]
    assert (x_at_flip > 1.0).any() and (x_at_flip < -1.0).any()
    integrated = tr.position[:, :1] + np.cumsum(tr.velocity, 1) * DT
    np.testing.assert_allclose(integrated, tr.position[:, 1:], atol=1e-9)
    # the square is not the track (the test can fail): its y spreads over the box
    assert np.abs(simulate_trajectories(100, 500, size=2.2, seed=0).position[..., 1]).max() > 1.0


def test_track_wall_turn_at_the_end() -> None:
    """An agent at the right end heading straight at it turns by ±π/2 (then the side walls turn it back)."""
    tr = simulate_trajectories(4000, 1, arena="track", size=2.2, seed=1, turn_sd=0.0)
    p = tr.position[:, 0]
    at_end = (p[:, 0] > 1.1 - BORDER) & (np.abs(p[:, 1]) < TRACK_WIDTH / 2 - BORDER)
    at_end &= np.cos(tr.heading[:, 0]) > 0
    assert at_end.sum() >= 3
    np.testing.assert_allclose(np.cos(tr.heading[at_end, 1]), 0.0, atol=1e-9)
