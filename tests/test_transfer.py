"""Transfer read-outs (`goalstore analyze transfer`, thesis §3.4.3): known answers on generated
activations, circular pose, determinism, the result store, figures, the CLI and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from goalstore.analyses.transfer import circular_correlation, readout_targets, summary, transfer_readouts
from goalstore.errors import AnalysisInputError
from goalstore.schema import store_attrs
from goalstore.schema.arrays import validate_array

N_CATEGORIES, PER_CATEGORY = 4, 24
FAST = dict(n_splits=4, seed=0)


def stimulus_coords(seed: int = 0, n_categories: int = N_CATEGORIES, per_category: int = PER_CATEGORY) -> dict:
    """Category, rotation (deg), position and size of ``n_categories × per_category`` stimuli, as coords."""
    rng = np.random.default_rng(seed)
    n = n_categories * per_category
    return {"stimulus_id": ("stimulus", [f"s{i:03d}" for i in range(n)]),
            "category": ("stimulus", [f"cat{i // per_category}" for i in range(n)]),
            "rotation": ("stimulus", rng.uniform(-180, 180, n), {"units": "deg"}),
            "position_x": ("stimulus", rng.uniform(-0.2, 0.2, n), {"units": "image fraction"}),
            "position_y": ("stimulus", rng.uniform(-0.2, 0.2, n), {"units": "image fraction"}),
            "size": ("stimulus", rng.uniform(0.4, 0.8, n), {"units": "image fraction"})}


def synthetic_activations(seed: int = 0, units: int = 30, time_bins: int = 0) -> xr.Dataset:
    """Ground truth: layer ``A`` = a random linear embedding of the category (one-hot) and of the size,
    plus noise of s.d. 0.5; layer ``B`` = noise only.  With ``time_bins``, ``A`` carries its signal in
    the last bin only (earlier bins are noise)."""
    rng = np.random.default_rng(seed + 1)
    coords = stimulus_coords(seed)
    n = len(coords["stimulus_id"][1])
    codes = np.repeat(np.arange(N_CATEGORIES), PER_CATEGORY)
    size = (coords["size"][1] - 0.6) / 0.12
    signal = np.eye(N_CATEGORIES)[codes] @ rng.normal(0, 1, (N_CATEGORIES, units)) \
        + size[:, None] * rng.normal(0, 1, units)
    a = signal + rng.normal(0, 0.5, (n, units))
    b = rng.normal(0, 1, (n, units))
    values = np.concatenate([a, b], axis=1)
    dims = ("stimulus", "unit")
    if time_bins:
        noise = rng.normal(0, 1, (n, 2 * units, time_bins))
        noise[..., -1] = values
        values, dims = noise, ("stimulus", "unit", "time_bin")
        coords.update(time_bin_start=("time_bin", np.arange(time_bins) * 10.0, {"units": "ms"}),
                      time_bin_end=("time_bin", np.arange(1, time_bins + 1) * 10.0, {"units": "ms"}))
    layer = np.repeat(["A", "B"], units)
    coords.update(unit_id=("unit", [f"{k}{i}" for i, k in enumerate(layer)]), layer=("unit", layer),
                  area=("unit", layer), animal=("unit", np.full(2 * units, "net")))
    return xr.Dataset({"activation": (dims, values.astype(np.float32), {"units": "a.u."})}, coords=coords,
                      attrs=store_attrs("activations", species="model", modality="model activations",
                                        source="tests", license="CC0-1.0", citation="none", model="net"))


@pytest.fixture(scope="module")
def result() -> xr.Dataset:
    return transfer_readouts(synthetic_activations(), targets=["category", "size", "position_x"], **FAST)


def test_known_answer_category_and_size_from_a_not_from_noise(result):
    score = pd.DataFrame(result["score"].values, index=result["layer_name"].values,
                         columns=result["target_name"].values)  # layer × target
    assert list(result["layer_name"].values) == ["A", "B"]
    assert list(result["target_metric"].values) == ["accuracy", "pearson_r", "pearson_r"]
    assert result["chance"].sel(target=0).item() == pytest.approx(1 / N_CATEGORIES)
    assert score.loc["A", "category"] > 0.95 and score.loc["A", "size"] > 0.9
    assert abs(score.loc["B", "category"] - 1 / N_CATEGORIES) < 0.15  # chance
    assert abs(score.loc["B", "size"]) < 0.25 and abs(score.loc["A", "position_x"]) < 0.25  # not encoded
    assert result.sizes == {"layer": 2, "target": 3, "split": 4}
    assert np.all(result["score_sem"].values >= 0) and np.all(result["score_sem"].values < 0.2)
    assert np.isnan(result["ridge_alpha"].isel(target=0)).all()
    assert (result["ridge_alpha"].isel(target=1) > 0).all()
    assert list(result["n_units"].values) == [30, 30]
    validate_array(result.assign_attrs(store_attrs("result", species="model", modality="transfer", source="t",
                                                   license="CC0-1.0", citation="none")), "result")


def test_summary_picks_the_encoding_layer(result):
    out = summary(result)
    assert out["targets"]["category"]["best_layer"] == "A" and out["targets"]["size"]["best_layer"] == "A"
    assert out["targets"]["category"]["chance"] == pytest.approx(0.25)
    json.dumps(out)


def test_pca_reduction_keeps_the_answer_and_caps_components():
    out = transfer_readouts(synthetic_activations(), targets=["category", "size"], n_components=5, **FAST)
    assert list(out["n_features"].values) == [5, 5]
    assert out["score"].sel(layer=0).values.min() > 0.85


def test_circular_pose_wraps_around():
    """Angles across 0° (350° and 10° are 20° apart): features that encode the pose as a point on the
    circle decode it almost perfectly whether angles are written as 350° or −10° (same scores); a
    plain linear read-out of the raw degrees 0…360 fails on the jump from 359° to 0°."""
    rng = np.random.default_rng(3)
    ds = synthetic_activations()
    n = ds.sizes["stimulus"]
    theta = rng.uniform(-40, 40, n)  # −40° … 40°: across the wrap of 0°/360°
    rad = np.radians(theta)
    pose = np.stack([np.cos(rad), np.sin(rad)], 1) @ rng.normal(0, 1, (2, 30)) + rng.normal(0, 0.05, (n, 30))
    ds["activation"].values[:, :30] = pose
    kw = dict(targets=["rotation"], layers=["A"], stratify=None, **FAST)
    wrapped = transfer_readouts(ds.assign_coords(rotation=("stimulus", theta % 360, {"units": "deg"})), **kw)
    signed = transfer_readouts(ds.assign_coords(rotation=("stimulus", theta, {"units": "deg"})), **kw)
    assert wrapped["target_kind"].item() == "circular" and wrapped["target_metric"].item() == "circular_r"
    assert wrapped["score"].item() > 0.95
    np.testing.assert_allclose(wrapped["score_split"].values, signed["score_split"].values, atol=1e-9)
    linear = transfer_readouts(ds.assign_coords(rotation=("stimulus", theta % 360)), **kw)  # no units
    assert linear["target_kind"].item() == "linear" and linear["score"].item() < wrapped["score"].item() - 0.1


def test_circular_correlation_known_values():
    a = np.radians([350.0, 10, 20, 340, 30, 0])
    assert circular_correlation(a, a) == pytest.approx(1.0)
    assert circular_correlation(a, a - 2 * np.pi) == pytest.approx(1.0)
    assert circular_correlation(a, -a) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    assert abs(circular_correlation(rng.uniform(0, 6.3, 2000), rng.uniform(0, 6.3, 2000))) < 0.1


def test_deterministic_given_the_seed_and_per_time_bin():
    ds = synthetic_activations(time_bins=3)
    one = transfer_readouts(ds, targets=["category"], temporal="per_bin", **FAST)
    two = transfer_readouts(ds, targets=["category"], temporal="per_bin", **FAST)
    xr.testing.assert_identical(one, two)
    other = transfer_readouts(ds, targets=["category"], temporal="per_bin", n_splits=4, seed=1)
    assert not np.array_equal(one["score_split"].values, other["score_split"].values)
    a = one["score"].sel(layer=0, target=0).values  # signal in the last bin only
    assert a[-1] > 0.95 and a[0] < 0.5 and one["score"].dims == ("layer", "target", "time_bin")
    mean = transfer_readouts(ds, targets=["category"], **FAST)
    assert "time_bin" not in mean.dims and mean["score"].sel(layer=0).item() > 0.6


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(targets=["pose"]), "no stimulus coordinate 'pose'"),
    (dict(layers=["C"]), "layers: C not in the activations"),
    (dict(temporal="fixed"), "temporal 'fixed'"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(stratify="object_name"), "stratify: no stimulus coordinate 'object_name'"),
    (dict(targets=["size", "size"]), "size given more than once"),
    (dict(temporal="per_bin"), "temporal per_bin: the activations have no dim 'time_bin'"),
])
def test_bad_input_refused(kwargs, message):
    with pytest.raises(AnalysisInputError, match=message):
        transfer_readouts(synthetic_activations(units=4), **kwargs)


def test_targets_refuse_constant_and_missing_values():
    ds = xr.Dataset(coords={"stimulus_id": ("stimulus", ["a", "b", "c"]), "size": ("stimulus", [1.0, 1, 1]),
                            "x": ("stimulus", [1.0, np.nan, 2])})
    with pytest.raises(AnalysisInputError, match="'size' is constant"):
        readout_targets(ds, ["size"])
    with pytest.raises(AnalysisInputError, match="'x' has missing"):
        readout_targets(ds, ["x"])


# ------------------------------------------------------------------ recipe and command line
def _tiny_objects_and_model(home) -> None:
    from goalstore.cli import main

    assert main(["build", "embedded-objects", "--param", "n_categories=3", "--param", "objects_per_category=2",
                 "--param", "views_per_object=6", "--param", "size=16"]) == 0
    assert main(["build", "model", "--param", "name=tiny", "--param", "input_size=16", "--param", "width=0.125",
                 "--param", "epochs=1", "--param", "batch_size=16"]) == 0


@pytest.mark.slow  # three datalad runs (stimuli, model, extraction) and the analysis: ~40 s on 2 shared cores
def test_cli_transfer_on_a_model_store_trained_on_embedded_objects(home, tmp_path, capsys):
    import goalstore
    from goalstore.cli import main

    _tiny_objects_and_model(home)
    capsys.readouterr()
    argv = ["analyze", "transfer", "tiny", "--stimuli", "embedded-objects", "--splits", "3",
            "--reduce", "pca:8", "--out", str(tmp_path / "figs"), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["targets"]) == ["category", "rotation", "position_x", "position_y", "size"]
    assert report["targets"]["rotation"]["metric"] == "circular_r"
    assert report["targets"]["category"]["chance"] == pytest.approx(1 / 3)
    layers = report["layers"]
    assert len(layers) >= 3 and all(row["score"] is not None for row in report["targets"]["category"]["layers"])
    assert [p.split("/")[-1] for p in report["figures"]] == ["transfer_per_layer.png"]
    result = goalstore.open(report["store"])
    assert result.attrs["model"] == "tiny" and result.attrs["activation_store"].startswith("act-tiny-")
    assert result["score_split"].sizes["split"] == 3
    assert main(argv[:-1]) == 0  # the text table; the same result, no new version
    text = capsys.readouterr().out
    assert "category (accuracy)" in text and "chance" in text and layers[-1] in text


def test_cli_refuses_bad_input_with_one_line(home, capsys):
    from goalstore.cli import main
    from goalstore.store import StoreRoot

    root = StoreRoot(home)
    act = synthetic_activations(units=4)
    root.write("act", act, kind="activations")
    stim = xr.Dataset({"image": (("stimulus", "channel", "height", "width"),
                                 np.zeros((act.sizes["stimulus"], 1, 4, 4), np.uint8), {"units": "1"})},
                      coords={**{k: ("stimulus", act[k].values) for k in ("stimulus_id", "category", "size")},
                              "channel_name": ("channel", ["L"])},
                      attrs=store_attrs("stimuli", species="none", modality="images", source="t",
                                        license="CC0-1.0", citation="none"))
    root.write("stim", stim, kind="stimuli")
    capsys.readouterr()
    for argv, code, message in [
        (["act", "--stimuli", "stim"], 12, "stimuli 'stim': no stimulus coordinate 'rotation' to decode"),
        (["act", "--layers", "A,Z"], 12, "layers: Z not in activation store 'act'"),
        (["act", "--targets", "size", "--reduce", "svd:3"], 12, "reduce 'svd:3'"),
        (["act", "--targets", "size", "--test-fraction", "1.5"], 12, "--test-fraction 1.5"),
        (["act", "--targets", "size", "--stratify", "object_name"], 12, "no stimulus coordinate 'object_name'"),
        (["act", "--targets", "size", "--temporal", "per_bin"], 12, "--temporal per_bin: 'act' has no time"),
        (["stim"], 12, "expected model or activations"),
        (["nope"], 4, "nope"),
    ]:
        assert main(["analyze", "transfer", *argv]) == code, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (argv, err)
    assert root.registered("act") is not None


def test_recipe_on_an_activations_store_writes_a_valid_result(home, tmp_path):
    import goalstore.api as api
    from goalstore.recipes.transfer import Transfer, render, store_name

    goalstore_root = api._root(home)
    goalstore_root.write("act", synthetic_activations(), kind="activations")
    report = api.analyze("transfer", home=home, out=tmp_path / "figs", model="act", targets="category,size",
                         n_splits=3)
    assert report["targets"]["category"]["best_layer"] == "A"
    assert report["targets"]["category"]["layers"][0]["score"] > 0.9
    assert report["store"] == store_name(Transfer(model="act", targets="category,size", n_splits=3))
    assert report["store"] != store_name(Transfer(model="act", targets="category,size", n_splits=3, seed=1))
    text = render(report, Transfer(model="act"))
    assert "size (pearson_r)" in text and "best layer" in text
    assert (tmp_path / "figs" / "transfer_per_layer.png").exists()
