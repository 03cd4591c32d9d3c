"""goalstore extract: content-addressed, streaming activation extraction (issue 13, part C).

Ground truth: the stored activations equal a plain forward pass with hooks on the same preprocessed
images; a recurrent toy's per-step values equal its unrolled recurrence; PCA components are
orthonormal and the stored values are the fit's projection."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
import xarray as xr

import goalstore
from goalstore import api, cli
from goalstore.activations import extractor
from goalstore.activations.key import ExtractionRequest, extraction_key, parse_reduce
from goalstore.activations.networks import available_layers
from goalstore.activations.preprocess import preprocess
from goalstore.activations.reduction import fit_pca, random_projection
from goalstore.errors import AnalysisInputError
from goalstore.recipes import get_recipe
from goalstore.recipes.extract import check_images, recheck
from goalstore.store import StoreRoot
from tests.extraction_helpers import ToyRecurrent, knet, model_store, stimuli

PLUGIN = "tests.extraction_helpers"


def _head(home) -> str:
    return subprocess.run(["git", "-C", str(home), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _plain(module, images, layers, pre, time_steps=0) -> np.ndarray:
    """A plain torch.no_grad() forward pass with hooks: stimuli × units (layers concatenated)."""
    out = {name: [] for name in layers}
    blocks = dict(__import__("builders.networks", fromlist=["x"]).observed_layers(module))
    hooks = [blocks[n].register_forward_hook(lambda _m, _a, o, n=n: out[n].append(o.reshape(o.shape[0], -1)))
             for n in layers]
    with torch.no_grad():
        x = preprocess(images, pre["input_shape"], pre["mean"], pre["std"])
        module(x, time_steps=time_steps) if time_steps else module(x)
    for h in hooks:
        h.remove()
    return np.concatenate([torch.stack(out[n], dim=2).numpy() for n in layers], axis=1)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A store root with stimuli ``stim`` (20 RGB 24×24), PCA fit set ``fit``, model ``net`` (knet4
    width 0.125 at 32×32), and one extraction of every layer."""
    home = tmp_path_factory.mktemp("extract") / "store"
    goalstore.write("stim", stimuli(20, seed=0), kind="stimuli", home=home)
    goalstore.write("fit", stimuli(16, seed=5), kind="stimuli", home=home)
    module, args = knet(seed=0)
    goalstore.write("net", model_store(module, args, input_mean=[0.4, 0.5, 0.6], input_std=0.2), home=home)
    result = api.extract("net", "stim", home=home, batch_size=8, device="cpu")
    return {"home": home, "module": module, "args": args, "result": result}


def test_values_equal_a_plain_forward_pass_with_hooks(root):
    home, result = root["home"], root["result"]
    assert not result["cached"] and result["store"] == f"act-net-stim-{result['key'][:10]}"
    ds = goalstore.open(result["store"], home=home)
    assert ds["activation"].dims == ("stimulus", "unit") and ds["activation"].attrs["units"] == "a.u."
    pre = json.loads(ds.attrs["preprocessing"])
    assert pre == {"input_shape": [3, 32, 32], "mean": [0.4, 0.5, 0.6], "std": [0.2] * 3,
                   "resize": "bilinear-antialias"}
    layers = list(ds.attrs["layers"])
    expected = _plain(root["module"], stimuli(20, seed=0)["image"].values, layers, pre)[..., 0]
    np.testing.assert_allclose(ds["activation"].values, expected, rtol=1e-5, atol=1e-5)
    # coords: a conv unit c·H·W + y·W + x; the model as animal, the layer as area; stimulus coords copied
    conv = ds.isel(unit=np.flatnonzero(ds["layer"].values == layers[0]))
    h, w = int(conv["y"].max()) + 1, int(conv["x"].max()) + 1
    flat = conv["channel"].values * h * w + conv["y"].values * w + conv["x"].values
    np.testing.assert_array_equal(flat, np.arange(conv.sizes["unit"]))
    assert set(ds["animal"].values) == {"net"} and list(ds["area"].values) == list(ds["layer"].values)
    assert list(ds["stimulus_id"].values) == list(stimuli(20, seed=0)["stimulus_id"].values)
    assert ds["activation"].chunks[0][0] == 8
    meta = goalstore.describe(result["store"], home=home)
    assert meta["extraction_key"] == result["key"] and meta["model"] == "net"
    assert meta["stimuli_checksum"] == goalstore.describe("stim", home=home)["checksum"]
    assert not list((StoreRoot(home).scratch / "extract").glob("*.zarr"))  # adopted, not copied


