"""Models on the recording's time axis: the feed-forward time mappings (uniform, graded) on planted
per-layer features, a tiny convrnn6 extracted aligned to a recording's 70 ms… bins (and unaligned, with
its silent steps), consistency per bin and temporally fixed on the aligned store, and OST with a
feed-forward model through the recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from goalstore.activations.time_mapping import graded, plan, uniform
from goalstore.errors import AnalysisInputError

CRNN = {"in_channels": 3, "input_size": 16, "out_features": 4, "width": 0.0625}
LAYERS = "conv1,conv3,readout"  # convrnn6 layers 1, 3 and 6: first responses at steps 0, 2 and 5


def planted(sizes: list[int], n: int = 3) -> list[np.ndarray]:
    """Layer ℓ's unit u holds 1000·ℓ + u for every stimulus (plus the stimulus index / 100)."""
    return [1000.0 * i + np.arange(k)[None, :] + np.arange(n)[:, None] / 100 for i, k in enumerate(sizes)]


def _decode(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source layer, source unit), slot × bin, of a mapped planted array."""
    first = np.round(out[0]).astype(int)
    return first // 1000, first % 1000


# ------------------------------------------------------------- time mappings
def test_uniform_spreads_the_layers_over_consecutive_bins():
    feats = planted([6, 8, 6])
    out = uniform(feats, 7, seed=0)
    assert out.shape == (3, 6, 7)  # K = the smallest layer's 6 units in every bin
    layer, unit = _decode(out)
    np.testing.assert_array_equal(layer[0], [0, 0, 0, 1, 1, 2, 2])  # ⌊b·3/7⌋
    assert (layer == layer[:1]).all()  # a bin reads one layer
    np.testing.assert_array_equal(unit[:, 0], np.arange(6))  # a layer with exactly K units: all, in order
    np.testing.assert_array_equal(unit[:, 6], np.arange(6))
    drawn = unit[:, 3]
    assert len(set(drawn)) == 6 and set(drawn) <= set(range(8)) and (unit[:, 4] == drawn).all()
    np.testing.assert_allclose(out[2] - out[0], 0.02)  # the stimulus axis is carried through
    np.testing.assert_array_equal(out, uniform(feats, 7, seed=0))
    assert not np.array_equal(out, uniform(feats, 7, seed=1))  # layer 1's 6 of 8 units are drawn by the seed
    np.testing.assert_array_equal(_decode(uniform(feats, 2))[0][0], [0, 1])  # more layers than bins: ⌊b·L/n⌋


def test_graded_blends_consecutive_layers_in_proportion():
    feats = planted([8, 10, 12])
    out = graded(feats, 5, seed=3)
    assert out.shape == (3, 8, 5)
    layer, unit = _decode(out)
    # p_b = b·2/4 = 0, ½, 1, 1½, 2: the half-way bins take ⌊½·8 + ½⌋ = 4 units from the next layer
    expected = [[0] * 8, [0] * 4 + [1] * 4, [1] * 8, [1] * 4 + [2] * 4, [2] * 8]
    np.testing.assert_array_equal(layer.T, expected)
    assert (np.diff(layer, axis=1) >= 0).all()  # each slot moves up the layers
    for b in range(5):  # no unit twice in a bin
        assert len({(a, u) for a, u in zip(layer[:, b], unit[:, b], strict=True)}) == 8
    for ell in range(3):  # a slot reads the same unit of a layer whenever it reads that layer
        for j in range(8):
            assert len(set(unit[j][layer[j] == ell])) <= 1
    np.testing.assert_array_equal(out, graded(feats, 5, seed=3))
    assert not np.array_equal(out, graded(feats, 5, seed=4))
    # two layers over four bins: p = 0, ⅓, ⅔, 1 → ⌊f·6 + ½⌋ = 0, 2, 4 and then all 6 from the second
    two, _ = plan("graded", [6, 6], 4)
    np.testing.assert_array_equal((two == 1).sum(axis=0), [0, 2, 4, 6])
    one, _ = plan("graded", [5], 3)
    assert (one == 0).all()  # a single layer fills every bin


def test_time_mappings_refuse_bad_input():
    with pytest.raises(AnalysisInputError, match="units per bin"):
        plan("uniform", [4, 6], 3, n_units=5)
    with pytest.raises(AnalysisInputError, match="time mapping 'diagonal'"):
        plan("diagonal", [4], 3)
    with pytest.raises(AnalysisInputError, match="same stimuli"):
        uniform([np.zeros((3, 4)), np.zeros((2, 4))], 3)


# ------------------------------------------------------------- extraction
@pytest.fixture
def store(home):
    """A store root with a tiny convrnn6 (``crnn``), a feed-forward knet4 (``ff``), 16 images and a
    recording of virtual animals viewing them over 5 bins from 70 ms."""
    from goalstore.sources.virtual_animals import virtual_animals_viewing
    from goalstore.store import StoreRoot
    from tests.extraction_helpers import knet, model_store
    from tests.test_predictivity import random_stimuli

    torch.set_num_threads(1)
    from builders.networks import build_network

    torch.manual_seed(0)
    root = StoreRoot(home)
    crnn = build_network("convrnn6", **CRNN).eval()
    root.write("crnn", model_store(crnn, CRNN, "convrnn6", (3, 16, 16)), kind="model", fmt="safetensors")
    root.write("ff", model_store(*knet(input_size=16), input_shape=(3, 16, 16)), kind="model",
               fmt="safetensors")
    images = random_stimuli(n_categories=2, objects=2, views=6, size=16, channels="RGB")
    root.write("imgs", images, kind="stimuli")
    rec = virtual_animals_viewing(images, n_animals=2, units_per_animal=6, n_time_bins=5, n_trials=4,
                                  stimulus_set="imgs")
    root.write("rec", rec, kind="recording")
    return root


def extract(root, register: bool = False, **options):
    """The ``extract`` recipe checked and produced in process (no ``datalad run``): the store's name and
    data (registered in ``root`` when ``register``)."""
    from goalstore.recipes import get_recipe
    from goalstore.recipes.extract import produce_extract

    spec = get_recipe("extract")
    p = spec.check(spec.resolve({"model": "crnn", "stimuli": "imgs", "layers": LAYERS, "device": "cpu",
                                 **options}), root)
    ((name, product),) = produce_extract(root, p).items()
    if not register:
        return name, product.obj
    root.write(name, product.obj, kind="activations", adopt=Path(product.adopt))
    return name, root.open(name)


def _silent(ds, layer: str) -> list[bool]:
    a = ds["activation"].values[:, (ds["layer"] == layer).values]
    return [bool(np.all(a[..., t] == 0)) for t in range(a.shape[-1])]


def test_convrnn_aligned_to_the_recordings_bins(store):
    from goalstore.activations.key import ExtractionRequest
    from goalstore.recipes import get_recipe
    from goalstore.recipes.extract import request_for

    starts = np.array([70.0, 80.0, 90.0, 100.0, 110.0])
    # default: the deepest requested layer's first response (readout, step 5) on the first bin
    name, ds = extract(store, align="rec")
    assert ds.sizes["time_bin"] == 5 and ds.attrs["first_step"] == 5 and ds.attrs["time_steps"] == 10
    np.testing.assert_array_equal(ds["time_bin_start"].values, starts)
    np.testing.assert_array_equal(ds["time_bin_end"].values, starts + 10)
    assert ds.attrs["align"] == "rec" and not any(_silent(ds, "readout"))
    # first_step 0: step 0 (the image at layer 1) on the first bin; layer k silent before step k − 1
    zero_name, zero = extract(store, align="rec", first_step=0)
    np.testing.assert_array_equal(zero["time_bin_start"].values, starts)
    assert _silent(zero, "conv1") == [False] * 5 and _silent(zero, "conv3") == [True, True, False, False, False]
    assert _silent(zero, "readout") == [True] * 5
    # the aligned values are the unaligned extraction's steps 5…9
    plain_name, plain = extract(store)
    np.testing.assert_array_equal(plain["time_bin_start"].values, np.arange(10) * 10.0)  # unchanged default
    np.testing.assert_allclose(ds["activation"].values, plain["activation"].values[..., 5:10], atol=1e-6)
    # first_step / time_start without a recording
    _, moved = extract(store, first_step=2, time_start=70.0)
    np.testing.assert_array_equal(moved["time_bin_start"].values, 70.0 + 10 * np.arange(8))
    np.testing.assert_allclose(moved["activation"].values, plain["activation"].values[..., 2:], atol=1e-6)
    assert len({name, zero_name, plain_name, moved.attrs["extraction_key"][:10]}) == 4  # never one cache entry
    # an extraction that does not move its steps keeps the key it had before alignment existed
    spec = get_recipe("extract")
    doc = request_for(spec.resolve({"model": "crnn", "stimuli": "imgs"}), store).canonical()
    assert not {"first_step", "time_start", "align", "time_bins", "time_mapping"} & set(doc)
    assert "time_bins" in ExtractionRequest("h", "a", {}, "c", {}, align="rec",
                                            time_bins=((70.0, 80.0),)).canonical()


def test_cli_extract_takes_the_time_axis_options_as_declared():
    from goalstore.cli import build_parser

    args = build_parser().parse_args(["extract", "m", "s", "--align", "rec", "--first-step", "0",
                                      "--time-start", "70", "--time-mapping", "graded"])
    assert (args.align, args.first_step, args.time_start, args.time_mapping) == ("rec", 0, 70.0, "graded")
    assert build_parser().parse_args(["extract", "m", "s"]).first_step is None  # the recipe default
    assert build_parser().parse_args(["extract", "m", "s", "--time-bins", "4"]).time_bins == 4


def test_is_recurrent_reads_built_in_architectures_by_name(store, monkeypatch):
    """``aligned_options`` asks on every requires/produce call: the built-in architectures are told by
    name (no network built); a registered one is built, also without ``architecture_args``."""
    import builders.networks
    from builders.networks import register_architecture
    from goalstore.recipes.extract import aligned_options, is_recurrent
    from tests.extraction_helpers import ToyRecurrent

    def refuse(*_a, **_k):
        raise AssertionError("a built-in architecture was built")

    with monkeypatch.context() as m:
        m.setattr(builders.networks, "build_network", refuse)
        assert is_recurrent("crnn", store) and not is_recurrent("ff", store)
        assert aligned_options("crnn", "rec", store) == {"align": "rec"}
        assert aligned_options("ff", "rec", store) == {}
    register_architecture("toy-recurrent", ToyRecurrent)
    entry = {"architecture": "toy-recurrent"}  # no architecture_args: its defaults
    monkeypatch.setattr("goalstore.entries.describe", lambda name, root: entry)
    assert is_recurrent("toy", store)
    entry["architecture"] = "no-such-net"
    with pytest.raises(AnalysisInputError, match="model 'toy': its network cannot be built"):
        is_recurrent("toy", store)


def test_feed_forward_time_mapping_and_refusals(store):
    from goalstore.recipes import get_recipe

    _, ds = extract(store, model="ff", layers="conv1,conv2,fc1", align="rec", time_mapping="graded",
                       seed=2)
    assert ds["activation"].dims == ("stimulus", "unit", "time_bin") and ds.sizes["time_bin"] == 5
    assert set(ds["layer"].values) == {"graded:conv1+conv2+fc1"} and ds.attrs["time_mapping"] == "graded"
    np.testing.assert_array_equal(ds["time_bin_start"].values, 70.0 + 10 * np.arange(5))
    spec = get_recipe("extract")
    for options, message in [
        ({"model": "ff", "align": "rec", "layers": "conv2"}, "feed-forward"),
        ({"time_mapping": "uniform", "align": "rec"}, "recurrent"),
        ({"model": "ff", "time_mapping": "uniform", "layers": "conv2"}, "--time-bins N"),
        ({"model": "ff", "time_mapping": "uniform", "layers": "conv2", "time_steps": 4},
         "--time-steps 4: model 'ff' is feed-forward"),
        ({"model": "ff", "time_mapping": "uniform", "align": "rec", "time_bins": 3},
         "--align rec gives the bins"),
        ({"time_bins": 3}, "--time-bins 3: the number of bins of a --time-mapping"),
        ({"align": "rec", "time_start": 70.0}, "--time-start 70 with --align rec"),
        ({"align": "rec", "first_step": 0, "time_steps": 3}, "needs 5 time steps"),
        ({"align": "rec", "time_steps": 3}, r"'readout' \(the network's deepest\).*pass --time-steps N"),
        ({"align": "imgs"}, "imgs"),
    ]:
        with pytest.raises(AnalysisInputError, match=message):
            spec.check(spec.resolve({"model": "crnn", "stimuli": "imgs", "layers": LAYERS, **options}), store)


def test_the_alignment_anchor_is_the_network_not_the_requested_layers(store):
    """With ``--align`` the first kept step is where the network's deepest layer (readout, step 5) first
    responds, so conv3 gets the same time axis alone as next to readout."""
    _, both = extract(store, align="rec", layers="conv3,readout")
    _, alone = extract(store, align="rec", layers="conv3")
    assert alone.attrs["first_step"] == both.attrs["first_step"] == 5
    np.testing.assert_array_equal(alone["time_bin_start"].values, both["time_bin_start"].values)
    conv3 = (both["layer"] == "conv3").values
    np.testing.assert_array_equal(alone["activation"].values, both["activation"].values[:, conv3])


def test_recheck_re_extracts_a_time_mapped_feed_forward_store(store):
    """``goalstore verify --recheck`` on a feed-forward store time-mapped over ``--time-bins`` bins (no
    recording): the stored attrs say how to rebuild its time axis, and the values match."""
    from goalstore.recipes.extract import recheck

    name, ds = extract(store, register=True, model="ff", layers="conv1,conv2,fc1", time_mapping="uniform",
                       time_bins=4, time_start=50.0)
    np.testing.assert_array_equal(ds["time_bin_start"].values, 50.0 + 10 * np.arange(4))
    assert ds.attrs["time_bins"] == 4 and ds.attrs["time_steps"] == 0
    problems, notes = recheck(name, store, 3)
    assert problems == [] and "3 stimuli re-extracted" in notes[0]
    other, _ = extract(store, model="ff", layers="conv1,conv2,fc1", time_mapping="uniform", time_bins=5,
                       time_start=50.0)
    assert other != name  # the number of bins is in the key


def test_consistency_per_bin_and_fixed_run_on_the_aligned_store(store):
    from goalstore.recipes import get_recipe
    from goalstore.recipes.consistency import produce
    from goalstore.recipes.extract import recheck

    name, _ = extract(store, register=True, align="rec", reduce="random:8")
    plain, _ = extract(store, register=True, time_steps=5, reduce="random:8")  # 0–40 ms: not the recording's
    assert recheck(name, store, 3)[0] == []  # `goalstore verify --recheck` re-extracts the same aligned steps
    spec = get_recipe("consistency")

    def run(model: str, temporal: str):
        p = spec.check(spec.resolve({"recording": "rec", "model": model, "temporal": temporal, "n_splits": 2,
                                     "n_draws": 3}), store)
        ((_, product),) = produce(store, p).items()
        return product.obj

    for temporal in ("fixed", "per_bin"):
        result = run(name, temporal)
        assert result.sizes["time_bin"] == 5 and set(result["layer_name"].values) == set(LAYERS.split(","))
        np.testing.assert_array_equal(result["time_bin_start"].values, 70.0 + 10 * np.arange(5))
        assert np.isfinite(result["predictivity"].isel(layer=0).values).any()
        with pytest.raises(AnalysisInputError, match=r"time_bin_start.*--align"):
            run(plain, temporal)


def test_ost_time_maps_a_feed_forward_model_through_the_recipe(home):
    """An activations store without time bins: the recipe's ``--time-mapping`` spreads its two
    IT-preferred layers (in network order) over the recording's bins; uniform and graded differ."""
    from goalstore.recipes import get_recipe
    from goalstore.recipes.ost import produce
    from goalstore.store import StoreRoot
    from tests.test_ost_analysis import planted_activations, planted_onsets, planted_recording

    onsets, labels = planted_onsets(per_object=8)
    root = StoreRoot(home)
    root.write("rec", planted_recording(onsets, labels), kind="recording")
    flat = planted_activations(onsets, labels).isel(time_bin=-1, drop=True)  # the solved state, no time
    root.write("act-ff", flat, kind="activations")
    spec = get_recipe("ost")
    results = {}
    for mapping in ("uniform", "graded"):
        p = spec.check(spec.resolve({"recording": "rec", "model": "act-ff", "time_mapping": mapping,
                                     "n_layers": 2, "n_splits": 3, "n_draws": 3, "n_boot": 20,
                                     "n_components": 20}), root)
        ((_, product),) = produce(root, p).items()
        results[mapping] = product.obj
        assert product.obj.attrs["time_mapping"] == mapping
        assert list(product.obj.attrs["time_mapped_models"]) == ["act-ff"]
        assert product.obj["i1_model"].shape == (1, 32, 10)
    # uniform: bins 0–4 read conv_it, 5–9 conv_noise (network order); K = 20 (conv_noise's units)
    u = results["uniform"]["i1_model"].values[0]
    for b in range(1, 5):
        np.testing.assert_array_equal(u[:, b], u[:, 0])
        np.testing.assert_array_equal(u[:, 5 + b], u[:, 5])
    assert not np.allclose(u[:, 0], u[:, 5])
    # graded: the first bin is all conv_it (the same 20 drawn units), the last all conv_noise (its 20
    # units in another order), the bins between mix the two
    g = results["graded"]["i1_model"].values[0]
    np.testing.assert_array_equal(g[:, 0], u[:, 0])
    np.testing.assert_allclose(g[:, 9], u[:, 9], atol=1e-6)
    assert not np.allclose(g[:, 4], u[:, 0]) and not np.allclose(g[:, 4], u[:, 9])
