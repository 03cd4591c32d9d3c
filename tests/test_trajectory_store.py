"""The ``trajectories`` store (schema rule 14) and its recipe (``goalstore build trajectories``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import goalstore
from goalstore.cli import main
from goalstore.errors import SchemaError
from goalstore.recipes.trajectories import SimulatedTrajectories, trajectories_dataset
from goalstore.schema import validate_array
from goalstore.store import StoreRoot
from goalstore.versioning import git


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_build_trajectories_is_valid_deterministic_and_integrates(home, capsys):
    code, out = _run(capsys, "build", "trajectories", "--param", "n_paths=3", "--param", "n_steps=20",
                     "--param", "arena=circle", "--param", "size=1.0", "--param", "seed=4", "--json")
    assert code == 0, out
    built = json.loads(out)["trajectories"]
    assert built["kind"] == "trajectories" and built["sizes"] == {"path": 3, "step": 20}
    stored = goalstore.open("trajectories", home=home).load()
    validate_array(stored, "trajectories")
    assert stored.attrs["arena"] == "circle" and stored.attrs["seed"] == 4 and stored.attrs["dt"] == 0.02
    # inside the circle; the recorded velocity integrates the positions exactly
    assert np.all(np.hypot(stored["x"], stored["y"]) <= 0.5 + 1e-12)
    x, vx, dt = stored["x"].values, stored["vx"].values, stored.attrs["dt"]
    np.testing.assert_allclose(x[:, 1:], x[:, :-1] + vx[:, :-1] * dt, atol=1e-12)
    np.testing.assert_allclose(stored["speed"], np.hypot(stored["vx"], stored["vy"]))
    again = trajectories_dataset(SimulatedTrajectories(n_paths=3, n_steps=20, arena="circle", size=1.0, seed=4))
    for name in again.data_vars:
        np.testing.assert_array_equal(stored[name].values, again[name].values)
    other = trajectories_dataset(SimulatedTrajectories(n_paths=3, n_steps=20, arena="circle", size=1.0, seed=5))
    assert not np.array_equal(other["x"].values, again["x"].values)


def test_bad_parameters_are_refused_with_one_line(home, capsys):
    StoreRoot(home)
    head = git(home, "rev-parse", "HEAD").strip()
    for param, message in (("arena=hexagon", "'arena'"), ("size=-1", "'size'"), ("n_steps=0", "'n_steps'")):
        code, out = _run(capsys, "build", "trajectories", "--param", param, "--json")
        error = json.loads(out)["error"]
        assert code == 3 and message in error and "\n" not in error, (param, error)
    assert git(home, "rev-parse", "HEAD").strip() == head


@pytest.mark.parametrize("change, message", [
    (lambda ds: ds.drop_vars("vx"), "variable 'vx'"),
    (lambda ds: ds.assign(x=ds["x"].transpose("step", "path")), "variable 'x'"),
    (lambda ds: ds.assign_attrs(arena="hexagon"), "attr 'arena'"),
    (lambda ds: ds.assign_attrs(dt=0.0), "attr 'dt'"),
    (lambda ds: ds.assign(speed=ds["speed"].assign_attrs(units="cm/s")), "variable 'speed'"),
])
def test_schema_refuses_a_malformed_trajectories_store(change, message):
    ds = trajectories_dataset(SimulatedTrajectories(n_paths=2, n_steps=5))
    validate_array(ds, "trajectories")
    with pytest.raises(SchemaError, match=message):
        validate_array(change(ds), "trajectories")


def test_build_track_trajectories(home, capsys):
    """arena=track goes through the recipe and the schema (rule 14) and stays in the 0.1 m wide track."""
    code, out = _run(capsys, "build", "trajectories", "--param", "name=track", "--param", "n_paths=3",
                     "--param", "n_steps=50", "--param", "arena=track", "--param", "size=1.0", "--json")
    assert code == 0, out
    stored = goalstore.open("track", home=home).load()
    validate_array(stored, "trajectories")
    assert stored.attrs["arena"] == "track"
    assert np.abs(stored["y"].values).max() <= 0.05 and np.abs(stored["x"].values).max() <= 0.5