def test_same_request_is_cached_without_a_new_commit(root):
    home, first = root["home"], root["result"]
    head = _head(home)
    again = api.extract("net", "stim", home=home, batch_size=5, device="cpu")  # batch size: not in the key
    assert again["cached"] and again["store"] == first["store"] and again["key"] == first["key"]
    assert _head(home) == head
    assert cli.main(["extract", "net", "stim", "--home", str(home)]) == 0
    assert _head(home) == head


def _request(**changes) -> ExtractionRequest:
    base = dict(model_weights_hash="sha256:a", architecture="knet4", architecture_args={"width": 0.125},
                stimuli_checksum="sha256:s", preprocessing={"input_shape": [3, 32, 32], "mean": [0.5] * 3,
                                                           "std": [0.25] * 3, "resize": "bilinear-antialias"})
    return ExtractionRequest(**{**base, **changes})


def test_key_changes_with_what_determines_the_values():
    key = extraction_key(_request())
    assert key == extraction_key(_request()) and len(key) == 64
    changed = [_request(model_weights_hash="sha256:b"), _request(stimuli_checksum="sha256:t"),
               _request(architecture_args={"width": 0.25}), _request(layers=("conv1",)),
               _request(reduce="pca:3", pca_fit_checksum="sha256:f"), _request(reduce="random:3"),
               _request(time_steps=4),
               _request(preprocessing={"input_shape": [3, 64, 64], "mean": [0.5] * 3, "std": [0.25] * 3,
                                       "resize": "bilinear-antialias"})]
    keys = {extraction_key(r) for r in changed}
    assert key not in keys and len(keys) == len(changed)
    assert extraction_key(_request(reduce="pca:3", pca_fit_checksum="sha256:f")) != \
        extraction_key(_request(reduce="pca:3", pca_fit_checksum="sha256:g"))
    assert extraction_key(_request(layers=("a", "b"))) == extraction_key(_request(layers=("b", "a")))
    assert extraction_key(_request(seed=3)) == key  # the seed matters only for a reduction
    with pytest.raises(ValueError, match="pca:K"):
        parse_reduce("pca:0")


def test_new_weights_or_stimuli_give_a_new_key(root):
    home = root["home"]
    spec, store_root = get_recipe("extract"), StoreRoot(home)
    key = spec.check(spec.resolve({"model": "net", "stimuli": "stim", "batch_size": 3}), store_root).key
    assert key == root["result"]["key"]
    module, args = knet(seed=1)
    goalstore.write("net-b", model_store(module, args, input_mean=[0.4, 0.5, 0.6], input_std=0.2), home=home)
    goalstore.write("stim-b", stimuli(20, seed=1), kind="stimuli", home=home)
    other = {spec.check(spec.resolve({"model": m, "stimuli": s}), store_root).key
             for m, s in (("net-b", "stim"), ("net", "stim-b"))}
    assert key not in other and len(other) == 2


