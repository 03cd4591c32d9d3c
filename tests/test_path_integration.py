"""Path-integrator analyses (goalstore.analyses.path_integration) and recipe ``path-integrator-maps``.

Known answer: a hand-built network integrates velocity exactly; its hidden layer is exact hexagonal grid
cells of the integrated position plus one border unit per wall, and its read-out passes the integrated
position only while some grid unit is active.  So its rate maps must score the grid units as grid cells
(not the border units), silencing border or random (not all grid) units must leave the decoding error
unchanged to the last bit, and silencing every grid unit must make the error exactly ``‖p‖`` (decoded 0).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from builders.trajectories import DT, simulate_trajectories
from goalstore.analyses.path_integration import (
    error_by_step,
    held_out_paths,
    knockout_errors,
    rate_map_store,
    rate_maps,
    run_paths,
)
from goalstore.analyses.spatial import spatial_scores

BOX = 2.2
SPACINGS = (0.5, 0.8)  #: m
PHASES = ((0.0, 0.0), (0.17, 0.09), (0.31, 0.23))  #: m
N_GRID, N_BORDER = len(SPACINGS) * len(PHASES), 4


class ExactIntegrator(nn.Module):
    """state_t = p_0 + Σ_{s≤t} v_s·dt; hidden = [grid units | border units]; output = gate · state, where
    gate = 1 while any grid unit is active (they are ≥ 0 and never all 0) and 0 with all knocked out."""

    inputs, head_direction = "velocity", False

    def units(self, pos: torch.Tensor) -> torch.Tensor:
        x, y = pos[..., 0], pos[..., 1]
        cells = []
        for i, spacing in enumerate(SPACINGS):
            k, orientation = 4 * np.pi / (np.sqrt(3) * spacing), 0.3 * i
            for px, py in PHASES:
                s = sum(torch.cos(k * ((x - px) * np.cos(orientation + a) + (y - py) * np.sin(orientation + a)))
                        for a in (0, np.pi / 3, 2 * np.pi / 3))
                cells.append((s + 1.5) / 4.5)  # in [0, 1]
        half = BOX / 2
        cells += [torch.exp(-d / 0.1) for d in (half - x, half - y, half + x, half + y)]
        return torch.stack(cells, -1)

    def rollout(self, inputs, start, knockout=None):
        pos = start.double()[:, None, :] + torch.cumsum(inputs.double() * DT, 1)
        hidden = self.units(pos)
        if knockout is not None:
            keep = torch.ones(hidden.shape[-1], dtype=hidden.dtype)
            keep[torch.as_tensor(knockout, dtype=torch.long)] = 0.0
            hidden = hidden * keep
        gate = (hidden[..., :N_GRID].abs().sum(-1, keepdim=True) > 0).to(pos.dtype)
        return gate * pos, hidden.float()

    def decode(self, outputs):
        return outputs


@pytest.fixture(scope="module")
def exact():
    traj = simulate_trajectories(1500, 20, size=BOX, seed=3)
    return ExactIntegrator(), traj, run_paths(ExactIntegrator(), traj)


def test_exact_integrator_grid_units_are_grid_cells_and_carry_the_position(exact):
    module, traj, run = exact
    assert run.error.max() < 1e-5  # it integrates exactly (float32 inputs)
    maps = rate_maps(run, BOX)
    assert maps.shape == (N_GRID + N_BORDER, 44, 44)
    store = rate_map_store(maps, "exact", 0.05, arena="square", box=BOX, n_paths=traj.batch, steps=20, seed=3)
    scores = spatial_scores(store, n_shuffles=0)
    grid, border = scores["grid_score"].values, scores["border_score"].values
    assert (grid[:N_GRID] > 0.3).all(), grid
    assert (grid[N_GRID:] < 0.3).all() and (border[N_GRID:] > 0.5).all(), (grid, border)
    held = [simulate_trajectories(200, 20, size=BOX, seed=np.random.default_rng([3, r])) for r in range(2)]
    ko = knockout_errors(module, held, {"grid": grid, "border": border}, N_GRID, seed=0)
    err = ko["error"]
    assert list(ko["knockout"].values) == ["none", "grid", "border", "random"]
    assert ko.attrs["n_units"] == N_GRID and ko["units"].sel(knockout="none").values.max() == -1
    assert sorted(ko["units"].sel(knockout="grid", repeat=0).values) == list(range(N_GRID))
    for r, traj_r in enumerate(held):
        random_units = set(ko["units"].sel(knockout="random", repeat=r).values.tolist())
        assert not set(range(N_GRID)) <= random_units  # some grid unit stays on
        assert err.sel(knockout="border", repeat=r) == err.sel(knockout="none", repeat=r)
        assert err.sel(knockout="random", repeat=r) == err.sel(knockout="none", repeat=r)
        # every grid unit off: decoded (0, 0), error = distance of the true position from the origin
        expected = np.linalg.norm(traj_r.position[:, 1:].astype(np.float32), axis=-1).mean()
        assert float(err.sel(knockout="grid", repeat=r)) == pytest.approx(expected, abs=1e-6)
    assert (ko["increase"].sel(knockout="grid") > 0.5).all()
    assert (ko["increase"].sel(knockout=["none", "border", "random"]) == 0).all()


def test_knockout_errors_refuses_bad_input(exact):
    from goalstore.errors import AnalysisInputError

    module, traj, _ = exact
    good = {"grid": np.zeros(N_GRID + N_BORDER), "border": np.zeros(N_GRID + N_BORDER)}
    with pytest.raises(AnalysisInputError, match="'border'"):
        knockout_errors(module, [traj], {"grid": good["grid"]}, 2)
    with pytest.raises(AnalysisInputError, match="n_units"):
        knockout_errors(module, [traj], good, 0)
    with pytest.raises(AnalysisInputError, match=r"scores\['grid'\]"):
        knockout_errors(module, [traj], {**good, "grid": np.zeros(3)}, 2)


def _tiny_integrator(**kw):
    from builders.path_integrator import PathIntegrator

    torch.manual_seed(0)
    return PathIntegrator(**{"hidden": 16, "cell": "ugrnn", "n_place_cells": 64, **kw}).eval()


def test_run_paths_shapes_chunks_and_determinism():
    torch.set_num_threads(1)
    module = _tiny_integrator()
    traj = simulate_trajectories(40, 8, seed=1)
    run = run_paths(module, traj)
    assert run.hidden.shape == (40, 8, 16) and run.hidden.dtype == np.float32
    assert run.decoded.shape == run.true.shape == (40, 8, 2) and run.error.shape == (40, 8)
    np.testing.assert_array_equal(run.true, traj.position[:, 1:].astype(np.float32))
    np.testing.assert_allclose(run.error, np.linalg.norm(run.decoded - run.true, axis=-1), atol=1e-6)
    chunked = run_paths(module, traj, batch=7)
    np.testing.assert_allclose(chunked.hidden, run.hidden, atol=1e-6)
    np.testing.assert_array_equal(run_paths(module, traj).hidden, run.hidden)
    ko = run_paths(module, traj, knockout=np.array([0, 5]))
    assert (ko.hidden[..., [0, 5]] == 0).all() and not np.array_equal(ko.hidden, run.hidden)
    mean, sem = error_by_step(run.error)
    assert mean.shape == sem.shape == (8,)
    np.testing.assert_allclose(mean, run.error.mean(0), rtol=1e-6)
    np.testing.assert_allclose(sem, run.error.std(0, ddof=1) / np.sqrt(40), rtol=1e-5)


def test_rate_maps_bins_and_circle_arena():
    module = _tiny_integrator()
    traj = simulate_trajectories(60, 10, arena="circle", seed=2)
    maps = rate_maps(run_paths(module, traj), BOX, 0.1)
    assert maps.shape == (16, 22, 22)
    assert np.isnan(maps[:, 0, 0]).all() and np.isnan(maps[:, -1, -1]).all()  # corners lie outside the disc
    one = run_paths(module, simulate_trajectories(1, 1, seed=0))  # one sample: its bin holds its activation
    single = rate_maps(one, BOX)
    ix, iy = ((one.true[0, 0] + BOX / 2) // 0.05).astype(int)
    np.testing.assert_allclose(single[:, ix, iy], one.hidden[0, 0], rtol=1e-6)
    assert np.isfinite(single).sum() == 16


def test_held_out_paths_follow_the_training_config():
    training = {"seed": 4, "steps": 6, "arena": "circle", "box": 1.5}
    a, b = held_out_paths(training, 5), held_out_paths(training, 5)
    np.testing.assert_array_equal(a.position, b.position)
    assert a.steps == 6 and a.arena == "circle" and a.size == 1.5
    other = held_out_paths(training, 5, steps=3, arena="square", box=2.0, seed_offset=2)
    assert other.steps == 3 and other.arena == "square" and other.size == 2.0
    assert not np.array_equal(held_out_paths(training, 5, seed_offset=2).position, a.position)


# ------------------------------------------------------------------ recipe path-integrator-maps
TINY = {"cell": "ugrnn", "hidden": 32, "batch_size": 32, "iterations": 20, "test_paths": 16, "seed": 0}


def _run(capsys, *argv):
    from goalstore.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def tiny_weights():
    """A tiny trained path integrator (recipe path-integrator's produce, in process: seconds)."""
    from goalstore.recipes.path_integrator import TrainPathIntegrator, produce_path_integrator

    torch.set_num_threads(1)
    return produce_path_integrator(None, TrainPathIntegrator(**TINY))["path-integrator-tiny"].obj


@pytest.mark.slow  # two datalad runs (~25 s); test_recipe_untrained_control_and_cache covers it in process
def test_recipe_builds_rate_maps_that_spatial_scores_accepts(home, capsys, tiny_weights):
    import goalstore
    from goalstore.recipes.path_integrator_maps import maps_name
    from goalstore.store import StoreRoot

    StoreRoot(home).write("pi", tiny_weights)
    code, out = _run(capsys, "build", "path-integrator-maps", "--param", "model=pi", "--param", "paths=300",
                     "--param", "bin_size_cm=10", "--json")
    assert code == 0, out
    name = maps_name({"model": "pi", "paths": 300, "bin_size_cm": 10})
    assert set(json.loads(out)) == {name} and name.startswith("rate-maps-pi-")
    maps = goalstore.open(name, home=home)
    assert maps["rate"].dims == ("unit", "x", "y") and maps.sizes == {"unit": 32, "x": 22, "y": 22}
    assert maps.attrs["model_weights_hash"] == tiny_weights.attrs["weights_hash"] and maps.attrs["steps"] == 20
    assert maps.attrs["kind"] == "recording" and maps.attrs["species"] == "model"
    code, out = _run(capsys, "analyze", "spatial-scores", name, "--shuffles", "0", "--json")
    assert code == 0, out
    assert json.loads(out)["n_cells"] == 32


def test_recipe_untrained_control_and_cache(home, tiny_weights):
    from goalstore.analyses.path_integration import untrained_control
    from goalstore.recipes import get_recipe
    from goalstore.store import StoreRoot

    torch.set_num_threads(1)
    # the untrained control is the recipe path-integrator's control: its measured held-out error
    control = untrained_control(tiny_weights)
    traj = held_out_paths(tiny_weights.attrs["training"], TINY["test_paths"])
    assert float(run_paths(control, traj).error.mean()) == pytest.approx(
        tiny_weights.attrs["metrics"]["control_decoding_error_m"], rel=1e-5)
    root = StoreRoot(home)
    root.write("pi", tiny_weights)
    spec = get_recipe("path-integrator-maps")
    made = {}
    for untrained in (False, True):
        p = spec.check(spec.resolve({"model": "pi", "paths": 100, "bin_size_cm": 20, "untrained": untrained}),
                       root)
        assert p.weights_hash == tiny_weights.attrs["weights_hash"]
        (name, product), = spec.produce(root, p).items()
        made[untrained] = product.obj
        meta = root.write(name, product.obj, kind="recording")
        assert spec.cached(p, meta) and not spec.cached(p, {**meta, "model_weights_hash": "other"})
    assert made[True].attrs["untrained"] == 1 and made[False].attrs["untrained"] == 0
    assert spatial_scores(made[False], n_shuffles=0).sizes["unit"] == 32
    assert not np.allclose(made[True]["rate"].values, made[False]["rate"].values, equal_nan=True)


def test_recipe_refuses_bad_parameters_and_non_path_integrators(home, capsys, recording):
    from goalstore.store import StoreRoot

    root = StoreRoot(home)
    root.write("rec", recording)
    for param, field in (("model=rec", "'rec'"), ("model=", "'model'"), ("paths=0", "'paths'"),
                         ("arena=hexagon", "'arena'"), ("bin_size_cm=0", "'bin_size_cm'")):
        extra = [] if param.startswith("model") else ["--param", "model=rec"]
        code, out = _run(capsys, "build", "path-integrator-maps", "--param", param, *extra, "--json")
        error = json.loads(out)["error"]
        assert code != 0 and field in error and "\n" not in error, (param, error)


def test_recipe_refuses_a_model_that_is_not_a_path_integrator(monkeypatch):
    from goalstore import entries
    from goalstore.errors import AnalysisInputError
    from goalstore.recipes import get_recipe

    monkeypatch.setattr(entries, "describe", lambda name, root: {"name": name, "kind": "model",
                                                                 "architecture": "knet4", "weights_hash": "x"})
    spec = get_recipe("path-integrator-maps")
    with pytest.raises(AnalysisInputError, match="entry 'net': architecture 'knet4'") as info:
        spec.check(spec.resolve({"model": "net"}), None)
    assert "\n" not in str(info.value)
