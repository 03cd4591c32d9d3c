"""Issue 11: a missing or corrupt catalog.yaml while stores exist is refused by verify and write
(exit 7, pointing at `goalstore repair`), and `goalstore repair` rebuilds it from the stores."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

import goalstore
from goalstore.cli import main
from goalstore.errors import CorruptStoreError
from goalstore.schema import TABLES, TableSpec
from goalstore.sources.virtual_animals import virtual_animals
from tests.conftest import big_recording

STORES = ("obs", "rec", "rec-nc")
repair_module = importlib.import_module("goalstore.catalog_repair")


def _recording(seed: int = 1):
    return virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=6, n_time_bins=2, n_trials=3,
                           n_features=3, seed=seed)


def _observables() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["a", "b"], "task": "t", "architecture": "m", "learning_rule": ["sgdm", "fa"],
        "batch_size": 128, "model_seed": 0, "data_seed": 1, "layer": "l", "layer_index": 0,
        "layer_position": "early", "epoch": [0, 5], "observable": "weights", "function": "raw",
        "statistic": "mean", "value": [0.5, 1.5]})


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store root with a zarr store in 2 versions (the second annexed), a netCDF store, a table
    store and a remote entry, built once; each test works on a copy."""
    path = tmp_path_factory.mktemp("repair-template") / "store"
    goalstore.write("rec", _recording(), home=path)
    goalstore.write("rec", big_recording(seed=2), home=path, message="second version")
    goalstore.write("rec-nc", _recording(seed=3), fmt="netcdf", home=path)
    goalstore.write("obs", _observables(), kind="lr_observables", home=path)
    goalstore.register_remote("pub", "https://example.org/pub.nc", "sha256:" + "0" * 64, "netcdf",
                              home=path, kind="recording", species="mouse")
    return path


@pytest.fixture
def root(template, home):
    shutil.copytree(template, home, symlinks=True)
    return home


def _entries(home) -> dict:
    return yaml.safe_load((home / "catalog.yaml").read_text())["entries"]