def test_resumed_extraction_equals_an_uninterrupted_one(root, tmp_path):
    stim = stimuli(23, seed=2)
    module, args = root["module"], root["args"]
    weights = model_store(module, args)
    pre = {"input_shape": [3, 32, 32], "mean": [0.5] * 3, "std": [0.25] * 3}
    layers = tuple(available_layers(module)[::2])
    shapes = extractor.probe(module, layers, [3, 32, 32])
    units = extractor.unit_coords("net", shapes)

    def job(name: str) -> extractor.Job:
        path = tmp_path / f"{name}.zarr"
        extractor.create_zarr(path, {k: (("unit",), v) for k, v in units.items()}, {"kind": "activations"},
                              23, len(units["unit_id"]), 1, 5)
        return extractor.Job(str(path), lambda: weights, lambda: stim, layers, 0, pre, 23, 5, "cpu")

    whole = job("whole")
    extractor.run(whole, progress=False)
    killed = job("killed")

    class Kill(Exception):
        pass

    def kill_after_two(i: int) -> None:
        if i == 1:
            raise Kill

    with pytest.raises(Kill):
        extractor.run(killed, progress=False, on_batch=kill_after_two)
    assert killed.pending() == [2, 3, 4]
    assert np.isnan(xr.open_zarr(killed.path)["activation"].values[10:]).all()  # not yet written
    done = []
    extractor.run(killed, progress=False, on_batch=done.append)
    assert done == [2, 3, 4]  # the rerun skipped the finished batches
    a, b = (xr.open_zarr(j.path)["activation"].values for j in (whole, killed))
    np.testing.assert_array_equal(a, b)
    expected = _plain(module, stim["image"].values, layers, pre)[..., 0]
    np.testing.assert_allclose(a, expected, rtol=1e-5, atol=1e-5)


def test_recurrent_toy_gives_time_bins(home, monkeypatch):
    monkeypatch.setenv("BUILDERS_ARCHITECTURE_MODULES", PLUGIN)  # the toy, also in `goalstore produce`
    torch.manual_seed(0)
    toy = ToyRecurrent(hidden=5).eval()
    goalstore.write("toy", model_store(toy, {"hidden": 5}, "toy-recurrent", (3, 8, 8)))
    goalstore.write("stim", stimuli(6, size=8), kind="stimuli")
    result = api.extract("toy", "stim", layers="rec", time_steps=4, batch_size=4, device="cpu")
    ds = goalstore.open(result["store"])
    assert ds["activation"].dims == ("stimulus", "unit", "time_bin") and ds.sizes["time_bin"] == 4
    np.testing.assert_array_equal(ds["time_bin_start"].values, [0, 10, 20, 30])
    np.testing.assert_array_equal(ds["time_bin_end"].values, [10, 20, 30, 40])
    # ground truth: the recurrence unrolled by hand
    x = preprocess(stimuli(6, size=8)["image"].values, [3, 8, 8], None, None)
    with torch.no_grad():
        drive, h, steps = toy.inp(x.mean(dim=(2, 3))), torch.zeros(6, 5), []
        for _ in range(4):
            r = toy.rec(h)
            steps.append(r)
            h = torch.relu(drive + r)
    np.testing.assert_allclose(ds["activation"].values, torch.stack(steps, dim=2).numpy(), rtol=1e-5, atol=1e-6)
    assert cli.main(["extract", "toy", "stim", "--layers", "rec,out", "--time-steps", "4", "--json"]) == 12


def test_pca_fit_recorded_and_components_orthonormal(root):
    home = root["home"]
    result = api.extract("net", "stim", home=home, layers="conv1", reduce="pca:3", pca_fit="fit", seed=1,
                         batch_size=8, device="cpu")
    ds = goalstore.open(result["store"], home=home)
    assert ds.attrs["pca_fit"] == "fit" and ds.attrs["reduce"] == "pca:3"
    assert ds.attrs["pca_fit_checksum"] == goalstore.describe("fit", home=home)["checksum"]
    assert list(ds["component"].values) == [0, 1, 2] and "channel" not in ds.coords
    module, pre = root["module"], json.loads(ds.attrs["preprocessing"])
    fit = extractor.layer_activations(module, stimuli(16, seed=5)["image"].values, ["conv1"], pre)
    pca = fit_pca({"conv1": fit["conv1"][:, 0]}, 3, seed=1)
    v = pca.projections["conv1"]
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-5)
    plain = _plain(module, stimuli(20, seed=0)["image"].values, ["conv1"], pre)[..., 0]
    np.testing.assert_allclose(ds["activation"].values, pca.apply("conv1", plain), rtol=1e-4, atol=1e-4)
    # a different fit set is a different key
    spec = get_recipe("extract")
    other = spec.check(spec.resolve({"model": "net", "stimuli": "stim", "layers": "conv1", "reduce": "pca:3",
                                     "pca_fit": "stim", "seed": 1}), StoreRoot(home))
    assert other.key != result["key"]


