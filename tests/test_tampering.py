"""Tampering suite: every kind of change to a store's stored files is found by ``verify``
(exit 11, the problem in its JSON report) and refused or detected by ``open``.

One 2-version store root is built per module and copied per test (annex links are relative,
so a ``copytree`` with ``symlinks=True`` is a working copy of the dataset).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import goalstore
from goalstore.cli import main
from goalstore.errors import ChecksumError, CorruptStoreError
from goalstore.store import StoreRoot
from goalstore.verification import FSCK_SKIPPED

from .conftest import big_recording

STORE = "arrays/rec.zarr"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A store root with array store ``rec`` (2 versions, annexed data chunks) and table store ``obs``."""
    path = tmp_path_factory.mktemp("tampering") / "store"
    root = StoreRoot(path)
    root.write("rec", big_recording(seed=0), message="first")
    root.write("rec", big_recording(seed=1), message="second")
    frame = pd.DataFrame({
        "run_id": ["a", "b"], "task": "t", "architecture": "m", "learning_rule": ["sgdm", "fa"],
        "batch_size": 128, "model_seed": 0, "data_seed": 1, "layer": "l", "layer_index": 0,
        "layer_position": "early", "epoch": [0, 5], "observable": "weights", "function": "raw",
        "statistic": "mean", "value": [0.5, 1.5]})
    root.write("obs", frame, kind="lr_observables")
    return path


@pytest.fixture
def root(built, home) -> Path:
    shutil.copytree(built, home, symlinks=True)
    return home


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def _annexed(root: Path) -> dict[str, Path]:
    """Annexed files of the working tree's ``rec``: relative path -> annex object."""
    return {str(p.relative_to(root)): p.resolve() for p in (root / STORE).rglob("*") if p.is_symlink()}


def _target(root: Path, where: str) -> tuple[str, Path]:
    """(path as reported, file to tamper with) for ``where``."""
    latest = _annexed(root)
    assert latest, "the data chunks should be annexed"
    if where == "latest-annexed":
        name = sorted(latest)[0]
        return name, latest[name]
    if where == "latest-git":
        name = f"{STORE}/.zmetadata"
        assert not (root / name).is_symlink()
        return name, root / name
    first = _git(root, "log", "--reverse", "--format=%H", "--", STORE).split()[0]
    in_use = set(latest.values())
    for line in _git(root, "ls-tree", "-r", first, "--", STORE).splitlines():
        mode, _, _, name = line.split(maxsplit=3)
        if mode == "120000":
            link = _git(root, "show", f"{first}:{name}")
            obj = (root / name).parent.joinpath(link).resolve()
            if obj not in in_use:
                return name, obj
    raise AssertionError("no annexed object only version 1 references")


def _tamper(path: Path, how: str) -> None:
    for p in (path.parent, path):  # annex objects and their directories are read-only
        os.chmod(p, p.stat().st_mode | 0o200)
    if how == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))


def _verify(capsys, *flags: str) -> tuple[int, dict[str, dict]]:
    capsys.readouterr()
    code = main(["verify", "--json", *flags])
    out = capsys.readouterr().out
    return code, {item["name"]: item for item in json.loads(out)}


def test_untampered_root_verifies_with_all_versions(root, capsys):
    code, report = _verify(capsys, "--all-versions")
    assert code == 0
    assert report["rec"]["ok"] and report["rec"]["problems"] == []
    assert [(v["version"], v["ok"]) for v in report["rec"]["versions"]] == [(1, True), (2, True)]
    assert [(v["version"], v["ok"]) for v in report["obs"]["versions"]] == [(1, True)]
    assert "notes" not in report["rec"]
    # the check materialises nothing into the root (no cache, nothing left behind)
    assert not (root / ".goalstore-cache").exists()
    assert _git(root, "status", "--porcelain") == ""


@pytest.mark.parametrize("where", ["latest-annexed", "latest-git", "older-annexed"])
@pytest.mark.parametrize("how", ["modify", "truncate", "delete"])
def test_tampering_is_detected(root, capsys, how, where):
    name, path = _target(root, where)
    _tamper(path, how)

    # open refuses, or detects with check=True
    if where == "older-annexed":
        goalstore.open("rec", check=True)  # the latest version is intact
        with pytest.raises((ChecksumError, CorruptStoreError)) as info:
            goalstore.open("rec@1", check=True)
        assert isinstance(info.value, CorruptStoreError if how == "delete" else ChecksumError)
    else:
        if where == "latest-annexed" and how == "delete":
            with pytest.raises(CorruptStoreError):
                goalstore.open("rec")
        with pytest.raises((ChecksumError, CorruptStoreError)) as info:
            goalstore.open("rec", check=True)
    assert info.value.exit_code in (7, 8)

    flags = ("--all-versions",) if where == "older-annexed" else ()
    if where == "older-annexed":  # only --all-versions looks at older versions
        code, report = _verify(capsys)
        assert code == 0 and report["rec"]["ok"]
    code, report = _verify(capsys, *flags)
    assert code == 11
    rec = report["rec"]
    assert not rec["ok"]
    assert report["obs"]["ok"]
    problems = "\n".join(rec["problems"])
    if where == "latest-annexed":
        if how == "delete":
            assert f"content missing: {name}" in problems
        else:
            assert "checksum mismatch" in problems
            assert f"annex: {name}" in problems  # git annex fsck names the file
    elif where == "latest-git":
        assert "checksum mismatch" in problems
    else:
        assert all(p.startswith("version 1 (") for p in rec["problems"])
        v1, v2 = rec["versions"]
        assert not v1["ok"] and v2["ok"]
        if how == "delete":
            assert f"content of {name} at commit" in problems and "not present" in problems
        else:
            assert "checksum mismatch" in problems
            assert f"annexed content does not match its key: {name}" in problems


def _read_only_command() -> list[str]:
    """Run as this user but unable to write where the mode bits say so (root ignores them unless
    its capability to override file permissions is dropped)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make the store root read-only")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable"]


@pytest.mark.parametrize("tampered", [False, True])
def test_verify_on_read_only_root_finishes(root, tampered):
    """``git annex fsck`` hung for ever on a read-only root; verify skips it and says so."""
    prefix = _read_only_command()
    assert goalstore.verify()[0]["ok"]  # git annex fsck hangs on a read-only root where it ran before
    if tampered:
        _tamper(_target(root, "older-annexed")[1], "modify")
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    try:
        env = {**os.environ, "GOALSTORE_HOME": str(root),
               "PYTHONPATH": str(Path(goalstore.__file__).parents[1])}
        flags = ["--all-versions"] if tampered else []  # a plain verify hung too
        proc = subprocess.run([*prefix, sys.executable, "-m", "goalstore", "verify", "--json", *flags],
                              capture_output=True, text=True, env=env, timeout=60)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
    assert proc.returncode == (11 if tampered else 0), proc.stderr
    report = {item["name"]: item for item in json.loads(proc.stdout)}
    assert report["rec"]["notes"] == [FSCK_SKIPPED] and report["obs"]["ok"]
    assert report["rec"]["ok"] is not tampered
    if tampered:
        assert "annexed content does not match its key" in "\n".join(report["rec"]["problems"])
