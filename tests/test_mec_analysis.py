"""``goalstore analyze mec``: known answers of the result assembly (a model equal to the recording), the
whole command on a tiny trained path integrator with its untrained control and a rate-map control, and
bad input refused in one line before anything runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import goalstore
from goalstore.analyses.mec_result import MecConfig, ModelRow, mec_result, parse_arenas, summary
from goalstore.cli import main
from goalstore.errors import AnalysisInputError
from goalstore.sources.rate_maps import synthetic_rate_maps
from goalstore.store import StoreRoot

NO_TESTS = MecConfig(n_splits=3, shuffles=0, seed=0)


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_model_equal_to_the_recording_is_consistent_and_has_the_same_score_distribution():
    data = synthetic_rate_maps(n_bins=20, seed=0)
    other = synthetic_rate_maps(n_bins=20, seed=7)
    rows = [ModelRow("same", data, "rate maps"), ModelRow("other", other, "rate maps")]
    result = mec_result(rows, data, NO_TESTS)
    same, diff = result.isel(model=0), result.isel(model=1)
    assert float(same["consistency"]) > 0.99
    assert float(same["ks_grid"]) == 0.0 and float(same["ks_border"]) == 0.0
    assert float(diff["consistency"]) < float(same["consistency"])
    # 4 of the 12 synthetic maps are hexagonal grids, 4 border cells (sources.rate_maps.synthetic_rate_maps)
    assert float(same["grid_fraction"]) == pytest.approx(4 / 12)
    np.testing.assert_array_equal(result["data_grid_score"].values, same["grid_score"].values)
    assert np.isnan(result["decoding_error"].values).all()  # no network: no decoding, no knockouts
    report = summary(result)
    assert report["models"]["same"]["ks_grid"] == 0.0 and "knockout_increase_m" not in report["models"]["same"]


def test_arenas_are_parsed_and_bad_ones_refused():
    assert parse_arenas("square:1.5, circle:2.2,track:2") == (("square", 1.5), ("circle", 2.2), ("track", 2.0))
    assert parse_arenas("") == ()
    for bad in ("hexagon:1", "square", "square:-1", "circle:x"):
        with pytest.raises(AnalysisInputError, match="test_arenas"):
            parse_arenas(bad)


def test_a_network_row_decodes_knocks_out_and_generalises():
    """In process, an untrained 16-unit path integrator: the network columns are filled and consistent."""
    from builders.path_integrator import build_path_integrator
    from goalstore.analyses.path_integration import held_out_paths, rate_map_store, rate_maps, run_paths

    torch.manual_seed(0)
    module = build_path_integrator(hidden=16, cell="ugrnn").eval()
    training = {"steps": 10, "arena": "square", "box": 2.2, "seed": 0}
    run = run_paths(module, held_out_paths(training, 200, seed_offset=2))
    maps = rate_map_store(rate_maps(run, 2.2), "net", 0.05, arena="square", box=2.2, n_paths=200, steps=10,
                          seed=2)
    cfg = MecConfig(test_paths=12, repeats=3, knockout_units=2, test_arenas=(("track", 2.2),), shuffles=0)
    result = mec_result([ModelRow("net", maps, "untrained", module, training)], None, cfg)
    r = result.isel(model=0)
    assert r["error_by_step"].shape == (10,) and np.isfinite(r["error_by_step"]).all()
    assert float(r["decoding_error"]) == pytest.approx(float(r["error_by_step"].mean()))
    # the intact network's error per repeat, averaged over repeats, is the decoding error
    assert float(r["knockout_error"].isel(knockout=0).mean()) == pytest.approx(float(r["decoding_error"]))
    assert int(r["knockout_units"]) == 2 and np.isfinite(r["arena_error"]).all()
    assert "consistency" not in result
    again = mec_result([ModelRow("net", maps, "untrained", module, training)], None, cfg)
    np.testing.assert_array_equal(again["knockout_error"].values, result["knockout_error"].values)
    too_many = MecConfig(test_paths=12, repeats=2, knockout_units=16, test_arenas=(), shuffles=0)
    with pytest.raises(AnalysisInputError, match="knockout_units 16"):
        mec_result([ModelRow("net", maps, "untrained", module, training)], None, too_many)


@pytest.mark.slow
def test_analyze_mec_end_to_end(home, capsys, tmp_path):
    """A tiny UGRNN (32 units, 40 iterations), its untrained control and the synthetic maps as a rate-map
    model, against synthetic 'recorded' maps: every part of the report is there and consistent."""
    torch.set_num_threads(1)
    root = StoreRoot(home)
    root.write("virtual-mec", synthetic_rate_maps(n_bins=20, seed=3), kind="recording")
    root.write("rate-map-model", synthetic_rate_maps(n_bins=20, seed=4), kind="recording")
    code, out, err = _run(capsys, "build", "path-integrator", "--param", "cell=ugrnn", "--param", "hidden=32",
                          "--param", "iterations=40", "--param", "batch_size=32", "--param", "test_paths=16",
                          "--json")
    assert code == 0, err
    code, out, err = _run(capsys, "analyze", "mec", "path-integrator-tiny", "rate-map-model", "--recording",
                          "virtual-mec", "--paths", "300", "--test-paths", "24", "--repeats", "2",
                          "--splits", "2",
                          "--shuffles", "0", "--test-arenas", "square:1.1,track:2.2", "--out", str(tmp_path),
                          "--json")
    assert code == 0, err
    report = json.loads(out)
    assert list(report["models"]) == ["path-integrator-tiny", "path-integrator-tiny (untrained)",
                                      "rate-map-model"]
    trained = report["models"]["path-integrator-tiny"]
    control = report["models"]["path-integrator-tiny (untrained)"]
    assert trained["n_units"] == control["n_units"] == 32 and trained["knockout_units"] == 3
    assert set(trained["knockout_increase_m"]) == {"grid", "border", "random"}
    assert len(trained["error_by_step_m"]) == 20
    assert set(trained["arena_error_m"]) == {"square:1.1", "track:2.2"}
    assert all(-1 <= e["consistency"] <= 1 and 0 <= e["ks_grid"] <= 1 for e in report["models"].values())
    assert report["models"]["rate-map-model"]["decoding_error"] is None
    # the held-out error of the analysis agrees with the model store's own measurement in size
    stored = goalstore.describe("path-integrator-tiny", home=home)["metrics"]
    assert trained["decoding_error"] == pytest.approx(stored["decoding_error_m"], rel=0.5)
    assert control["decoding_error"] == pytest.approx(stored["control_decoding_error_m"], rel=0.5)
    assert sorted(p.rsplit("/", 1)[-1] for p in report["figures"]) == [
        "mec_error_by_step.png", "mec_knockouts.png", "mec_rate_maps.png", "mec_scores.png"]
    result = goalstore.open(report["store"], home=home)
    increase = result["knockout_increase"].isel(model=0, knockout=0).values
    np.testing.assert_array_equal(increase, 0.0)  # "none" against itself
    # the rate maps are reused (content-addressed), and the text form renders
    code, out, err = _run(capsys, "analyze", "mec", "path-integrator-tiny", "--paths", "300",
                          "--test-paths", "24",
                          "--repeats", "2", "--shuffles", "0", "--test-arenas", "")
    assert code == 0, err
    assert "path-integrator-tiny (untrained)" in out and "KO grid" in out


@pytest.mark.parametrize("argv, message", [
    (["nope"], "nope"),
    (["virtual-mec", "virtual-mec"], "more than once"),
    (["virtual-mec", "--test-arenas", "hexagon:2"], "test_arenas"),
    (["virtual-mec", "--repeats", "1"], "repeats"),
    (["virtual-mec", "--train-fraction", "1.5"], "train_fraction"),
    (["virtual-mec", "--recording", "nope"], "nope"),
    (["virtual-mec", "--mapping", "bogus"], "mapping"),
])
def test_bad_input_is_refused_in_one_line(home, capsys, argv, message):
    StoreRoot(home).write("virtual-mec", synthetic_rate_maps(n_bins=20, seed=3), kind="recording")
    code, _, err = _run(capsys, "analyze", "mec", *argv)
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and message in lines[0], err


def test_rate_map_models_only(home, capsys):
    """No network: no decoding, knockout or arena columns, and the store still validates."""
    StoreRoot(home).write("virtual-mec", synthetic_rate_maps(n_bins=20, seed=3), kind="recording")
    code, out, err = _run(capsys, "analyze", "mec", "virtual-mec", "--recording", "virtual-mec",
                          "--shuffles", "0",
                          "--splits", "2", "--json")
    assert code == 0, err
    entry = json.loads(out)["models"]["virtual-mec"]
    assert entry["consistency"] > 0.99 and entry["ks_grid"] == 0.0 and entry["decoding_error"] is None