def test_random_projection_is_seeded_and_scaled():
    a = random_projection({"l1": 400, "l2": 30}, 50, seed=3)
    b = random_projection({"l1": 400, "l2": 30}, 50, seed=3)
    np.testing.assert_array_equal(a.projections["l1"], b.projections["l1"])
    assert a.projections["l2"].shape == (30, 30)  # K_l = min(K, units)
    assert not np.allclose(a.projections["l1"][:30, :30], a.projections["l2"])
    x = np.random.default_rng(0).standard_normal((200, 400)).astype(np.float32)
    ratio = (np.linalg.norm(a.apply("l1", x), axis=1) ** 2 / np.linalg.norm(x, axis=1) ** 2).mean()
    assert 0.85 < ratio < 1.15  # E‖xR‖² = ‖x‖² with R_ij ~ N(0, 1/K)


def test_verify_recheck_passes_and_detects_a_tampered_value(root, capsys):
    home, name = root["home"], root["result"]["store"]
    assert cli.main(["verify", name, "--recheck", "4", "--home", str(home), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["ok"] and "4 stimuli re-extracted" in report[0]["notes"][-1]
    ds = goalstore.open(name, home=home).load()
    ds["activation"][:, 7] += 0.5  # a plausible, schema-valid, wrong value in every stimulus
    goalstore.write(name, ds, kind="activations", home=home)  # a new version: its checksum matches
    problems, _ = recheck(name, StoreRoot(home), 3, seed=0)
    assert problems and "differ from a re-extraction" in problems[0]
    assert cli.main(["verify", name, "--recheck", "3", "--home", str(home), "--json"]) == 11


def _error(argv: list[str], capsys) -> dict:
    code = cli.main([*argv, "--json"])
    error = json.loads(capsys.readouterr().out)
    assert error["exit_code"] == code
    return error


def test_bad_input_one_line_exit_code_nothing_changed(home, capsys, recording):
    goalstore.write("stim", stimuli(6), kind="stimuli")
    module, args = knet()
    goalstore.write("net", model_store(module, args))
    bad_args = {**args, "width": 0.25}  # weights that do not fit the architecture the store names
    goalstore.write("net-bad", model_store(module, args).__class__(
        model_store(module, args).tensors, {**model_store(module, args).attrs, "architecture_args": bad_args}))
    goalstore.write("rec", recording, kind="recording")
    head, catalog = _head(home), (home / "catalog.yaml").read_text()
    e = _error(["extract", "net", "nope"], capsys)
    assert e["exit_code"] == 4
    e = _error(["extract", "net", "rec"], capsys)
    assert e["exit_code"] == 12 and "'recording' entry; expected stimuli" in e["error"]
    e = _error(["extract", "stim", "stim"], capsys)
    assert e["exit_code"] == 12 and "expected model" in e["error"]
    e = _error(["extract", "net", "stim", "--layers", "conv1,fc9"], capsys)
    assert e["exit_code"] == 12 and "'fc9'" in e["error"] and "available:" in e["error"]
    e = _error(["extract", "net-bad", "stim"], capsys)
    assert e["exit_code"] == 3 and "tensor" in e["error"]
    e = _error(["extract", "net", "stim", "--reduce", "pca:x"], capsys)
    assert e["exit_code"] == 12 and "pca:K" in e["error"]
    e = _error(["extract", "net", "stim", "--time-steps", "3"], capsys)
    assert e["exit_code"] == 12 and "not recurrent" in e["error"]
    assert _head(home) == head and (home / "catalog.yaml").read_text() == catalog
    floats = stimuli(4).assign(image=lambda d: d["image"].astype("float32"))
    with pytest.raises(AnalysisInputError, match=r"float32.*expected uint8"):
        check_images(floats, "floats")
    with pytest.raises(AnalysisInputError, match="no variable 'image'"):
        check_images(recording, "rec")


def test_write_adopts_a_scratch_zarr_and_refuses_other_paths(home, recording, tmp_path):
    from goalstore.errors import SchemaError

    store = StoreRoot(home)
    goalstore.write("x", recording, kind="recording")  # creates the root
    staged = store.scratch / "extract" / "r.zarr"
    staged.parent.mkdir(parents=True, exist_ok=True)
    recording.to_zarr(staged, zarr_format=2, consolidated=True)
    meta = store.write("y", xr.open_zarr(staged), kind="recording", adopt=staged)
    assert not staged.exists() and meta["checksum"] == goalstore.describe("x")["checksum"]
    xr.testing.assert_identical(goalstore.open("y").load(), goalstore.open("x").load())
    outside = tmp_path / "o.zarr"
    recording.to_zarr(outside, zarr_format=2, consolidated=True)
    with pytest.raises(SchemaError, match="scratch"):
        store.write("z", xr.open_zarr(outside), kind="recording", adopt=outside)


@pytest.mark.slow
def test_dask_workers_write_disjoint_shards(root):
    home = root["home"]
    result = api.extract("net", "stim", home=home, layers="conv1", batch_size=4, workers=2, device="cpu")
    ds = goalstore.open(result["store"], home=home)
    pre = json.loads(ds.attrs["preprocessing"])
    expected = _plain(root["module"], stimuli(20, seed=0)["image"].values, ["conv1"], pre)[..., 0]
    np.testing.assert_allclose(ds["activation"].values, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_killed_cli_extraction_resumes(home, monkeypatch):
    goalstore.write("stim", stimuli(20), kind="stimuli")
    module, args = knet()
    goalstore.write("net", model_store(module, args))
    cmd = ["goalstore", "extract", "net", "stim", "--batch-size", "4", "--device", "cpu"]
    killed = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ,
                                                                      "GOALSTORE_FAULT": "extract-batch-2"})
    assert killed.returncode != 0
    scratch = StoreRoot(home).scratch / "extract"
    marked = len(list(next(scratch.glob("*.done")).iterdir()))  # the write of batch 2 may be in flight
    assert list(scratch.glob("*.zarr")) and 1 <= marked < 5
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0 and resumed.stdout.startswith("extracted act-net-stim-"), resumed.stderr
    ds = goalstore.open(resumed.stdout.split()[1])
    pre = json.loads(ds.attrs["preprocessing"])
    expected = _plain(module, stimuli(20)["image"].values, list(ds.attrs["layers"]), pre)[..., 0]
    np.testing.assert_allclose(ds["activation"].values, expected, rtol=1e-5, atol=1e-5)


def test_a_layer_narrower_than_k_keeps_all_its_dimensions():
    """``pca:K`` / ``random:K`` on a layer of fewer than K units: K_l = its units (a lossless rotation for the
    PCA), not a refusal, so one K serves networks whose layers differ in width."""
    from goalstore.activations.reduction import fit_pca, random_projection

    rng = np.random.default_rng(0)
    acts = {"wide": rng.standard_normal((40, 30)), "narrow": rng.standard_normal((40, 5))}
    pca = fit_pca(acts, 10, seed=0)
    assert pca.components() == {"wide": 10, "narrow": 5}
    axes = pca.projections["narrow"].astype(np.float64)
    np.testing.assert_allclose(axes.T @ axes, np.eye(5), atol=1e-5)  # orthonormal: a rotation of 5 dims
    centred = acts["narrow"] - acts["narrow"].mean(0)
    np.testing.assert_allclose(np.linalg.norm(pca.apply("narrow", acts["narrow"]), axis=1),
                               np.linalg.norm(centred, axis=1), rtol=1e-4)  # nothing lost
    assert random_projection({"wide": 30, "narrow": 5}, 10, seed=0).components() == {"wide": 10, "narrow": 5}
    with pytest.raises(AnalysisInputError, match="K=0"):
        fit_pca(acts, 0, seed=0)
