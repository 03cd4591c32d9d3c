"""brainio assemblies (Brain-Score netCDF) → canonical recordings, directly and through a remote
catalog entry with a loader; the MajajHong2015 entry."""

from __future__ import annotations

import numpy as np
import pooch
import pytest
import xarray as xr

import goalstore
from goalstore.errors import AnalysisInputError, ChecksumError
from goalstore.schema import validate
from goalstore.sources.brainio import from_brainio, load_assembly


def _assembly(tmp_path, extra_repetition=True, n_images=3):
    """A small brainio-layout file: 3 images × 4 repetitions (shuffled rows), 5 neuroids, 2 time bins;
    the value encodes (image, repetition, neuroid, bin) so the layout can be checked exactly."""
    rng = np.random.default_rng(0)
    rows = [(i, r) for i in range(n_images) for r in range(4)] + ([(1, 4)] if extra_repetition else [])
    rows = [rows[k] for k in rng.permutation(len(rows))]
    image = np.array([f"img{i}" for i, _ in rows])
    rep = np.array([r for _, r in rows])
    noise = rng.standard_normal((len(rows), 5, 2)) if n_images > 3 else 0.0
    values = noise + np.array(
        [[[1000 * i + 100 * r + 10 * n + t for t in range(2)] for n in range(5)] for i, r in rows], dtype=float
    )
    da = xr.DataArray(
        values,
        dims=("presentation", "neuroid", "time_bin"),
        coords={
            "image_id": ("presentation", image),
            "repetition": ("presentation", rep),
            "category_name": ("presentation", np.where(image == "img0", "cars", "faces")),
            "object_name": ("presentation", np.char.add("obj", image)),
            "neuroid_id": ("neuroid", [f"Chabo_L_M_{n}" for n in range(5)]),
            "animal": ("neuroid", ["Chabo"] * 3 + ["Tito"] * 2),
            "region": ("neuroid", ["V4", "IT", "IT", "V4", "IT"]),
            "time_bin_start": ("time_bin", [70, 80]),
            "time_bin_end": ("time_bin", [80, 90]),
        },
        name="assembly",
    )
    path = tmp_path / "assy_test.nc"
    da.to_netcdf(path)
    return path


def test_brainio_file_becomes_a_canonical_recording(tmp_path):
    ds = load_assembly(_assembly(tmp_path), species="macaque", citation="test", license="CC0-1.0")
    validate(ds, "recording")
    assert ds["response"].chunks is not None  # lazy
    assert ds.sizes == {"stimulus": 3, "unit": 5, "time_bin": 2, "trial": 4}
    assert ds.attrs["dropped_presentations"] == 1
    values = ds["response"].values
    order = ds["stimulus_id"].values.tolist()  # the file's order of first appearance
    for i in range(3):
        for r in range(4):
            np.testing.assert_array_equal(
                values[order.index(f"img{i}"), :, :, r],
                1000 * i + 100 * r + 10 * np.arange(5)[:, None] + np.arange(2)[None, :],
            )
    assert dict(zip(order, ds["category"].values.tolist(), strict=True)) == {
        "img0": "cars",
        "img1": "faces",
        "img2": "faces",
    }
    assert ds["area"].values.tolist() == ["V4", "IT", "IT", "V4", "IT"]


def test_brainio_bad_input(tmp_path):
    with pytest.raises(AnalysisInputError, match="no such file"):
        load_assembly(tmp_path / "missing.nc")
    da = xr.DataArray(np.zeros((2, 3)), dims=("presentation", "neuroid"))
    with pytest.raises(AnalysisInputError, match="stimulus_id or image_id"):
        from_brainio(da)


def test_remote_entry_with_a_loader_opens_canonical(home, tmp_path):
    path = _assembly(tmp_path, extra_repetition=False)
    checksum = f"sha1:{pooch.file_hash(str(path), alg='sha1')}"
    goalstore.api.register_remote(
        "toy-assembly",
        path.as_uri(),
        checksum,
        "netcdf",
        kind="recording",
        loader="goalstore.sources.brainio:load_assembly",
    )
    ds = goalstore.open("toy-assembly")
    validate(ds, "recording")
    assert ds.sizes["trial"] == 4 and ds.attrs["dropped_presentations"] == 0


def test_majajhong2015_entry_is_remote_with_checksum_and_loader(home, tmp_path):
    meta = goalstore.describe("MajajHong2015")
    meta = meta.get("metadata", meta)
    assert meta["remote"]["checksum"] == "sha1:13d28ca0ce88ee550b54db3004374ae19096e9b9"
    assert meta["loader"] == "goalstore.sources.brainio:load_assembly"
    with pytest.raises(ChecksumError):  # a file that is not the published one is refused
        goalstore.add_file("MajajHong2015", _assembly(tmp_path))


def test_consistency_of_a_remote_brainio_entry_runs_through_the_cli(home, tmp_path, capsys):
    import json

    from goalstore.cli import main

    path = _assembly(tmp_path, extra_repetition=False, n_images=12)
    goalstore.api.register_remote(
        "toy-assembly",
        path.as_uri(),
        f"sha1:{pooch.file_hash(str(path), alg='sha1')}",
        "netcdf",
        kind="recording",
        loader="goalstore.sources.brainio:load_assembly",
    )
    assert main(["analyze", "consistency", "toy-assembly", "--bootstrap", "2", "--splits", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["store"] == "consistency-toy-assembly" and set(report["areas"]) == {"IT", "V4"}
    assert main(["analyze", "consistency", "toy-assembly", "--model", "toy-assembly"]) == 12  # not activations
