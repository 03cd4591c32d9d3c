"""Model stores (kind ``model``): preprocessing, training on a stimuli store, round trips, the ``model``
recipe, ``goalstore import model`` and its bad inputs, and learning-rule runs kept as model stores."""

from __future__ import annotations

import json
import math
import re
import subprocess

import numpy as np
import pytest
import torch
import xarray as xr

from builders.stimulus_training import ClassifierConfig, train_classifier
from goalstore.activations.networks import network_from_weights, weights_from_network
from goalstore.activations.preprocess import DEFAULT_MEAN, DEFAULT_STD, normalisation, preprocess
from goalstore.cli import main
from goalstore.errors import AnalysisInputError, EntryNotFoundError, SchemaError
from goalstore.recipes import get_recipe
from goalstore.recipes.models import check_model, stratified_split
from goalstore.schema import ModelWeights, store_attrs
from goalstore.schema.models import LazyTensors, validate_model, weights_hash
from goalstore.store import StoreRoot

SIZE = 32
#: knet4, width 0.25, 3 × 32 × 32 → 4 classes: conv 5×5 3→16, conv 5×5 16→16, fc 16·8·8→96, fc 96→4
KNET4_PARAMETERS = (16 * 3 * 25 + 16) + (16 * 16 * 25 + 16) + (1024 * 96 + 96) + (96 * 4 + 4)


