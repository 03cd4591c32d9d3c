"""The corpus store: built through datalad run, its schema, classifier view, importer, CLI."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest

import goalstore
from goalstore.cli import main
from goalstore.errors import CorruptStoreError
from goalstore.lr_corpus import FINITE_24, classifier_view
from goalstore.schema import TABLES
from goalstore.sources.lr_identify import UntrustedPickleError, parse_obs_key

GRID = {"name": "mini", "pairs": [["digits", "knet4"]], "rules": ["sgdm", "fa"], "batch_sizes": [256],
        "model_seeds": [0], "data_seeds": [0, 1], "epochs": 2, "checkpoint_every": 1, "width": 0.25,
        "val_size": 32}


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(GRID))
    return path


def test_build_corpus_store_schema_provenance_and_view(home, grid_file, capsys):
    code = main(["build", "lr-corpus", "--preset", str(grid_file), "--device", "cpu", "--json"])
    built = json.loads(capsys.readouterr().out)
    assert code == 0 and set(built) == {"lr-corpus-mini", "lr-corpus-mini-runs", "lr-corpus-mini-view"}
    assert built["lr-corpus-mini"]["table_kind"] == "lr_observables"
    assert built["lr-corpus-mini"]["sizes"]["row"] == 4 * 4 * 45 * 3
    table = pq.read_table(home / "tables" / "lr-corpus-mini.parquet")
    assert set(table.column_names) == set(TABLES["lr_observables"].schema.names)
    runs = goalstore.open("lr-corpus-mini-runs").compute()
    assert len(runs) == 4 and set(runs["status"]) == {"completed"} and (runs["device"] == "cpu").all()
    assert len(runs["val_loss"].iloc[0]) == 2
    record = goalstore.history("lr-corpus-mini")[0]["provenance"]
    assert record["cmd"].startswith("goalstore produce lr-corpus") and '"device": "cpu"' in record["cmd"]
    view = goalstore.lr_classifier_view("lr-corpus-mini")
    assert view.features.shape == (4 * 4, 24 * 3)
    assert set(view.labels) == {"sgdm", "fa"} and set(view.groups["curriculum"]) == {"b256-d0", "b256-d1"}
    assert {"architecture", "task", "curriculum", "layer_position"} <= set(view.groups.columns)
    assert np.isfinite(view.cube).all()
    # building again resumes from the finished runs and changes nothing
    assert main(["build", "lr-corpus", "--preset", str(grid_file)]) == 0
    assert len(goalstore.history("lr-corpus-mini")) == 1
    assert goalstore.search(family="lr_corpora", species="artificial neural network")["name"].tolist() == [
        "lr-corpus-mini", "lr-corpus-mini-runs", "lr-corpus-mini-view"]
    pivoted = goalstore.lr_classifier_view("lr-corpus-mini", statistics=FINITE_24)  # from the long table
    np.testing.assert_array_equal(pivoted.cube, view.cube)


def test_raw_unit_matrices_are_kept_as_zarr(home, tmp_path):
    grid = dict(GRID, name="raw", rules=["fa"], data_seeds=[0], keep_raw_layers=["fc1", "conv2"],
                keep_raw_epochs=[0, 2])
    path = tmp_path / "raw.json"
    path.write_text(json.dumps(grid))
    built = goalstore.api.build_lr_corpus(str(path))
    assert "lr-corpus-raw-units" in built and built["lr-corpus-raw-units"]["format"] == "zarr"
    units = goalstore.open("lr-corpus-raw-units")
    assert units["activations"].chunks is not None
    assert units.sizes["example"] == 2 and units["epoch"].values.tolist() == [0, 2]
    assert units.sizes["stimulus"] == 32
    fc1 = units.isel(example=list(units["layer_name"].values).index("fc1"))
    n = int(fc1["n_units"])
    assert np.isfinite(fc1["activations"].values[:, :, :n]).all()
    assert np.isnan(fc1["activations"].values[:, :, n:]).all()


def test_bad_requests(home, capsys, grid_file):
    assert main(["build", "lr-corpus", "--preset", "galactic"]) == 12
    assert "not a preset" in capsys.readouterr().err
    code = main(["build", "lr-corpus", "--preset", str(grid_file), "--device", "cuda"])
    import torch

    if not torch.cuda.is_available():
        assert code != 0 and "CUDA is not available" in capsys.readouterr().err


def _write_lr_identify(path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    rules = np.array(["sgdm", "adam", "fa", "ia", "sgdm", "fa"][:n])
    layers = [f"conv{i}" for i in range(n)]
    meta = np.array(list(zip(rules, ["alexnet"] * n, ["imagenet"] * n, [128] * n, layers, strict=True)),
                    dtype=[("learning_rule", "U8"), ("model", "U16"), ("dataset", "U16"),
                           ("batch_size", int), ("layer", "U8")])
    obs_keys = ["weights_abs_mean", "activations_raw_norm", "activity_change_square_mean"]
    data = {"X": rng.random((n, 21, 3)), "Y": np.arange(n) % 4, "meta": meta, "obs_keys": obs_keys,
            "X_cat": np.eye(3)[np.arange(n) % 3][:, None, :].repeat(21, axis=1)}
    path.write_bytes(pickle.dumps(data))
    return data


def test_importer_round_trip(home, tmp_path, capsys):
    source = _write_lr_identify(tmp_path / "dataset.pkl")
    assert main(["import", "lr-identify", str(tmp_path / "dataset.pkl"), "--trust-pickle"]) == 0
    capsys.readouterr()
    frame = goalstore.open("lr-corpus-lr-identify").compute()
    assert len(frame) == 6 * 21 * 3
    view = classifier_view(home / "tables" / "lr-corpus-lr-identify.parquet", statistics=None)
    order = [view.statistics.index(parse_obs_key(k)) for k in source["obs_keys"]]
    rebuilt = view.cube[:, order, :].transpose(0, 2, 1)
    by_layer = {layer: i for i, layer in enumerate(view.groups["layer"])}
    expected = source["X"][[int(layer[4:]) for layer in by_layer]]
    np.testing.assert_allclose(rebuilt, expected)
    assert view.epochs == list(range(0, 101, 5))
    assert sorted(view.labels) == sorted(source["meta"]["learning_rule"])


def test_importer_refuses_untrusted_and_malformed(home, tmp_path, capsys):
    _write_lr_identify(tmp_path / "dataset.pkl")
    assert main(["import", "lr-identify", str(tmp_path / "dataset.pkl")]) == UntrustedPickleError.exit_code
    assert "--trust-pickle" in capsys.readouterr().err
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle at all")
    assert main(["import", "lr-identify", str(tmp_path / "bad.pkl"), "--trust-pickle"]) != 0
    from goalstore.sources.lr_identify import load_lr_identify

    with pytest.raises(CorruptStoreError, match="not a readable pickle"):
        load_lr_identify(tmp_path / "bad.pkl", trust_pickle=True)
    (tmp_path / "keys.pkl").write_bytes(pickle.dumps({"X": np.zeros((2, 21, 1))}))
    with pytest.raises(CorruptStoreError, match="missing key"):
        load_lr_identify(tmp_path / "keys.pkl", trust_pickle=True)
    (tmp_path / "shape.pkl").write_bytes(pickle.dumps({"X": np.zeros((2, 21, 2)), "Y": [0, 1],
                                                       "meta": np.zeros(2, dtype=[("learning_rule", "U2")]),
                                                       "obs_keys": ["a"]}))
    with pytest.raises(CorruptStoreError, match="1 obs_keys for 2"):
        load_lr_identify(tmp_path / "shape.pkl", trust_pickle=True)


def test_classifier_view_restricts_to_finite_statistics():
    import pandas as pd

    rows = []
    for run, rule in (("r1", "fa"), ("r2", "ia")):
        for epoch in (0, 5):
            for obs, fn, stat in [*FINITE_24, ("weights", "raw", "kurtosis")]:
                rows.append(dict(run_id=run, task="t", architecture="a", learning_rule=rule, batch_size=128,
                                 model_seed=0, data_seed=0, layer="l", layer_index=0, layer_position="early",
                                 epoch=epoch, observable=obs, function=fn, statistic=stat, value=1.0))
    frame = pd.DataFrame(rows)
    assert classifier_view(frame).features.shape == (2, 48)
    assert classifier_view(frame, statistics=None).features.shape == (2, 50)
