"""Remote entries: download on first open, verify the checksum, refuse on mismatch."""

from __future__ import annotations

import hashlib

import pytest

import goalstore
from goalstore.errors import ChecksumError, RemoteUnavailableError


@pytest.fixture
def remote_file(tmp_path, recording):
    path = tmp_path / "published" / "assembly.nc"
    path.parent.mkdir()
    recording.to_netcdf(path, engine="h5netcdf")
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_verify_and_open(home, remote_file, recording):
    path, checksum = remote_file
    goalstore.register_remote("pub", path.as_uri(), checksum, "netcdf", kind="recording",
                              species="virtual")
    ds = goalstore.open("pub")
    assert ds["response"].chunks is not None
    assert ds.sizes["unit"] == recording.sizes["unit"]
    kept = home / "downloads" / "pub" / "assembly.nc"
    assert kept.exists()
    assert "download pub" in __import__("subprocess").run(
        ["git", "-C", str(home), "log", "-1", "--format=%s"], capture_output=True, text=True).stdout
    assert list(goalstore.search(species="virtual")["name"]) == ["pub"]


def test_checksum_mismatch_is_refused_and_nothing_kept(home, remote_file):
    path, _ = remote_file
    goalstore.register_remote("pub", path.as_uri(), "sha256:" + "0" * 64, "netcdf")
    with pytest.raises(ChecksumError, match="does not match"):
        goalstore.open("pub")
    assert not (home / "downloads" / "pub" / "assembly.nc").exists()


def test_unreachable_url_names_it_and_explains_add_file(home, remote_file, tmp_path):
    path, checksum = remote_file
    url = (tmp_path / "nowhere" / "assembly.nc").as_uri()
    goalstore.register_remote("pub", url, checksum, "netcdf")
    with pytest.raises(RemoteUnavailableError) as info:
        goalstore.open("pub")
    assert url in str(info.value) and "goalstore add-file pub PATH" in str(info.value)
    with pytest.raises(ChecksumError):
        goalstore.add_file("pub", _other(tmp_path))
    goalstore.add_file("pub", path)
    assert goalstore.open("pub")["response"].chunks is not None


def _other(tmp_path):
    other = tmp_path / "other.nc"
    other.write_bytes(b"not the published file")
    return other


def test_entry_without_published_checksum_warns_with_its_hash(home, remote_file):
    path, checksum = remote_file
    goalstore.register_remote("pub", path.as_uri(), None, "netcdf")
    with pytest.warns(UserWarning, match=checksum):
        goalstore.open("pub")


def test_verify_and_history_work_with_a_remote_entry(home, remote_file, recording, tmp_path):
    path, checksum = remote_file
    goalstore.write("rec", recording)
    goalstore.register_remote("pub", path.as_uri(), checksum, "netcdf")
    report = {r["name"]: r for r in goalstore.verify()}  # crashed with KeyError: 'path'
    assert report["rec"]["ok"] and report["pub"]["ok"] and "not downloaded" in report["pub"]["note"]
    assert goalstore.history("pub") == []
    goalstore.open("pub")
    assert len(goalstore.history("pub")) == 1
    assert goalstore.verify("pub")[0] == {"name": "pub", "ok": True, "problems": []}


def test_add_file_without_a_checksum_keeps_the_first_copy(home, remote_file, tmp_path):
    from goalstore.cli import main

    path, _ = remote_file
    goalstore.register_remote("pub", (tmp_path / "nowhere.nc").as_uri(), None, "netcdf")
    goalstore.add_file("pub", path)
    with pytest.raises(ChecksumError, match="--force"):
        goalstore.add_file("pub", _other(tmp_path))
    assert goalstore.open("pub")["response"].chunks is not None  # the good copy is still there
    goalstore.add_file("pub", path)  # the same file again is fine
    assert main(["add-file", "pub", str(_other(tmp_path)), "--force"]) == 0
