"""Model-vs-brain leaderboard (`goalstore analyze predictivity`) and virtual animals that view images:
rankings with a known answer on generated data, the result's schema, figures, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from goalstore.analyses.predictivity import predictivity_leaderboard, summary
from goalstore.analyses.stimulus_splits import SplitScheme
from goalstore.errors import AnalysisInputError, SchemaError
from goalstore.schema import store_attrs
from goalstore.schema.arrays import validate_array
from goalstore.schema.vocabulary import DIMS
from goalstore.sources.virtual_animals import (
    viewing_features,
    virtual_animals,
    virtual_animals_viewing,
    virtual_model,
)

N_STIMULI = 96
FAST = dict(scheme=SplitScheme(n_splits=3, seed=0), n_draws=10, pooled=True)


def random_stimuli(n_categories: int = 4, objects: int = 3, views: int = 8, size: int = 32, channels: str = "L",
                   seed: int = 0) -> xr.Dataset:
    """A canonical stimuli store of random images labelled with categories, objects and a rotation."""
    rng = np.random.default_rng(seed)
    keys = [(c, o, v) for c in range(n_categories) for o in range(objects) for v in range(views)]
    image = rng.integers(0, 256, (len(keys), len(channels), size, size), dtype=np.uint8)
    return xr.Dataset(
        {"image": (("stimulus", "channel", "height", "width"), image, {"units": "1"})},
        coords={"stimulus_id": ("stimulus", [f"obj-cat{c}-obj{o}-{v:02d}" for c, o, v in keys]),
                "category": ("stimulus", [f"cat{c}" for c, _, _ in keys]),
                "object_name": ("stimulus", [f"obj{o}" for _, o, _ in keys]),
                "rotation": ("stimulus", rng.uniform(0, 360, len(keys)), {"units": "deg"}),
                "channel_name": ("channel", list(channels) if channels == "L" else ["R", "G", "B"])},
        attrs=store_attrs("stimuli", species="none", modality="images", source="tests.random_stimuli",
                          license="CC0-1.0", citation="none"),
    )


def activations(name: str, stimulus_ids: np.ndarray, layers: dict[str, np.ndarray]) -> xr.Dataset:
    """An activations dataset whose layers hold the given stimulus × feature arrays."""
    values = np.concatenate(list(layers.values()), axis=1).astype(np.float32)
    layer = np.concatenate([[k] * v.shape[1] for k, v in layers.items()])
    return xr.Dataset(
        {"activation": (("stimulus", "unit"), values, {"units": "a.u."})},
        coords={"stimulus_id": ("stimulus", stimulus_ids),
                "unit_id": ("unit", [f"{k}_u{i:03d}" for i, k in enumerate(layer)]),
                "animal": ("unit", np.full(len(layer), name)), "area": ("unit", layer),
                "layer": ("unit", layer)},
        attrs=store_attrs("activations", species="model", modality="model activations", source="tests",
                          license="CC0-1.0", citation="none", model=name, weights_hash=f"hash-{name}"),
    )


@pytest.fixture(scope="module")
def leaderboard() -> xr.Dataset:
    """Three virtual models of known similarity to the animals' shared features: ``full`` has layers of
    similarity 0, 0.5, 1; ``half`` 0, 0.5 (no layer2); ``weak`` a single layer of similarity 0.1."""
    kw = dict(n_stimuli=N_STIMULI, n_features=8, seed=3)
    recording = virtual_animals(units_per_animal=32, noise=0.5, **kw)
    models = {"weak": virtual_model(similarity=(0.1,), name="weak", **kw),
              "full": virtual_model(similarity=(0.0, 0.5, 1.0), name="full", **kw),
              "half": virtual_model(similarity=(0.0, 0.5), name="half", **kw)}
    models["full"].attrs.update(activation_store="act-full-x-0123456789", extraction_key="0123456789abcdef",
                                weights_hash="hash-full")
    return predictivity_leaderboard(recording, models, **FAST)


def test_leaderboard_ranks_models_by_their_known_similarity(leaderboard):
    r = leaderboard
    assert list(r["model_name"].values) == ["weak", "full", "half"]
    assert list(r["layer_name"].values) == ["layer0", "layer1", "layer2"]  # union, first-seen order
    assert r.sizes == {"model": 3, "layer": 3, "area": 2, "time_bin": 4}
    ranks = r["rank"].to_pandas()  # model × area
    assert (ranks.loc[1] == 1).all() and (ranks.loc[2] == 2).all() and (ranks.loc[0] == 3).all()
    full = r["predictivity_median"].isel(model=1).mean("time_bin")  # layer × area
    assert (full.isel(layer=0) < 0.2).all() and (full.isel(layer=1) < full.isel(layer=2)).all()
    assert (full.isel(layer=0) < full.isel(layer=1)).all()
    # predictivity ≈ sqrt(similarity) × ceiling: the similarity-1 layer reaches the ceiling (fraction ≈ 1)
    fraction = r["mean_fraction_of_ceiling"].values
    np.testing.assert_allclose(fraction[1], 1.0, atol=0.1)
    np.testing.assert_allclose(fraction[2], np.sqrt(0.5), atol=0.15)
    assert (fraction[0] < 0.5).all()
    assert np.isnan(r["predictivity_median"].isel(model=2, layer=2)).all()  # ``half`` has no layer2
    assert np.isnan(r["predictivity_median"].isel(model=0, layer=[1, 2])).all()
    assert json.loads(r.attrs["best_layers"])["full"] == {"IT": "layer2", "V4": "layer2"}
    assert (r["best_layer_index"].isel(model=1) == 2).all() and (r["best_layer_index"].isel(model=2) == 1).all()
    # fraction = best-layer median / ceiling, bin by bin
    np.testing.assert_allclose(r["fraction_of_ceiling"], r["best_layer_predictivity"] / r["ceiling"])
    assert r.attrs["models"] == ["weak", "full", "half"]
    assert r.attrs["activation_stores"] == ["", "act-full-x-0123456789", ""]
    assert r.attrs["extraction_keys"][1] == "0123456789abcdef" and r.attrs["weights_hashes"][1] == "hash-full"
    assert r.attrs["n_draws"] == 10 and r.attrs["pooled"] == 1 and "goalstore_version" in r.attrs


def test_leaderboard_is_a_valid_result_store_and_round_trips(leaderboard, tmp_path):
    attrs = store_attrs("result", species="virtual", modality="simulated multi-unit", source="tests",
                        license="CC0-1.0", citation="none")
    validate_array(leaderboard.assign_attrs(attrs), "result")
    assert set(leaderboard.dims) <= set(DIMS) and DIMS["model"].unique == "model_name"
    for name, var in leaderboard.data_vars.items():
        assert var.attrs.get("units") == "1" and var.attrs.get("description"), name
    from goalstore.store import StoreRoot

    root = StoreRoot(tmp_path / "store")
    root.write("leaderboard", leaderboard.assign_attrs(attrs), kind="result")
    back = root.open("leaderboard").load()
    xr.testing.assert_allclose(back, leaderboard)


def test_leaderboard_summary_and_figures(leaderboard, tmp_path):
    from goalstore.figures.predictivity import write_figures
    from goalstore.recipes.predictivity import Predictivity, render

    report = summary(leaderboard)
    ranking = report["areas"]["IT"]["ranking"]
    assert [row["model"] for row in ranking] == ["full", "half", "weak"]
    assert ranking[0]["best_layer"] == "layer2" and set(ranking[1]["layers"]) == {"layer0", "layer1"}
    assert abs(ranking[0]["fraction_of_ceiling"] - 1.0) < 0.1
    assert len(ranking[0]["per_time_bin"]["predictivity"]) == 4
    json.dumps(report)  # JSON-ready
    paths = write_figures(leaderboard, tmp_path / "figs")
    assert [p.name for p in paths] == ["predictivity_per_layer.png", "ranking.png"]
    from PIL import Image

    for path in paths:
        with Image.open(path) as image:
            assert image.size[0] > 400
    text = render({**report, "store": "predictivity-x", "version": 1, "figures": [str(p) for p in paths]},
                  Predictivity(recording="rec", models="weak,full,half"))
    assert "fraction of ceiling" in text and text.index("full") < text.index("weak")


def test_leaderboard_without_time_bins_and_with_a_temporally_fixed_mapping():
    kw = dict(n_stimuli=48, n_features=4, seed=1)
    recording = virtual_animals(units_per_animal=8, noise=0.5, n_time_bins=2, **kw)
    models = {"good": virtual_model(similarity=(1.0,), **kw), "bad": virtual_model(similarity=(0.0,), **kw)}
    flat = predictivity_leaderboard(recording.isel(time_bin=0, drop=True), models, **FAST)
    assert "time_bin" not in flat.dims and flat["ceiling"].dims == ("area",)
    assert list(flat["rank"].sel(model=0).values) == [1, 1] and list(flat["rank"].sel(model=1).values) == [2, 2]
    fixed = predictivity_leaderboard(recording, models, temporal="fixed", **FAST)
    assert fixed.attrs["temporal"] == "fixed" and fixed.sizes["time_bin"] == 2
    assert (fixed["mean_fraction_of_ceiling"].sel(model=0) > 0.8).all()
    assert summary(flat)["areas"]["IT"]["ranking"][0]["per_time_bin"] is None


def test_leaderboard_bad_input():
    recording = virtual_animals(n_stimuli=12, units_per_animal=4, n_features=3)
    with pytest.raises(AnalysisInputError, match="none given"):
        predictivity_leaderboard(recording, {})
    other = virtual_model(n_stimuli=12, n_features=3).assign_coords(
        stimulus_id=("stimulus", [f"other{i}" for i in range(12)]))
    with pytest.raises(AnalysisInputError, match="12 recorded stimuli are missing"):
        predictivity_leaderboard(recording, {"m": other}, n_draws=2)


# ------------------------------------------------------------ virtual animals viewing images
def test_virtual_animals_viewing_shapes_coords_and_determinism():
    stimuli = random_stimuli()
    rec = virtual_animals_viewing(stimuli, n_animals=2, units_per_animal=6, n_time_bins=3, n_trials=5,
                                  stimulus_set="random-images")
    validate_array(rec, "recording")
    assert rec["response"].dims == ("stimulus", "unit", "time_bin", "trial")
    assert rec["response"].shape == (96, 12, 3, 5)
    assert list(rec["stimulus_id"].values) == list(stimuli["stimulus_id"].values)
    assert (rec["category"].values == stimuli["category"].values).all()
    assert rec["rotation"].attrs["units"] == "deg"
    assert (rec["area"].values == ["V4"] * 3 + ["IT"] * 3 + ["V4"] * 3 + ["IT"] * 3).all()
    assert len(set(rec["unit_id"].values)) == 12
    assert rec.attrs["stimulus_set"] == "random-images"
    assert json.loads(rec.attrs["generator_config"])["it_mixture"]["category"] == 0.5
    again = virtual_animals_viewing(stimuli, n_animals=2, units_per_animal=6, n_time_bins=3, n_trials=5,
                                    stimulus_set="random-images")
    xr.testing.assert_identical(rec, again)
    other = virtual_animals_viewing(stimuli, n_animals=2, units_per_animal=6, n_time_bins=3, n_trials=5, seed=1)
    assert not np.allclose(rec["response"].values, other["response"].values)
    rgb = virtual_animals_viewing(random_stimuli(channels="RGB", size=24), n_animals=2, units_per_animal=4)
    assert rgb["response"].shape[:2] == (96, 8)


def test_virtual_animals_viewing_need_identity_coordinates():
    with pytest.raises(SchemaError, match="coordinate 'category'"):
        virtual_animals_viewing(random_stimuli().drop_vars("category"))


def test_viewing_ground_truth_ordering():
    """IT is predicted by category/object identity far better than by random features, and the
    generating features reach the ceiling; V4 is predicted by the convolutional stage, not by identity."""
    stimuli = random_stimuli()
    rec = virtual_animals_viewing(stimuli, units_per_animal=32)
    features = viewing_features(stimuli)
    ids = stimuli["stimulus_id"].values
    labels = stimuli["category"].values
    category = (labels[:, None] == np.unique(labels)[None]).astype(float)
    objects = np.char.add(stimuli["category"].values.astype(str), stimuli["object_name"].values.astype(str))
    identity = np.concatenate([category, (objects[:, None] == np.unique(objects)[None]).astype(float)], axis=1)
    models = {
        "generator": activations("generator", ids, {
            "it": np.concatenate([features["category"], features["object"], features["view"]], axis=1),
            "v4": features["v4"].reshape(len(ids), -1)}),
        "identity": activations("identity", ids, {"onehot": identity}),
        "random": activations("random", ids,
                              {"noise": np.random.default_rng(5).standard_normal((len(ids), 16))}),
    }
    r = predictivity_leaderboard(rec, models, **FAST)
    fraction = r["mean_fraction_of_ceiling"].to_pandas()  # model × area
    fraction.index = r["model_name"].values
    fraction.columns = r["area_name"].values
    assert fraction.loc["identity", "IT"] > 0.6 > 0.2 > fraction.loc["random", "IT"]
    assert abs(fraction.loc["generator", "IT"] - 1.0) < 0.2 and abs(fraction.loc["generator", "V4"] - 1.0) < 0.2
    assert fraction.loc["identity", "V4"] < 0.3
    # identity explains the category + object share (0.5 + 0.25) of IT's signal: predictivity ≈ sqrt(0.75)
    assert abs(fraction.loc["identity", "IT"] - np.sqrt(0.75)) < 0.15
    assert json.loads(r.attrs["best_layers"])["generator"] == {"IT": "it", "V4": "v4"}
    assert list(r["rank"].sel(area=list(r["area_name"].values).index("IT")).values) == [1, 2, 3]


# ------------------------------------------------------------ recipes: bad input, the demo recording
def _write_inputs(home, missing: int = 0):
    """A stimuli store (``missing`` images left out), a recording made on all images, and a model store."""
    from goalstore.activations.networks import build_untrained, weights_from_network
    from goalstore.store import StoreRoot

    stimuli = random_stimuli()
    root = StoreRoot(home)
    root.write("images", stimuli.isel(stimulus=slice(missing, None)), kind="stimuli")
    root.write("rec", virtual_animals_viewing(stimuli, n_animals=2, units_per_animal=4, stimulus_set="images"),
               kind="recording")
    args = {"in_channels": 1, "input_size": 32, "out_features": 4, "width": 0.25}
    weights = weights_from_network(build_untrained("knet4", args), "knet4", args, [1, 32, 32], source="tests",
                                   license="CC0-1.0", citation="none")
    root.write("net", weights, kind="model", fmt="safetensors")
    return root


def _head(path) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_predictivity_refuses_stimulus_ids_missing_from_the_stimulus_set(home, capsys):
    from goalstore.cli import main

    root = _write_inputs(home, missing=7)
    before = _head(home)
    with pytest.raises(AnalysisInputError) as info:
        import goalstore.api as api

        api.analyze("predictivity", recording="rec", models="net")
    message = str(info.value)
    assert "7 of 96 stimulus ids are missing from the stimulus set 'images'" in message
    assert "obj-cat0-obj0-00" in message and "obj-cat0-obj0-04" in message and "obj-cat0-obj0-05" not in message
    capsys.readouterr()
    assert main(["analyze", "predictivity", "rec", "--models", "net"]) == 12
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "7 of 96 stimulus ids" in err
    assert main(["analyze", "predictivity", "rec", "--models", "rec"]) == 12  # not a model store
    assert "expected model" in capsys.readouterr().err
    assert main(["analyze", "predictivity", "rec"]) == 12
    assert "--models" in capsys.readouterr().err
    assert main(["analyze", "predictivity", "rec", "--models", "net", "--mapping", "rsa"]) == 12
    capsys.readouterr()
    assert main(["analyze", "predictivity", "rec", "--models", "net", "--stimuli", "nope"]) == 4
    capsys.readouterr()
    assert _head(home) == before  # nothing stored changed
    assert root.registered("images") is not None


def test_predictivity_check_passes_and_names_its_stores(home):
    from goalstore.recipes import get_recipe
    from goalstore.recipes.predictivity import Predictivity, store_name

    root = _write_inputs(home)
    recipe = get_recipe("predictivity")
    checked = recipe.check(recipe.resolve({"recording": "rec", "models": "net"}), root)
    assert checked.stimuli == "images"  # the recording's stimulus_set attr
    a = store_name(Predictivity(recording="rec", models="m1,m2"))
    assert a == store_name(Predictivity(recording="rec", models="m2,m1")) and a.startswith("predictivity-rec-")
    assert a != store_name(Predictivity(recording="rec", models="m1,m2", seed=1))


def test_demo_objects_recording_recipe(home):
    import goalstore
    from goalstore.cli import main
    from goalstore.store import StoreRoot

    assert main(["build", "demo-objects-recording"]) == 4  # no embedded-objects store yet
    StoreRoot(home).write("embedded-objects", random_stimuli(), kind="stimuli")
    assert main(["build", "demo-objects-recording", "--param", "seed=2"]) == 0
    rec = goalstore.open("demo-objects-recording")
    assert rec.attrs["stimulus_set"] == "embedded-objects" and rec.sizes["stimulus"] == 96
    assert sorted(set(rec["area"].values)) == ["IT", "V4"] and len(set(rec["animal"].values)) == 3
    assert "goalstore produce demo-objects-recording" in goalstore.history("demo-objects-recording")[-1][
        "provenance"]["cmd"]


def test_leaderboard_reads_activation_stores_in_the_recordings_stimulus_order(home, tmp_path):
    """The recipe's step after extraction: activation stores opened lazily, narrowed to (and reordered
    by) the recording's stimuli, scored, written as a valid result store, reported and rendered."""
    from goalstore.recipes.predictivity import Predictivity, leaderboard, render, report, store_name
    from goalstore.store import StoreRoot

    kw = dict(n_stimuli=48, n_features=4, seed=1)
    root = StoreRoot(home)
    root.write("rec", virtual_animals(units_per_animal=8, noise=0.5, **kw), kind="recording")
    shuffled = np.random.default_rng(0).permutation(48)  # stored in another order than the recording's
    root.write("act-good", virtual_model(similarity=(0.0, 1.0), name="good", **kw).isel(stimulus=shuffled),
               kind="activations")
    root.write("act-bad", virtual_model(similarity=(0.0,), name="bad", **kw), kind="activations")
    p = Predictivity(recording="rec", models="bad,good", n_splits=3, n_draws=5, pooled=True)
    result = leaderboard(root, p, "images", {"bad": "act-bad", "good": "act-good"}, {"good": "hash-g"})
    built = {store_name(p): root.write(store_name(p), result, kind="result")}
    out = report(built, root, tmp_path / "figs", p)
    it = out["areas"]["IT"]["ranking"]
    assert [row["model"] for row in it] == ["good", "bad"] and it[0]["best_layer"] == "layer1"
    assert it[0]["fraction_of_ceiling"] > 0.8 > 0.3 > it[1]["fraction_of_ceiling"]
    stored = root.open(store_name(p))
    assert stored.attrs["activation_stores"] == ["act-bad", "act-good"]
    assert stored.attrs["weights_hashes"] == ["", "hash-g"] and stored.attrs["stimuli"] == "images"
    assert len(out["figures"]) == 2 and "rank" in render(out, p)
