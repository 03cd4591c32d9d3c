"""``goalstore build path-integrator``: a tiny trained path integrator as a model store, with its loss curve,
held-out decoding error and the untrained control's."""

from __future__ import annotations

import json

import torch

import goalstore
from goalstore.cli import main
from goalstore.recipes.path_integrator import TrainPathIntegrator, produce_path_integrator
from goalstore.store import StoreRoot
from goalstore.versioning import git

TINY = {"cell": "ugrnn", "hidden": 128, "batch_size": 32, "iterations": 60, "test_paths": 64, "seed": 0}


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_build_path_integrator_trains_and_beats_the_untrained_control(home, capsys):
    """Measured (UGRNN, 128 hidden, batch 32, 60 iterations): held-out error 0.64 m vs 0.90 m untrained."""
    torch.set_num_threads(1)
    params = [a for k, v in TINY.items() for a in ("--param", f"{k}={v}")]
    code, out = _run(capsys, "build", "path-integrator", *params, "--json")
    assert code == 0, out
    assert json.loads(out)["path-integrator-tiny"]["kind"] == "model"
    weights = goalstore.open("path-integrator-tiny", home=home)
    attrs = weights.attrs
    assert attrs["architecture"] == "path-integrator" and attrs["input_shape"] == [20, 2]
    training, metrics = attrs["training"], attrs["metrics"]
    assert len(training["loss_curve"]) == 60 and training["loss_curve"][-1] < training["loss_curve"][0]
    assert metrics["decoding_error_m"] < 0.8 * metrics["control_decoding_error_m"], metrics
    # deterministic: the recipe run again gives the same weights and metrics
    again = produce_path_integrator(None, TrainPathIntegrator(**TINY))["path-integrator-tiny"].obj
    assert again.attrs["weights_hash"] == attrs["weights_hash"] and again.attrs["metrics"] == metrics


def test_bad_parameters_are_refused_with_one_line(home, capsys):
    StoreRoot(home)
    head = git(home, "rev-parse", "HEAD").strip()
    for param, field in (("cell=transformer", "'cell'"), ("test_paths=0", "'test_paths'"),
                         ("iterations=-1", "'iterations'")):
        code, out = _run(capsys, "build", "path-integrator", "--param", param, "--json")
        error = json.loads(out)["error"]
        assert code == 3 and field in error and "\n" not in error, (param, error)
    assert git(home, "rev-parse", "HEAD").strip() == head


def test_the_arena_size_is_a_parameter_for_generalisation_tests():
    """``box`` sets the training arena and the place-cell box (0: the preset's 2.2 m)."""
    from goalstore.recipes.path_integrator import config_of

    assert config_of(TrainPathIntegrator()).box == 2.2
    small = config_of(TrainPathIntegrator(box=1.5))
    assert small.box == 1.5 and small.architecture_args()["box"] == 1.5