def grating_stimuli(n_categories: int = 4, per_category: int = 24, size: int = SIZE, seed: int = 0,
                    with_category: bool = True) -> xr.Dataset:
    """A canonical stimuli store whose category is learnable: category ``c`` is a noisy sinusoidal
    grating at orientation ``180° · c / n_categories`` (random phase, colour and pixel noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images, categories = [], []
    for c in range(n_categories):
        theta = np.pi * c / n_categories
        for _ in range(per_category):
            phase = rng.uniform(0, 2 * np.pi)
            grating = np.sin(2 * np.pi * 4 * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
            colour = rng.uniform(0.3, 1.0, 3)[:, None, None]
            image = 127.5 + 100 * grating[None] * colour + rng.normal(0, 20, (3, size, size))
            images.append(np.clip(image, 0, 255).astype(np.uint8))
            categories.append(f"cat{c}")
    coords = {"stimulus_id": ("stimulus", [f"grating-{i:04d}" for i in range(len(images))]),
              "channel_name": ("channel", ["R", "G", "B"])}
    if with_category:
        coords["category"] = ("stimulus", categories)
    image = xr.Variable(("stimulus", "channel", "height", "width"), np.stack(images),
                        {"units": "intensity (0-255)"})
    return xr.Dataset({"image": image}, coords=coords,
                      attrs=store_attrs("stimuli", species="none", modality="images",
                                        source="tests.test_model_stores.grating_stimuli", license="CC0-1.0",
                                        citation="goalstore tests"))


def _data(ds: xr.Dataset):
    labels = np.array([int(c[3:]) for c in ds["category"].values])
    x = preprocess(ds["image"].values, [3, SIZE, SIZE])
    train, val = (torch.from_numpy(i) for i in stratified_split(labels, 0.5, 0))
    y = torch.from_numpy(labels)
    return x[train], y[train], x[val], y[val]


def _config(**kw) -> ClassifierConfig:
    return ClassifierConfig(**{"input_size": SIZE, "out_features": 4, "epochs": 6, "batch_size": 16,
                               "lr": 0.05, **kw})


def _weights(module, config: ClassifierConfig) -> ModelWeights:
    return weights_from_network(module, config.architecture, config.architecture_args,
                                [config.in_channels, config.input_size, config.input_size],
                                training={"recipe": "test"}, metrics={"val_accuracy": 0.5}, source="test",
                                license="CC0-1.0", citation="test")


@pytest.fixture(scope="module")
def stimuli() -> xr.Dataset:
    return grating_stimuli()


# -------------------------------------------------------------- preprocessing
def test_preprocess_resizes_converts_channels_and_normalises():
    grey = np.full((2, 1, 16, 16), 255, np.uint8)
    x = preprocess(grey, [3, 8, 8], 0.5, 0.25)
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, 3, 8, 8)
    assert torch.allclose(x, torch.full_like(x, (1.0 - 0.5) / 0.25))  # (255/255 − μ)/σ
    rgb = np.zeros((1, 3, 4, 4), np.uint8)
    rgb[:, 0] = 255  # pure red: luminance 0.299
    y = preprocess(rgb, [1, 4, 4], 0.0, 1.0)
    assert tuple(y.shape) == (1, 1, 4, 4) and torch.allclose(y, torch.full_like(y, 0.299))
    z = preprocess(rgb, [3, 4, 4], [0.0, 0.5, 0.5], [1.0, 0.5, 0.25])
    assert torch.allclose(z[0, :, 0, 0], torch.tensor([1.0, -1.0, -2.0]))
    assert normalisation({}, 3) == ([DEFAULT_MEAN] * 3, [DEFAULT_STD] * 3)
    assert normalisation({"input_mean": [0.1], "input_std": [0.2]}, 1) == ([0.1], [0.2])
    with pytest.raises(AnalysisInputError, match="uint8"):
        preprocess(grey.astype(np.float32), [3, 8, 8])
    with pytest.raises(AnalysisInputError, match="std"):
        preprocess(grey, [3, 8, 8], 0.5, [0.25, 0.0, 0.25])


def test_stratified_split_is_seeded_and_balanced():
    labels = np.repeat(np.arange(3), 10)
    train, val = stratified_split(labels, 0.3, seed=4)
    assert np.bincount(labels[val]).tolist() == [3, 3, 3] and len(np.intersect1d(train, val)) == 0
    assert np.array_equal(val, stratified_split(labels, 0.3, seed=4)[1])
    assert not np.array_equal(val, stratified_split(labels, 0.3, seed=5)[1])


# ------------------------------------------------------------------ training
def test_training_is_deterministic_and_the_hash_follows_the_weights(stimuli):
    x, y, xv, yv = _data(stimuli)
    config = _config(epochs=2, augment=True)
    first = _weights(train_classifier(config, x, y, xv, yv, progress=False)[0], config)
    second = _weights(train_classifier(config, x, y, xv, yv, progress=False)[0], config)
    assert first.attrs["weights_hash"] == second.attrs["weights_hash"]
    other = _config(epochs=2, augment=True, seed=1)
    assert _weights(train_classifier(other, x, y, progress=False)[0], other).attrs["weights_hash"] \
        != first.attrs["weights_hash"]
    untrained = _config(epochs=0)
    again = _config(epochs=0)
    assert _weights(train_classifier(untrained, x, y, progress=False)[0], untrained).attrs["weights_hash"] == \
        _weights(train_classifier(again, x, y, progress=False)[0], again).attrs["weights_hash"]
    tensors = {k: np.array(v) for k, v in first.tensors.items()}
    name = sorted(tensors)[0]
    tensors[name].flat[0] += 1e-3  # one changed weight: another hash, and the old claim is refused
    assert weights_hash(tensors) != first.attrs["weights_hash"]
    with pytest.raises(SchemaError, match="weights_hash"):
        validate_model(ModelWeights(tensors, first.attrs))


def test_trained_network_beats_chance_and_the_untrained_one_does_not(stimuli):
    x, y, xv, yv = _data(stimuli)
    _, trained = train_classifier(_config(), x, y, xv, yv, progress=False)
    _, untrained = train_classifier(_config(epochs=0), x, y, xv, yv, progress=False)
    chance, n = 0.25, len(yv)
    bound = chance + 3 * math.sqrt(chance * (1 - chance) / n)  # 3 binomial standard errors above chance
    assert trained["val_accuracy"] >= 0.9 and trained["train_accuracy"] >= 0.9
    assert untrained["val_accuracy"] <= bound and untrained["train_accuracy"] <= bound
    assert untrained["val_loss"] > trained["val_loss"]


# ----------------------------------------------------------------- round trip
def test_model_store_round_trip(tmp_path, stimuli):
    x, y, xv, yv = _data(stimuli)
    config = _config(epochs=1)
    module, _ = train_classifier(config, x, y, xv, yv, progress=False)
    weights = _weights(module, config)
    root = StoreRoot(tmp_path / "store")
    meta = root.write("tiny-model", weights)
    assert meta["path"] == "models/tiny-model.safetensors" and meta["kind"] == "model"
    for key in ("architecture", "n_parameters", "n_units", "weights_hash"):
        assert meta[key] == weights.attrs[key]
    forward = [p for n, p in module.named_parameters() if not n.endswith("backward_weight")]
    assert meta["n_parameters"] == sum(p.numel() for p in forward)  # the backward weights B are not counted
    assert meta["n_parameters"] == KNET4_PARAMETERS
    back = root.open("tiny-model")
    assert isinstance(back.tensors, LazyTensors) and set(back.tensors) == set(weights.tensors)
    assert back.attrs == weights.attrs
    rebuilt = network_from_weights(back)
    with torch.no_grad():
        assert torch.equal(rebuilt(xv[:4]), module.eval()(xv[:4]))


# ------------------------------------------------------------- model recipe
@pytest.fixture(scope="module")
def root(tmp_path_factory) -> StoreRoot:
    """A store root holding the learnable stimuli and a stimuli store without categories."""
    root = StoreRoot(tmp_path_factory.mktemp("models") / "store")
    root.write("gratings", grating_stimuli(), kind="stimuli")
    root.write("no-categories", grating_stimuli(n_categories=2, per_category=4, with_category=False),
               kind="stimuli")
    return root


def _head(root: StoreRoot) -> str:
    return subprocess.run(["git", "-C", str(root.path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_model_recipe_refuses_bad_input_before_anything_runs(root, capsys):
    recipe = get_recipe("model")

    def check(**params):
        return check_model(recipe.resolve({"stimuli": "gratings", "input_size": SIZE, **params}), root)

    with pytest.raises(AnalysisInputError, match="coordinate 'category'"):
        check(stimuli="no-categories")
    with pytest.raises(EntryNotFoundError):
        check(stimuli="no-such-stimuli")
    with pytest.raises(AnalysisInputError, match="architecture 'vgg99'"):
        check(architecture="vgg99")
    with pytest.raises(AnalysisInputError, match="device"):
        check(device="tpu")
    with pytest.raises(AnalysisInputError, match="val_fraction"):
        check(val_fraction=1.5)
    assert check().stimuli == "gratings"
    before = _head(root)  # the command line: one line, exit 12, nothing stored
    capsys.readouterr()
    assert main(["build", "model", "--home", str(root.path), "--param", "stimuli=no-categories"]) == 12
    assert "coordinate 'category' is missing" in capsys.readouterr().err
    assert _head(root) == before and not (root.path / "models" / "knet4-objects.safetensors").exists()


def test_build_model_records_training_and_beats_chance(root, capsys):
    before = _head(root)
    assert main(["build", "model", "--home", str(root.path), "--json", "--param", "name=grating-net",
                 "--param", "stimuli=gratings", "--param", f"input_size={SIZE}", "--param", "epochs=6",
                 "--param", "batch_size=16", "--param", "lr=0.05", "--param", "val_fraction=0.5"]) == 0
    meta = json.loads(capsys.readouterr().out)["grating-net"]
    assert _head(root) != before
    assert meta["architecture"] == "knet4" and meta["kind"] == "model"
    assert meta["architecture_args"] == {"in_channels": 3, "input_size": SIZE, "out_features": 4, "width": 0.25,
                                         "contrastive": False}
    training = meta["training"]
    assert training["stimuli"] == "gratings"
    assert training["stimuli_checksum"] == root.metadata("gratings")["checksum"]
    assert training["categories"] == ["cat0", "cat1", "cat2", "cat3"] and training["n_val"] == 48
    ds = root.open("gratings")
    labels = np.array([training["categories"].index(c) for c in ds["category"].values])
    train = ds["image"].values[stratified_split(labels, 0.5, 0)[0]] / 255.0  # the recipe's split, seed 0
    assert np.allclose(training["input_mean"], train.mean((0, 2, 3)), atol=1e-6)
    assert np.allclose(training["input_std"], train.std((0, 2, 3), ddof=1), atol=1e-6)
    assert meta["metrics"]["val_accuracy"] >= 0.9
    # the stored network, fed through the recorded preprocessing, classifies the stimuli
    weights = root.open("grating-net")
    net = network_from_weights(weights)
    x = preprocess(ds["image"].values, weights.attrs["input_shape"], *normalisation(training, 3))
    with torch.no_grad():
        predicted = net(x).argmax(1).numpy()
    assert (predicted == labels).mean() >= 0.9


# ------------------------------------------------------------- import model
def _weights_file(path, seed=0, shared_once=False, **args):
    """A knet4's weights; ``shared_once``: as ``safetensors.torch.save_model`` writes them (one name per
    shared tensor: knet's ``out`` is its ``fc2``)."""
    from safetensors.numpy import save_file
    from safetensors.torch import save_model

    from builders.networks import build_network

    torch.manual_seed(seed)
    module = build_network("knet4", **{"in_channels": 3, "input_size": SIZE, "out_features": 4, "width": 0.25,
                                       **args})
    if shared_once:
        save_model(module, str(path))
    else:
        save_file({k: v.numpy() for k, v in module.state_dict().items()}, str(path))
    return module


