"""Builders: architectures, tasks, observable statistics, determinism, resumable sweeps."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from builders.architectures import ARCHITECTURES, build_architecture
from builders.augment import CORPUS_VIEWS, random_views
from builders.grid import PRESETS, GridSpec, load_grid
from builders.objectives import nt_xent
from builders.observables import ALL_STATISTICS, FINITE_24, activity_change, record_layers, row_statistics
from builders.sweep import completed, load_runs, run_sweep
from builders.training import RunConfig, train_run
from builders.training_tasks import MissingDataError, load_task

MINI = dict(epochs=2, checkpoint_every=1, width=0.25, val_size=32)


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_builds_and_runs_scaled_down(name):
    torch.manual_seed(0)
    net = build_architecture(name, in_channels=3, input_size=16, out_features=7, width=0.0625)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    positions = [layer.position for layer in net.observed]
    assert positions[0] == "early" and positions[-1] == "deep" and "middle" in positions
    contrastive = build_architecture(name, 3, 16, 10, 0.0625, contrastive=True)
    assert contrastive(torch.randn(2, 3, 16, 16)).shape == (2, 128)
    assert [layer.position for layer in contrastive.observed][-2:] == ["deep", "deep"]


def test_statistics_match_a_numpy_reference():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((3, 101)) ** 3
    got = {k: v.numpy() for k, v in row_statistics(torch.tensor(rows)).items()}
    mean, median, std = rows.mean(1), np.median(rows, axis=1), rows.std(1)
    np.testing.assert_allclose(got["norm"], np.linalg.norm(rows, axis=1))
    np.testing.assert_allclose(got["mean"], mean)
    np.testing.assert_allclose(got["var"], rows.var(1))
    np.testing.assert_allclose(got["median"], median)
    np.testing.assert_allclose(got["q3"], np.percentile(rows, 75, axis=1))
    np.testing.assert_allclose(got["skew"], 3 * (mean - median) / std)
    from scipy.stats import kurtosis

    np.testing.assert_allclose(got["kurtosis"], kurtosis(rows, axis=1))


def test_all_three_functions_match_numpy():
    from builders.observables import function_statistics

    rows = np.random.default_rng(1).standard_normal((2, 57))
    stats = function_statistics(torch.tensor(rows))
    for name, transformed in (("raw", rows), ("abs", np.abs(rows)), ("square", rows**2)):
        np.testing.assert_allclose(stats[name]["median"].numpy(), np.median(transformed, axis=1))
        np.testing.assert_allclose(stats[name]["q3"].numpy(), np.percentile(transformed, 75, axis=1))
        np.testing.assert_allclose(stats[name]["var"].numpy(), transformed.var(1))
        np.testing.assert_allclose(stats[name]["norm"].numpy(), np.linalg.norm(transformed, axis=1))


def test_activity_change_matches_its_definition():
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    x = torch.randn(5, 4)
    expected = []
    for row in x:
        jacobian = torch.autograd.functional.jacobian(block, row)  # out × in
        expected.append(float(jacobian.sum()) / 3)
    np.testing.assert_allclose(activity_change(block, x).numpy(), expected, rtol=1e-5)


def test_record_layers_gives_45_statistics_per_layer(digits):
    torch.manual_seed(0)
    net = build_architecture("knet4", 1, 8, 10, 0.25)
    rows, raw = record_layers(net, net.observed, digits.val.batch(torch.arange(16))[0], {"fc1"})
    frame = pd.DataFrame(rows)
    assert len(ALL_STATISTICS) == 45 and len(FINITE_24) == 24
    assert frame.groupby("layer").size().tolist() == [45] * 4
    assert set(map(tuple, frame[["observable", "function", "statistic"]].values)) == set(ALL_STATISTICS)
    assert raw["fc1"]["activations"].shape[0] == 16 and raw["fc1"]["input_gradient"].shape[0] == 16


def test_training_is_deterministic_and_records_every_checkpoint(digits):
    config = RunConfig("digits", "knet4", "ia", 256, 0, 1, **MINI)
    first, second = train_run(config, data=digits), train_run(config, data=digits)
    a, b = pd.DataFrame(first.rows), pd.DataFrame(second.rows)
    pd.testing.assert_frame_equal(a, b)
    assert sorted(a["epoch"].unique()) == [0, 1, 2]
    assert first.record["status"] == "completed" and len(first.record["val_loss"]) == 2
    other = pd.DataFrame(train_run(RunConfig("digits", "knet4", "ia", 256, 1, 1, **MINI), data=digits).rows)
    assert not np.allclose(a["value"], other["value"])
    assert config.run_id == RunConfig("digits", "knet4", "ia", 256, 0, 1, **MINI).run_id


def test_contrastive_task_trains(digits):
    result = train_run(RunConfig("digits-contrastive", "knet5", "adam", 128, 0, 0, **MINI))
    assert result.record["status"] == "completed" and np.isnan(result.record["val_accuracy"][0])
    x = torch.randn(4, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    assert random_views(x, g, **CORPUS_VIEWS).shape == x.shape
    z = torch.randn(4, 3)
    assert float(nt_xent(z, z, 0.5)) < float(nt_xent(z, torch.randn(4, 3), 0.5))


def test_divergence_is_recorded_not_dropped(digits):
    config = RunConfig("digits", "knet4", "sgdm", 128, 0, 0, base_lr=1e6, **MINI)
    result = train_run(config, data=digits)
    assert result.record["status"] == "diverged" and result.record["diverged_epoch"] == 0
    assert {r["epoch"] for r in result.rows} == {0}


def test_sweep_resumes_after_interruption(tmp_path, monkeypatch, digits):
    from builders import sweep

    grid = GridSpec("t", (("digits", "knet4"),), rules=("sgdm", "fa"), batch_sizes=(256,),
                    model_seeds=(0,), data_seeds=(0,), **{k: v for k, v in MINI.items()})
    configs = grid.runs()
    real = sweep.train_run
    calls = []

    def interrupted(config, device):
        calls.append(config.run_id)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(config, device)

    monkeypatch.setattr(sweep, "train_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(configs, tmp_path, progress=False)
    assert completed(tmp_path) == {configs[0].run_id}
    (tmp_path / f".{configs[1].run_id}.leftover").mkdir()  # a killed run's partial output
    monkeypatch.setattr(sweep, "train_run", real)
    ids = run_sweep(configs, tmp_path, progress=False)
    assert completed(tmp_path) == set(ids) and not list(tmp_path.glob(".*"))
    table, records = load_runs(tmp_path, ids)
    assert table.num_rows == 2 * 4 * 45 * 3 and [r["run_id"] for r in records] == ids


def test_presets_and_bad_names():
    tiny = PRESETS["tiny"]
    assert len(tiny.runs()) >= 96 and tiny.n_checkpoints == 21
    assert {c.learning_rule for c in tiny.runs()} == {"sgdm", "adam", "fa", "ia"}
    paper = PRESETS["paper"]
    assert len(paper.pairs) == 22 and len(paper.runs()) == 1056 and paper.n_checkpoints == 21
    with pytest.raises(ValueError, match=r"unknown architecture 'vgg'.*knet4"):
        GridSpec("x", (("digits", "vgg"),))
    with pytest.raises(ValueError, match=r"unknown task 'mnist'.*cifar10"):
        GridSpec("x", (("mnist", "knet4"),))
    with pytest.raises(ValueError, match="unknown learning rule 'hebb'"):
        GridSpec("x", (("digits", "knet4"),), rules=("hebb",))
    with pytest.raises(ValueError, match="not a preset"):
        load_grid("huge")


def test_grid_file(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"pairs": [["digits", "knet5"]], "rules": ["fa"], "epochs": 4,
                                "checkpoint_every": 2}))
    grid = load_grid(str(path))
    assert grid.name == "grid" and len(grid.runs()) == 12 and grid.n_checkpoints == 3


@pytest.mark.parametrize("task,expected", [
    ("cifar10", "data_batch_1"), ("imagenet", "train"), ("simclr", "val"),
    ("wsn", "train_cochleagrams.npy"),
])
def test_missing_datasets_name_the_expected_files(tmp_path, task, expected):
    with pytest.raises(MissingDataError, match=expected):
        load_task(task, tmp_path)
    with pytest.raises(MissingDataError, match="needs its data set"):
        load_task(task, None)


def test_cifar10_and_wsn_loaders_read_their_formats(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    cifar = load_task("cifar10", tmp_path)
    assert len(cifar.train) == 20 and cifar.train.batch(torch.arange(2))[0].shape == (2, 3, 32, 32)
    for split, n in (("train", 6), ("val", 3)):
        np.save(tmp_path / f"{split}_cochleagrams.npy", rng.random((n, 16, 16)))
        np.save(tmp_path / f"{split}_labels.npy", np.arange(n) % 3)
    wsn = load_task("wsn", tmp_path)
    assert wsn.n_classes == 3 and wsn.input_size == 16


def test_imagenet_folders(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            Image.fromarray(np.zeros((20, 24, 3), dtype=np.uint8)).save(folder / "a.png")
    task = load_task("imagenet", tmp_path, input_size=16)
    x, y = task.train.batch(torch.tensor([0, 1]))
    assert x.shape == (2, 3, 16, 16) and y.tolist() == [0, 1] and task.n_classes == 2
