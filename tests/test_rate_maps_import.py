"""`goalstore import rate-maps`: an .npz in the Gerlei layout → a rate-map recording store (provenance:
file name + sha256) that `goalstore analyze spatial-scores` reads; bad input refused with one line, exit 3,
nothing stored changed.  The real Gerlei file is used where it is present (it is not redistributable)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import goalstore
from goalstore.analyses.spatial import spatial_scores
from goalstore.cli import main
from goalstore.recipes.spatial import default_rate_maps_name
from goalstore.sources.rate_maps import load_gerlei_firing_maps, synthetic_rate_maps
from goalstore.store import StoreRoot
from goalstore.versioning import git

GERLEI = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mec" / "gerlei_open_field" / "firing_maps.npz"
)


@pytest.fixture
def root(home):
    StoreRoot(home)
    return home


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def _synthetic_npz(path: Path) -> np.ndarray:
    """A Gerlei-layout file of the synthetic maps (12 cells, 20 × 20 bins), a few bins unvisited."""
    maps = synthetic_rate_maps(seed=0)["rate"].values.copy()  # unit × x × y
    maps[:, 0, :3] = np.nan
    np.savez(path, firing_maps=maps, cluster_id=np.arange(10, 22), session_id=np.array(["M9_of"] * 12))
    return maps


def test_import_synthetic_npz_then_spatial_scores(root, tmp_path, capsys):
    maps = _synthetic_npz(tmp_path / "maps.npz")
    code, out = _run(capsys, "import", "rate-maps", str(tmp_path / "maps.npz"), "--name", "my-maps",
                     "--box-size-cm", "100", "--json")
    assert code == 0, out
    built = json.loads(out)["my-maps"]
    assert built["kind"] == "recording" and built["sizes"]["unit"] == 12
    ds = goalstore.open("my-maps", home=root)
    np.testing.assert_array_equal(ds["rate"].values, maps)
    np.testing.assert_allclose(ds["x_center"].values, (np.arange(20) + 0.5) * 5.0)
    assert list(ds["unit_id"].values[:2]) == ["M9_of_cluster10", "M9_of_cluster11"]
    digest = hashlib.sha256((tmp_path / "maps.npz").read_bytes()).hexdigest()
    assert ds.attrs["source"] == f"imported file maps.npz (sha256:{digest})"
    assert ds.attrs["license"] == "unknown (see the data's README)" and ds.attrs["file_sha256"] == digest
    (version,) = goalstore.history("my-maps", home=root)
    assert "goalstore produce import-rate-maps" in version["provenance"]["cmd"]
    code, out = _run(capsys, "analyze", "spatial-scores", "my-maps", "--shuffles", "0", "--json",
                     "--out", str(tmp_path / "out"))
    assert code == 0, out
    report = json.loads(out)
    expected = spatial_scores(ds.compute())
    assert report["n_cells"] == 12 and report["n_grid_cells"] == int(expected["is_grid_cell"].sum()) >= 3
    assert default_rate_maps_name(tmp_path / "firing maps.npz") == "rate-maps-firing-maps"  # default --name


def test_bad_input_is_refused_with_one_line_and_nothing_changes(root, tmp_path, capsys):
    np.savez(tmp_path / "flat.npz", firing_maps=np.ones((4, 5)))
    np.savez(tmp_path / "other.npz", rates=np.ones((2, 4, 4)))
    np.savez(tmp_path / "negative.npz", firing_maps=-np.ones((2, 4, 4)))
    np.savez(tmp_path / "ids.npz", firing_maps=np.ones((2, 4, 4)), cluster_id=np.array([1, 1]))
    (tmp_path / "text.npz").write_text("not an archive")
    cases = {
        "missing": ([str(tmp_path / "nowhere.npz")], "no such file"),
        "flat": ([str(tmp_path / "flat.npz")], "firing_maps has shape (4, 5)"),
        "no-array": ([str(tmp_path / "other.npz")], "no array firing_maps"),
        "negative": ([str(tmp_path / "negative.npz")], "negative rates"),
        "ids": ([str(tmp_path / "ids.npz")], "cluster_id has 2 values (1 distinct)"),
        "not-npz": ([str(tmp_path / "text.npz")], "not a readable NumPy .npz file"),
        "box": ([str(tmp_path / "negative.npz"), "--box-size-cm", "0"], "--box-size-cm 0"),
    }
    head = git(root, "rev-parse", "HEAD").strip()
    for label, (argv, message) in cases.items():
        code, out = _run(capsys, "import", "rate-maps", *argv, "--json")
        report = json.loads(out)
        assert code == 3 and report["error_type"] == "SchemaError", (label, report)
        assert message in report["error"] and "\n" not in report["error"], (label, report["error"])
    assert git(root, "rev-parse", "HEAD").strip() == head


@pytest.mark.skipif(not GERLEI.is_file(), reason="../shared/data/mec/gerlei_open_field not present")
def test_import_real_gerlei_file(root, tmp_path, capsys):
    copy = tmp_path / "firing_maps.npz"
    shutil.copyfile(GERLEI, copy)
    built = goalstore.import_rate_maps(copy, name="gerlei", box_size_cm=100, home=root)
    assert built["gerlei"]["sizes"]["unit"] == 7
    ds = goalstore.open("gerlei", home=root)
    expected = load_gerlei_firing_maps(GERLEI)
    np.testing.assert_array_equal(ds["rate"].values, expected["rate"].values)
    np.testing.assert_allclose(ds.attrs["bin_size_cm"], 100 / 42)
    code, out = _run(capsys, "analyze", "spatial-scores", "gerlei", "--shuffles", "0", "--json",
                     "--out", str(tmp_path / "out"))
    assert code == 0, out
    cells = json.loads(out)["cells"]
    np.testing.assert_allclose([c["grid_score"] for c in cells.values()],
                               spatial_scores(expected)["grid_score"].values, rtol=1e-9)
