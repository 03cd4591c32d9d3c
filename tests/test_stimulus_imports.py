"""Full-scale data: ImageNet-style class-folder trees and binary CIFAR-10 imported as stimuli stores, and
the ``model`` recipe streaming minibatches from a store (identical weights to the in-memory path)."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import torch
from PIL import Image

import goalstore
from goalstore.activations.preprocess import preprocess
from goalstore.cli import main
from goalstore.errors import SchemaError
from goalstore.recipes import get_recipe
from goalstore.recipes import models as model_recipe
from goalstore.sources.stimulus_sets import from_cifar10
from goalstore.sources.store_batches import StoreBatches, normalisation_stats
from goalstore.store import StoreRoot
from tests.test_model_stores import grating_stimuli

CLASSES = ("cat", "dog", "fish")


def _class_tree(path):
    """3 classes × 4 PNGs of different sizes; image ``k`` of class ``c`` is filled with ``40·c + k``."""
    for c, name in enumerate(CLASSES):
        (path / name).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(np.full((6 + k, 8, 3), 40 * c + k, np.uint8)).save(path / name / f"img{k}.png")
    return path


def test_class_folder_tree_imports_with_its_categories(home, tmp_path, capsys):
    StoreRoot(home)
    tree = _class_tree(tmp_path / "train")
    assert main(["import", "stimuli", str(tree), "--name", "tiny-imagenet", "--size", "4", "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)["tiny-imagenet"]
    assert meta["sizes"] == {"stimulus": 12, "channel": 3, "height": 4, "width": 4}
    ds = goalstore.open("tiny-imagenet")
    ids = [str(i) for i in ds["stimulus_id"].values]
    assert sorted(ids) == sorted(f"{c}/img{k}" for c in CLASSES for k in range(4))
    assert ids != sorted(ids)  # stored in a seeded random order, so chunks mix the classes
    for stimulus, category, image in zip(ids, ds["category"].values, ds["image"].values, strict=True):
        c, k = stimulus.split("/")[0], int(stimulus[-1])
        assert category == c and (image == 40 * CLASSES.index(c) + k).all()  # constant images survive resizing
    assert json.loads(ds.attrs["import"])["source"] == "class-folders"


def _cifar(path, n=10, pickled=False):
    """A binary CIFAR-10 folder: ``n`` records per batch; record ``i`` of batch ``b`` has label ``(i + b) %
    10`` and planes R = i, G = 100 + b, B = 200 + (row index)."""
    path.mkdir()
    if pickled:
        (path / "data_batch_1").write_bytes(b"\x80\x04")
        (path / "batches.meta").write_bytes(b"\x80\x04")
        return path
    (path / "batches.meta.txt").write_text("\n".join(f"class{k}" for k in range(10)) + "\n\n")
    for b, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        records = np.zeros((n, 3073), np.uint8)
        for i in range(n):
            planes = np.stack([np.full((32, 32), i), np.full((32, 32), 100 + b),
                               np.repeat(200 + np.arange(32)[:, None] % 50, 32, axis=1)])
            records[i] = np.concatenate([[(i + b) % 10], planes.ravel()])
        records.tofile(path / name)
    return path


def test_cifar10_binary_records_give_labels_categories_and_pixels(tmp_path):
    folder = _cifar(tmp_path / "cifar-10-batches-bin")
    ds = from_cifar10(folder)
    assert ds.sizes == {"stimulus": 50, "channel": 3, "height": 32, "width": 32}
    assert list(ds["channel_name"].values) == ["R", "G", "B"]
    assert set(ds["subset"].values) == {"train"} and ds["stimulus_id"].values[13] == "train-00013"
    image = ds["image"].values
    for s in (0, 13, 49):
        b, i = divmod(s, 10)
        assert ds["category"].values[s] == f"class{(i + b) % 10}"
        assert (image[s, 0] == i).all() and (image[s, 1] == 100 + b).all()
        assert (image[s, 2, :, 5] == 200 + np.arange(32) % 50).all()  # rows top to bottom
    both = from_cifar10(folder, subset="all")
    assert both.sizes["stimulus"] == 60 and list(both["subset"].values[-10:]) == ["test"] * 10
    assert both["stimulus_id"].values[-1] == "test-00009" and (both["image"].values[-1, 1] == 105).all()


def test_cifar10_python_version_is_refused_with_one_line(home, tmp_path, capsys):
    folder = _cifar(tmp_path / "cifar-10-batches-py", pickled=True)
    with pytest.raises(SchemaError, match="binary version"):
        from_cifar10(folder)
    StoreRoot(home)
    assert main(["import", "stimuli", str(folder)]) != 0
    err = capsys.readouterr().err.strip()
    assert "pickle" in err and len(err.splitlines()) == 1


def test_store_batches_read_across_chunks_like_the_whole_array():
    images = da.from_array(grating_stimuli(2, 10, size=20)["image"].values, chunks=(3, 3, 20, 20))
    positions = np.array([0, 2, 3, 7, 8, 11, 12, 15, 19])
    source = StoreBatches(images, positions, [3, 16, 16], [0.4, 0.5, 0.6], [0.2, 0.25, 0.3], cache_chunks=2)
    whole = preprocess(images.compute()[positions], [3, 16, 16], [0.4, 0.5, 0.6], [0.2, 0.25, 0.3])
    index = torch.tensor([8, 0, 4, 2, 5])
    assert torch.equal(source[index], whole[index]) and torch.equal(source[2:6], whole[2:6])
    order = source.epoch_order(torch.Generator().manual_seed(0))  # 6 chunks > 2 cached: chunk-local
    assert sorted(order.tolist()) == list(range(len(positions)))
    mean, std, n = normalisation_stats(StoreBatches(images, positions, [3, 16, 16], [0.0], [1.0]), 0, limit=4)
    assert n == 4 and len(mean) == len(std) == 3


@pytest.mark.parametrize("objective", ["supervised", "simclr"])
def test_streamed_training_equals_in_memory(tmp_path, monkeypatch, objective):
    torch.set_num_threads(1)
    root = StoreRoot(tmp_path / "store")
    root.write("gratings", grating_stimuli(2, 8, size=20), kind="stimuli")
    params = get_recipe("model").resolve({"stimuli": "gratings", "input_size": 16, "epochs": 2,
                                          "batch_size": 4, "objective": objective, "embedding_dim": 8,
                                          "augment": objective == "supervised"})
    reads = []
    getitem = StoreBatches.__getitem__
    monkeypatch.setattr(StoreBatches, "__getitem__", lambda self, i: reads.append(1) or getitem(self, i))
    weights = {}
    for limit in (model_recipe.STREAM_BYTES, 0):
        monkeypatch.setattr(model_recipe, "STREAM_BYTES", limit)
        product = model_recipe.produce_model(root, params)[params.name]
        weights[limit] = product.obj
    in_memory, streamed = weights.values()
    assert reads  # the second run read its batches from the store
    assert in_memory.attrs["training"] == streamed.attrs["training"]
    assert in_memory.attrs["metrics"] == streamed.attrs["metrics"]
    tensors = dict(in_memory.tensors.items())
    other = dict(streamed.tensors.items())
    assert tensors.keys() == other.keys()
    assert all(np.array_equal(np.asarray(tensors[k]), np.asarray(other[k])) for k in tensors)