def _head(home) -> str:
    return subprocess.run(["git", "-C", str(home), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _git(home, *args: str) -> None:
    subprocess.run(["git", "-C", str(home), *args], capture_output=True, check=True)


def _damage(home, how: str) -> None:
    catalog = home / "catalog.yaml"
    if how in ("deleted", "deleted-and-committed"):
        catalog.unlink()
        if how == "deleted-and-committed":
            _git(home, "commit", "-q", "-a", "-m", "remove the catalog")
    elif how == "garbage":
        catalog.write_bytes(b"\x00\x01\xff\xfegarbage\x89PNG")
    elif how == "invalid-yaml":
        catalog.write_text("entries: [unclosed\n  rec: {\n")
    elif how == "a-list":
        catalog.write_text("- rec\n- obs\n")


DAMAGES = ["deleted", "deleted-and-committed", "garbage", "invalid-yaml", "a-list"]


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_catalog_is_refused_then_repaired(root, capsys, how):
    before = _entries(root)
    assert set(before) == {*STORES, "pub"}
    _damage(root, how)
    head = _head(root)
    damaged = (root / "catalog.yaml").read_bytes() if (root / "catalog.yaml").exists() else None

    # verify: exit 7, one JSON document naming the number of stores and `goalstore repair`
    capsys.readouterr()
    assert main(["verify", "--json"]) == 7
    out = capsys.readouterr().out
    error = json.loads(out)
    assert error["exit_code"] == 7 and error["error_type"] == "CorruptStoreError"
    assert "3 store(s)" in error["error"] and "goalstore repair" in error["error"]

    # write: refused, nothing changed
    with pytest.raises(CorruptStoreError, match="goalstore repair"):
        goalstore.write("new", _recording(seed=5))
    with pytest.raises(CorruptStoreError, match="goalstore repair"):
        goalstore.register_remote("other", "https://example.org/o.nc", None, "netcdf")
    assert _head(root) == head
    assert not (root / "arrays" / "new.zarr").exists()
    now = (root / "catalog.yaml").read_bytes() if (root / "catalog.yaml").exists() else None
    assert now == damaged

    # repair: the same entries, versions and checksums as before the damage
    capsys.readouterr()
    assert main(["repair", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["repaired"] and report["catalog"] == ("missing" if how.startswith("deleted") else "corrupt")
    assert report["skipped"] == []
    sources = {s["name"]: s["source"] for s in report["stores"]}
    assert sources == {"obs": "recorded", "rec": "recorded", "rec-nc": "recorded", "pub": "remote"}
    assert {s["name"]: s["version"] for s in report["stores"]} == {"obs": 1, "rec": 2, "rec-nc": 1, "pub": 1}
    assert _entries(root) == before
    if how == "deleted-and-committed":
        assert _head(root) == report["commit"] != head
    else:  # the rebuilt catalog is the committed one: nothing to commit
        assert _head(root) == head and report["commit"] is None
    assert subprocess.run(["git", "-C", str(root), "status", "--porcelain", "catalog.yaml"],
                          capture_output=True, text=True).stdout == ""  # saved

    assert all(item["ok"] for item in goalstore.verify())
    assert main(["verify"]) == 0
    assert [v["version"] for v in goalstore.history("rec")] == [1, 2]
    assert goalstore.open("rec")["response"].shape == big_recording(seed=2)["response"].shape
    assert goalstore.open("rec@1")["response"].shape == _recording()["response"].shape
    assert goalstore.open("rec-nc", check=True)["response"].chunks is not None
    assert sorted(goalstore.open("obs").compute()["value"]) == [0.5, 1.5]
    assert goalstore.describe("pub")["remote"]["url"] == "https://example.org/pub.nc"
    # and writing works again, keeping every other entry
    goalstore.write("new", _recording(seed=5))
    assert set(_entries(root)) == {*STORES, "pub", "new"}


def test_repair_of_a_healthy_catalog_writes_nothing(root, capsys):
    head, text = _head(root), (root / "catalog.yaml").read_text()
    assert main(["repair", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["catalog"] == "ok" and not report["repaired"] and report["stores"] == []
    assert main(["repair"]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert _head(root) == head and (root / "catalog.yaml").read_text() == text


def test_a_new_empty_root_works_without_a_catalog(home, capsys):
    assert main(["verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    report = goalstore.repair()
    assert report["catalog"] == "ok" and not report["repaired"]
    assert not (home / "catalog.yaml").exists()
    goalstore.write("rec", _recording())
    assert set(_entries(home)) == {"rec"}


def test_repair_adds_only_the_missing_entries(root):
    text = (root / "catalog.yaml").read_text()
    raw = yaml.safe_load(text)
    del raw["entries"]["rec-nc"]
    (root / "catalog.yaml").write_text(yaml.safe_dump(raw))
    before = _entries(root)
    report = goalstore.repair()
    assert report["catalog"] == "incomplete" and report["repaired"]
    assert [(s["name"], s["source"]) for s in report["stores"]] == [("rec-nc", "recorded")]
    after = _entries(root)
    assert set(after) == {*STORES, "pub"}
    assert {k: v for k, v in after.items() if k != "rec-nc"} == before
    assert after == yaml.safe_load(text)["entries"]


def test_reconstructed_metadata_equals_the_recorded(root, monkeypatch):
    """Without recorded metadata (or when it no longer matches), each store is described from
    its content, as its write described it: same checksum, version, sizes, columns, …"""
    before = _entries(root)
    (root / "catalog.yaml").unlink()
    monkeypatch.setattr(repair_module, "_recorded", lambda root, store: None)
    report = goalstore.repair()
    assert {s["name"]: s["source"] for s in report["stores"]} == {
        "obs": "reconstructed", "rec": "reconstructed", "rec-nc": "reconstructed", "pub": "remote"}
    assert _entries(root) == before
    assert all(item["ok"] for item in goalstore.verify())


def test_recorded_metadata_that_does_not_match_the_content_is_not_used(root):
    """A store changed after its last commit (here: the previous version checked out again,
    uncommitted) is described from its content, with its content's checksum."""
    (root / "catalog.yaml").unlink()
    _git(root, "rm", "-r", "-q", "arrays/rec.zarr")
    _git(root, "checkout", "HEAD~4", "--", "arrays/rec.zarr")  # version 1's files, staged
    report = goalstore.repair()
    rec = next(s for s in report["stores"] if s["name"] == "rec")
    assert rec["source"] == "reconstructed" and rec["version"] == 2
    assert rec["checksum"] == goalstore.checksum.content_checksum(root / "arrays" / "rec.zarr")
    assert _entries(root)["rec"]["metadata"]["sizes"]["unit"] == 8  # version 1's content


def test_an_ambiguous_table_is_skipped_with_a_reason(root, monkeypatch, capsys):
    (root / "catalog.yaml").unlink()
    monkeypatch.setattr(repair_module, "_recorded", lambda root, store: None)
    twin = TABLES["lr_observables"]
    monkeypatch.setitem(TABLES, "lr_twin", TableSpec("lr_twin", twin.schema, twin.partition_by))
    assert main(["repair", "--json"]) == 7
    report = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in report["skipped"]] == ["obs"]
    assert "several table kinds (lr_observables, lr_twin)" in report["skipped"][0]["reason"]
    assert set(_entries(root)) == {"rec", "rec-nc", "pub"}


def test_remote_entries_alone_are_guarded_and_restored(home, capsys):
    goalstore.register_remote("pub", "https://example.org/pub.nc", None, "netcdf", kind="recording")
    before = _entries(home)
    (home / "catalog.yaml").unlink()
    with pytest.raises(CorruptStoreError, match=r"1 remote entry.*goalstore repair"):
        goalstore.write("rec", _recording())
    assert not (home / "arrays" / "rec.zarr").exists()
    assert main(["repair"]) == 0
    out = capsys.readouterr().out
    assert "catalog missing" in out and "pub: remote" in out
    assert _entries(home) == before
