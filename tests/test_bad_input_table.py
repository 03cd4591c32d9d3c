"""Every bad input of issue 11 through the CLI, table-driven: the documented exit code, one line on
stderr, and under ``--json`` exactly one JSON document on stdout (the error object for a refusal)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import goalstore
from goalstore.cli import main
from goalstore.sources.virtual_animals import virtual_animals
from tests.conftest import big_recording


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """One root with: ``rec`` (2 versions, annexed), ``one-animal``, ``zero-maps`` and remote ``pub``."""
    home = tmp_path_factory.mktemp("base") / "store"
    published = home.parent / "published.nc"
    previous = os.environ.get("GOALSTORE_HOME")
    os.environ["GOALSTORE_HOME"] = str(home)
    try:
        goalstore.write("rec", big_recording(seed=1))
        goalstore.write("rec", big_recording(seed=2))
        two = virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=12, n_time_bins=1, n_trials=4,
                              n_features=3, seed=1)
        first = np.flatnonzero(two["animal"].values == two["animal"].values[0])
        goalstore.write("one-animal", two.isel(unit=first))
        goalstore.build("demo-rate-maps")
        maps = goalstore.open("demo-rate-maps").load()
        maps["rate"] = maps["rate"] * 0
        goalstore.write("zero-maps", maps)
        two.to_netcdf(published, engine="h5netcdf")
        digest = "sha256:" + hashlib.sha256(published.read_bytes()).hexdigest()
        goalstore.register_remote("pub", published.as_uri(), digest, "netcdf")
    finally:
        if previous is None:
            os.environ.pop("GOALSTORE_HOME", None)
        else:
            os.environ["GOALSTORE_HOME"] = previous
    return home


def _annexed(home: Path, version: int = 2) -> Path:
    """An annex object of ``rec`` (of the latest version, or only of version 1), writable."""
    latest = {p.resolve() for p in (home / "arrays" / "rec.zarr").rglob("*") if p.is_symlink()}
    if version == 2:
        target = sorted(latest)[0]
    else:
        everything = {p for p in (home / ".git" / "annex" / "objects").rglob("*") if p.is_file()}
        target = sorted(everything - latest)[0]
    target.parent.chmod(target.parent.stat().st_mode | stat.S_IWUSR)
    target.chmod(target.stat().st_mode | stat.S_IWUSR)
    return target


def _modify(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _delete_annexed(home: Path) -> list[str]:
    _annexed(home).unlink()
    return ["open", "rec"]


def _modify_annexed(home: Path) -> list[str]:
    _modify(_annexed(home))
    return ["open", "rec", "--check"]


def _modify_older(home: Path) -> list[str]:
    _modify(_annexed(home, version=1))
    return ["verify", "--all-versions"]


def _tamper_git_file(home: Path) -> list[str]:
    (home / "arrays" / "rec.zarr" / ".zattrs").write_text("{}")
    return ["verify", "rec"]


def _catalog(content: bytes | None, argv: list[str]) -> Callable[[Path], list[str]]:
    def damage(home: Path) -> list[str]:
        if content is None:
            (home / "catalog.yaml").unlink()
        else:
            (home / "catalog.yaml").write_bytes(content)
        return argv
    return damage


def _non_empty_dir(home: Path) -> list[str]:
    folder = home.parent / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    return ["catalog", "list", "--home", str(folder)]


def _other_file(home: Path) -> list[str]:
    other = home.parent / "other.nc"
    virtual_animals(seed=5).to_netcdf(other, engine="h5netcdf")
    return ["add-file", "pub", str(other)]


def _argv(*argv: str) -> Callable[[Path], list[str]]:
    return lambda home: list(argv)


CASES = {
    # recipe parameters of the wrong type or unknown: 3
    "param-not-int": (_argv("build", "demo-recording", "--param", "seed=abc"), 3),
    "param-list": (_argv("build", "demo-recording", "--param", "seed=[1,2]"), 3),
    "param-unknown": (_argv("build", "demo-recording", "--param", "nope=1"), 3),
    "bad-store-name": (_argv("build", "lr-identify", "--param", "name=a/b"), 3),
    # entries and versions: 4, 5
    "unknown-entry": (_argv("open", "nosuch"), 4),
    "unknown-history": (_argv("history", "nosuch"), 4),
    "no-such-version": (_argv("open", "rec@99"), 5),
    "malformed-reference": (_argv("open", "rec@"), 5),
    # a directory that is not a store root: 6
    "non-empty-dir": (_non_empty_dir, 6),
    # missing content, misplaced or malformed catalogs: 7
    "absent-annex-object": (_delete_annexed, 7),
    "catalog-garbage-list": (_catalog(b"\x00\xff\xfe binary", ["catalog", "list"]), 7),
    "catalog-bad-yaml": (_catalog(b"entries: [unclosed", ["history", "rec"]), 7),
    "catalog-a-list": (_catalog(b"- a\n- b\n", ["open", "rec"]), 7),
    "catalog-empty-verify": (_catalog(b"", ["verify"]), 7),
    "catalog-missing-verify": (_catalog(None, ["verify"]), 7),
    "catalog-missing-build": (_catalog(None, ["build", "demo-recording"]), 7),
    # content that changed: 8 (open --check, add-file of another file), 11 (verify)
    "tampered-open-check": (_modify_annexed, 8),
    "add-file-other-file": (_other_file, 8),
    "tampered-git-file": (_tamper_git_file, 11),
    "tampered-older-version": (_modify_older, 11),
    # analyses that would return all-null results: 12
    "consistency-one-animal": (_argv("analyze", "consistency", "one-animal", "--splits", "2",
                                     "--bootstrap", "2"), 12),
    "spatial-zero-maps": (_argv("analyze", "spatial", "zero-maps", "--shuffles", "0"), 12),
    "analysis-unknown-entry": (_argv("analyze", "consistency", "pub-missing"), 4),
    # what must work: 0
    "verify-with-remote": (_argv("verify"), 0),
    "history-of-remote": (_argv("history", "pub"), 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exit_code_and_json(base, tmp_path, monkeypatch, capsys, case):
    home = tmp_path / "store"
    shutil.copytree(base, home, symlinks=True)
    monkeypatch.setenv("GOALSTORE_HOME", str(home))
    setup, code = CASES[case]
    argv = setup(home)
    assert main([*argv, "--json"]) == code
    out, err = capsys.readouterr()
    document = json.loads(out)  # exactly one JSON document on stdout
    if code == 11:  # verify's report: the store at fault is not ok, its problems listed
        assert any(not r["ok"] and r["problems"] for r in document)
    elif code:
        assert document["exit_code"] == code and document["error"]
        assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
