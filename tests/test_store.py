"""Store root: lazy reads, atomic writes, versions, history, verification."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import goalstore
from goalstore import formats
from goalstore import store as store_module
from goalstore.errors import (
    CorruptStoreError,
    EntryNotFoundError,
    SchemaError,
    StoreRootError,
    VersionSpecError,
)
from goalstore.store import StoreRoot, parse_reference
from tests.conftest import big_recording


def test_store_root_is_a_configured_datalad_dataset(home):
    root = StoreRoot()
    assert (home / ".datalad" / "config").is_file()
    attributes = (home / ".gitattributes").read_text()
    assert "* annex.backend=SHA256E" in attributes and "MD5E" not in attributes
    annex_cfg = root.path / ".git" / "config"
    assert annex_cfg.exists()
    assert root.layout.arrays == "arrays" and root.layout.catalog == "catalog.yaml"
    assert "/.goalstore-tmp/" in (home / ".gitignore").read_text()


def test_write_then_open_is_lazy_and_round_trips(home, recording):
    meta = goalstore.write("rec", recording, kind="recording")
    assert meta["version"] == 1 and meta["checksum"].startswith("sha256:")
    ds = goalstore.open("rec")
    assert isinstance(ds["response"].data, __import__("dask").array.Array)
    xr.testing.assert_identical(ds.compute()["response"], recording["response"])


def test_netcdf_and_parquet_formats(home, recording):
    goalstore.write("rec-nc", recording, fmt="netcdf")
    assert goalstore.open("rec-nc")["response"].chunks is not None
    frame = pd.DataFrame({
        "run_id": ["a", "b"], "task": "t", "architecture": "m", "learning_rule": ["sgdm", "fa"],
        "batch_size": 128, "model_seed": 0, "data_seed": 1, "layer": "l", "layer_index": 0,
        "layer_position": "early", "epoch": [0, 5], "observable": "weights", "function": "raw",
        "statistic": "mean", "value": [0.5, 1.5]})
    goalstore.write("obs", frame, kind="lr_observables")
    lazy = goalstore.open("obs")
    assert type(lazy).__module__.startswith("dask")
    assert (home / "tables" / "obs.parquet" / "learning_rule=fa").is_dir()
    assert sorted(lazy.compute()["value"]) == [0.5, 1.5]


def test_invalid_write_changes_nothing(home, recording):
    goalstore.write("rec", recording)
    before = (home / "catalog.yaml").read_text()
    bad = recording.copy()
    del bad.attrs["license"]
    with pytest.raises(SchemaError, match="license"):
        goalstore.write("rec", bad)
    assert (home / "catalog.yaml").read_text() == before
    assert len(goalstore.history("rec")) == 1


def test_crash_mid_write_keeps_previous_version(home, recording, monkeypatch):
    goalstore.write("rec", recording)
    root = StoreRoot()

    def crash(ds, path, kind=None):
        Path(path).mkdir()
        (Path(path) / "half-written").write_text("x")
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setitem(formats.FORMATS, "zarr", dataclasses.replace(formats.FORMATS["zarr"], write=crash))
    changed = recording.copy(deep=True)
    changed["response"] = changed["response"] + 1
    with pytest.raises(KeyboardInterrupt):
        root.write("rec", changed)
    assert not list(root.scratch.glob("new-*"))
    xr.testing.assert_identical(goalstore.open("rec").compute()["response"], recording["response"])
    assert root.checksum_matches("rec")


def test_versions_history_and_versioned_reads(home):
    first, second = big_recording(seed=0), big_recording(seed=1)
    goalstore.write("rec", first, message="first")
    goalstore.write("rec", second, message="second")
    versions = goalstore.history("rec")
    assert [v["version"] for v in versions] == [1, 2]
    assert [v["message"] for v in versions] == ["first", "second"]
    assert versions[0]["provenance"] is None
    old = goalstore.open("rec@1")
    assert old["response"].chunks is not None
    np.testing.assert_array_equal(old["response"].values, first["response"].values)
    np.testing.assert_array_equal(goalstore.open("rec@2")["response"].values, second["response"].values)
    np.testing.assert_array_equal(goalstore.open("rec")["response"].values, second["response"].values)
    by_commit = goalstore.open(f"rec@{versions[0]['commit'][:10]}")
    np.testing.assert_array_equal(by_commit["response"].values, first["response"].values)
    # the annexed chunks of version 1 were not touched by writing version 2
    assert goalstore.verify("rec")[0]["ok"]


def test_identical_rewrite_creates_no_version(home, recording):
    goalstore.write("rec", recording)
    goalstore.write("rec", recording.copy(deep=True))
    assert len(goalstore.history("rec")) == 1


@pytest.mark.parametrize("reference", ["rec@", "@1", "rec@1@2", ""])
def test_malformed_references(reference):
    with pytest.raises(VersionSpecError):
        parse_reference(reference)


def test_unknown_versions(home, recording):
    goalstore.write("rec", recording)
    with pytest.raises(VersionSpecError, match="available: 1"):
        goalstore.open("rec@3")
    with pytest.raises(VersionSpecError, match="no version"):
        goalstore.open("rec@abcdef1234")
    with pytest.raises(VersionSpecError, match="malformed"):
        goalstore.open("rec@yesterday")


def test_unknown_entry_lists_closest_matches(home, recording):
    goalstore.write("demo-rec", recording)
    with pytest.raises(EntryNotFoundError) as info:
        goalstore.open("demo-recc")
    assert "demo-rec" in info.value.matches


def test_verify_detects_tampered_annexed_and_git_files(home):
    goalstore.write("rec", big_recording())
    assert goalstore.verify() == [{"name": "rec", "ok": True, "problems": []}]
    chunks = [p for p in (home / "arrays" / "rec.zarr" / "response").iterdir() if p.is_symlink()]
    assert chunks, "the data chunks should be annexed"
    target = Path(os.path.realpath(chunks[0]))
    os.chmod(target, 0o644)
    with open(target, "r+b") as handle:
        handle.write(b"tampered")
    report = goalstore.verify("rec")[0]
    assert not report["ok"]
    assert any("annex" in p for p in report["problems"])
    assert any("checksum mismatch" in p for p in report["problems"])


def test_verify_detects_edited_metadata_and_missing_store(home, recording):
    goalstore.write("rec", recording)
    goalstore.write("other", recording)
    attrs = home / "arrays" / "rec.zarr" / ".zattrs"
    attrs.write_text(attrs.read_text().replace("virtual", "virtuaI"))
    import shutil
    shutil.rmtree(home / "arrays" / "other.zarr")
    report = {r["name"]: r for r in goalstore.verify()}
    assert any("checksum mismatch" in p for p in report["rec"]["problems"])
    assert any("missing" in p for p in report["other"]["problems"])


def test_corrupt_file_is_a_clear_error(home, recording):
    goalstore.write("rec", recording, fmt="netcdf")
    path = home / "arrays" / "rec.nc"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptStoreError, match="rec"):
        goalstore.open("rec")


def test_store_root_not_writable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("GOALSTORE_HOME", str(blocker / "store"))
    with pytest.raises(StoreRootError, match="not writable"):
        StoreRoot()


def test_bad_store_names(home, recording):
    with pytest.raises(SchemaError, match="store name"):
        goalstore.write("../escape", recording)


def test_journal_of_completed_swap_is_cleaned(home, recording):
    root = StoreRoot()
    goalstore.write("rec", recording)
    stale_old = root.scratch / "old-stale"
    stale_old.mkdir()
    (root.scratch / "swap-x.json").write_text(json.dumps({
        "final": str(home / "arrays" / "rec.zarr"), "old": str(stale_old), "new": None,
        "stage": "swapped"}))
    StoreRoot()
    assert not stale_old.exists() and root.checksum_matches("rec")


def test_format_change_keeps_history_and_removes_the_old_layout(home, recording):
    """zarr → netcdf → zarr is one store with three versions; each commit holds one layout."""
    goalstore.write("rec", recording)
    second = recording.copy(deep=True)
    second["response"] = second["response"] + 1
    meta = goalstore.write("rec", second, fmt="netcdf")
    assert meta["version"] == 2 and meta["path"] == "arrays/rec.nc"
    assert meta["former_paths"] == ["arrays/rec.zarr"]
    assert not (home / "arrays" / "rec.zarr").exists()
    tracked = store_module.versioning.git(home, "ls-files", "arrays").split()
    assert tracked and all(p.startswith("arrays/rec.nc") for p in tracked)  # removed in the same commit
    third = recording.copy(deep=True)
    third["response"] = third["response"] + 2
    assert goalstore.write("rec", third)["version"] == 3
    assert [v["version"] for v in goalstore.history("rec")] == [1, 2, 3]
    for number, expected in ((1, recording), (2, second), (3, third)):
        xr.testing.assert_identical(goalstore.open(f"rec@{number}", check=True)["response"].compute(),
                                    expected["response"])
    assert all(r["ok"] for r in goalstore.verify(all_versions=True))
    status = store_module.versioning.git(home, "status", "--porcelain")
    assert status == ""


def test_latest_version_number_reads_its_commit_not_the_working_tree(home, recording):
    goalstore.write("rec", recording)
    changed = recording.copy(deep=True)
    changed["response"] = changed["response"] * 3
    goalstore.write("rec", changed)
    # an uncommitted change in the working tree (what a killed writer could leave)
    root = StoreRoot()
    root.write("rec", recording.assign(response=recording["response"] - 7), save=False)
    xr.testing.assert_identical(goalstore.open("rec@2")["response"].compute(), changed["response"])
    xr.testing.assert_identical(goalstore.open("rec@1")["response"].compute(), recording["response"])


def test_a_lazily_opened_store_keeps_its_version_after_a_later_write(home):
    first, second = big_recording(seed=1), big_recording(seed=2)
    goalstore.write("rec", first)
    opened = goalstore.open("rec")  # lazy: nothing read yet
    goalstore.write("rec", second)
    np.testing.assert_array_equal(opened["response"].values, first["response"].values)
    np.testing.assert_array_equal(goalstore.open("rec")["response"].values, second["response"].values)