ARGS = ["--arg", "in_channels=3", "--arg", f"input_size={SIZE}", "--arg", "out_features=4",
        "--arg", "width=0.25"]


def test_import_model_happy_path(root, tmp_path, capsys):
    module = _weights_file(tmp_path / "net.safetensors", shared_once=True)
    assert main(["import", "model", "knet4", "--weights", str(tmp_path / "net.safetensors"), "--name",
                 "imported-net", *ARGS, "--input-mean", "0.4", "--home", str(root.path), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)["imported-net"]
    assert meta["training"]["input_mean"] == [0.4, 0.4, 0.4] and meta["training"]["input_std"] == [0.25] * 3
    assert meta["n_parameters"] == KNET4_PARAMETERS
    assert root.open("imported-net").attrs["input_shape"] == [3, SIZE, SIZE]
    assert main(["open", "imported-net", "--home", str(root.path), "--json"]) == 0
    opened = json.loads(capsys.readouterr().out)
    assert opened["tensors"]["fc2.layer.weight"] == [4, 96] and opened["attrs"]["architecture"] == "knet4"
    net = network_from_weights(root.open("imported-net"))
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(net(x), module.eval()(x))


@pytest.mark.parametrize("case, message", [
    ("pickle", r"a \.pt file is a pickle, which goalstore never loads .* safetensors"),
    ("suffix", r"expected a \.safetensors file"),
    ("mismatch", r"tensor '[^']+' has shape \[\d+(, \d+)*\]; the architecture expects"),
    ("architecture", r"architecture 'vgg99': unknown"),
    ("bad-arg", r"--arg 'in_channels': expected KEY=VALUE"),
    ("unknown-arg", r"unexpected argument\(s\) depth"),
    ("input-shape", r"--input-shape '3,32': expected C,H,W"),
], ids=["pickle", "suffix", "mismatch", "architecture", "bad-arg", "unknown-arg", "input-shape"])
def test_import_model_refuses_bad_input_and_stores_nothing(root, tmp_path, capsys, case, message):
    weights = tmp_path / "net.safetensors"
    _weights_file(weights)
    args, extra = list(ARGS), []
    if case == "pickle":
        weights = tmp_path / "net.pt"
        weights.write_bytes(b"\x80\x04 not to be unpickled")
    elif case == "suffix":
        weights = tmp_path / "net.npz"
        weights.write_bytes(b"")
    elif case == "mismatch":
        _weights_file(weights, out_features=10)  # fc head of 10 classes; the architecture is given 4
    elif case == "bad-arg":
        args[1] = "in_channels"
    elif case == "unknown-arg":
        args += ["--arg", "depth=3"]
    elif case == "input-shape":
        extra = ["--input-shape", "3,32"]
    architecture = "vgg99" if case == "architecture" else "knet4"
    before, catalog = _head(root), (root.path / "catalog.yaml").read_text()
    capsys.readouterr()
    code = main(["import", "model", architecture, "--weights", str(weights), "--name", f"bad-{case}", *args,
                 *extra, "--home", str(root.path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and re.search(message, err[0]), err
    assert _head(root) == before and (root.path / "catalog.yaml").read_text() == catalog
    assert not (root.path / "models" / f"bad-{case}.safetensors").exists()


# --------------------------------------------------- learning-rule final weights
def test_lr_grid_keeps_final_weights_as_model_stores(tmp_path):
    from builders.grid import load_grid
    from builders.sweep import NETWORK_FILE, WEIGHTS_FILE
    from goalstore.api import produce
    from goalstore.recipes.lr_corpus import LrCorpus, corpus_outputs

    grid_file = tmp_path / "keep.json"
    grid_file.write_text(json.dumps({"name": "keep", "pairs": [["digits", "knet4"]], "rules": ["sgdm"],
                                     "batch_sizes": [256], "model_seeds": [0], "data_seeds": [0], "epochs": 1,
                                     "checkpoint_every": 1, "width": 0.25, "val_size": 64,
                                     "keep_final_weights": True}))
    grid = load_grid(str(grid_file))
    (run,) = grid.runs()
    assert run.keep_final_weights and run.run_id == grid.runs()[0].run_id
    name = f"model-{run.run_id}"
    assert (name, "safetensors") in corpus_outputs(LrCorpus(preset=str(grid_file)))
    root = StoreRoot(tmp_path / "store")
    built = produce("lr-corpus", home=root.path, preset=str(grid_file))
    meta = built[name]
    assert meta["kind"] == "model" and meta["architecture"] == "knet4"
    assert meta["architecture_args"] == {"in_channels": 1, "input_size": 8, "out_features": 10, "width": 0.25,
                                         "contrastive": False}
    assert meta["training"]["run_id"] == run.run_id and meta["training"]["learning_rule"] == "sgdm"
    run_dirs = list((root.scratch / "sweeps").glob(f"*/{run.run_id}"))
    assert len(run_dirs) == 1 and (run_dirs[0] / WEIGHTS_FILE).read_bytes()[:8] != b"\x80\x04\x95"  # no pickle
    assert json.loads((run_dirs[0] / NETWORK_FILE).read_text())["input_shape"] == [1, 8, 8]
    # the run's recorded final validation accuracy is reproduced by the stored weights, also when the
    # digits are fed as uint8 images through the recorded preprocessing
    from sklearn.datasets import load_digits

    from builders.training_tasks import _split, load_task

    val = load_task("digits").val
    net = network_from_weights(root.open(name))
    with torch.no_grad():
        accuracy = float((net(val.x).argmax(1) == val.y).float().mean())
    assert accuracy == pytest.approx(meta["metrics"]["val_accuracy"], abs=1e-6)
    digits = load_digits()
    images = np.round(digits.images[:, None] * 255 / 16).astype(np.uint8)  # 0–16 as 0–255, rounded
    images = images[_split(len(digits.target), 0.2)[1].numpy()]
    x = preprocess(images, root.open(name).attrs["input_shape"], *normalisation(meta["training"], 1))
    std = meta["training"]["input_std"][0]
    assert torch.allclose(x, val.x, atol=0.5 / 255 / std + 1e-5)  # up to the rounding to uint8
