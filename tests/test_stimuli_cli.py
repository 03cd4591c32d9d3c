"""`goalstore build embedded-objects` and `goalstore import stimuli`: exit codes, --json documents, and
bad input refused before anything runs (nothing stored changes)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

import goalstore
from goalstore.cli import main
from goalstore.sources.objects import object_images
from goalstore.store import StoreRoot
from goalstore.versioning import git


def test_build_embedded_objects_records_and_reproduces_the_generator(home, capsys):
    code, out = _run(capsys, "build", "embedded-objects", "--json")
    assert code == 0
    built = json.loads(out)["embedded-objects"]
    assert built["kind"] == "stimuli" and built["sizes"]["stimulus"] == 384
    stored = goalstore.open("embedded-objects", home=home)
    assert stored["image"].chunks is not None  # lazily opened
    expected = object_images()
    np.testing.assert_array_equal(stored["image"].values, expected["image"].values)
    xr.testing.assert_equal(stored.drop_vars("image").compute(), expected.drop_vars("image"))
    (version,) = goalstore.history("embedded-objects", home=home)
    assert "goalstore produce embedded-objects" in version["provenance"]["cmd"]


def _head(home) -> str:
    return git(home, "rev-parse", "HEAD").strip()


@pytest.fixture
def root(home):
    StoreRoot(home)  # created once, so a refusal can be checked against an unchanged history
    return home


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, out


def _folder(path, sizes=((8, 8), (8, 8))):
    path.mkdir()
    for i, shape in enumerate(sizes):
        Image.fromarray(np.full((*shape, 3), 40 * i, np.uint8)).save(path / f"im{i}.png")
    return path


def test_import_stimuli_folder_with_json(root, tmp_path, capsys):
    folder = _folder(tmp_path / "set")
    code, out = _run(capsys, "import", "stimuli", str(folder), "--name", "my-set", "--size", "4", "--json")
    assert code == 0
    meta = json.loads(out)["my-set"]
    assert meta["family"] == "stimuli"
    assert meta["sizes"] == {"stimulus": 2, "channel": 3, "height": 4, "width": 4}
    ds = goalstore.open("my-set")
    assert list(ds["stimulus_id"].values) == ["im0", "im1"] and int(ds["image"].values[1].max()) == 40
    assert json.loads(ds.attrs["import"])["source"] == "folder"


def _bad_inputs(tmp_path):
    np.save(tmp_path / "float.npy", np.zeros((2, 4, 4), np.float32))
    np.save(tmp_path / "two.npy", np.zeros((2, 4, 4, 2), np.uint8))
    sizes = _folder(tmp_path / "sizes", sizes=((8, 8), (9, 8)))
    dup = _folder(tmp_path / "dup")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(dup / "im0.jpg")
    with zipfile.ZipFile(tmp_path / "image_b.zip", "w") as archive:
        archive.write(sizes / "im0.png", "im0.png")
    pd.DataFrame({"image_id": ["a", "b"], "filename": ["im0.png", "gone.png"]}).to_csv(tmp_path / "image_b.csv",
                                                                                      index=False)
    return {
        "float": ([str(tmp_path / "float.npy")], "float.npy: dtype float32"),
        "channels": ([str(tmp_path / "two.npy")], "has 2 channels"),
        "sizes": ([str(sizes)], "im1.png is 8x9 pixels but im0.png is 8x8"),
        "duplicate": ([str(dup)], "stimulus id 'im0' occurs twice"),
        "no-image": ([str(tmp_path / "image_b.zip")], "row of stimulus 'b' names filename 'gone.png'"),
        "missing": ([str(tmp_path / "nowhere.npy")], "no such file or folder"),
        "source": ([str(tmp_path / "image_b.csv")], "cannot tell its source"),
        "name": ([str(sizes), "--name", "bad name", "--size", "8"], "store name 'bad name'"),
        "size": ([str(sizes), "--size", "-2"], "--size -2"),
    }


def test_bad_input_is_refused_with_one_line_and_nothing_changes(root, tmp_path, capsys):
    head = _head(root)
    for label, (argv, message) in _bad_inputs(tmp_path).items():
        code, out = _run(capsys, "import", "stimuli", *argv, "--json")
        report = json.loads(out)
        assert code == 3 and report["exit_code"] == 3 and report["error_type"] == "SchemaError", (label, report)
        assert message in report["error"] and "\n" not in report["error"], (label, report["error"])
    assert _head(root) == head
    assert not any(name.startswith("stimuli-") for name in goalstore.search(family="stimuli")["name"])


def test_embedded_objects_refuses_bad_parameters_before_running(root, capsys):
    head = _head(root)
    code, out = _run(capsys, "build", "embedded-objects", "--param", "n_categories=11", "--json")
    assert code == 3 and "at most 10" in json.loads(out)["error"]
    code, out = _run(capsys, "build", "embedded-objects", "--param", "name=a b", "--json")
    assert code == 3 and "store name 'a b'" in json.loads(out)["error"]
    assert _head(root) == head
