"""Builds run through `datalad run`; history shows the command; rebuild re-executes it."""

from __future__ import annotations

import subprocess

import pytest

import goalstore
from goalstore.errors import EntryNotFoundError, ProvenanceError
from goalstore.sources.virtual_animals import virtual_animals


def test_build_records_provenance_and_rebuild_is_identical(home):
    meta = goalstore.build("demo-recording")["demo-recording"]
    assert meta["version"] == 1 and meta["origin"] == "store"
    versions = goalstore.history("demo-recording")
    assert len(versions) == 1
    record = versions[0]["provenance"]
    assert record["cmd"].startswith("goalstore produce demo-recording")
    assert "arrays/demo-recording.zarr" in record["outputs"]
    head = subprocess.run(["git", "-C", str(home), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout
    result = goalstore.rebuild("demo-recording")
    assert result["identical"] and result["rerun_of"] == versions[0]["commit"]
    assert len(goalstore.history("demo-recording")) == 1
    after = subprocess.run(["git", "-C", str(home), "rev-parse", "HEAD"], capture_output=True,
                           text=True).stdout
    assert head == after
    status = subprocess.run(["git", "-C", str(home), "status", "--porcelain"], capture_output=True,
                            text=True).stdout
    assert status == ""
    assert goalstore.verify("demo-recording")[0]["ok"]


def test_rebuild_after_a_direct_write_reproduces_the_built_version(home):
    goalstore.build("demo-recording", seed=1)
    # replace the store by hand with other content: the recorded command restores seed 1
    goalstore.write("demo-recording", virtual_animals(seed=2), message="hand edit")
    result = goalstore.rebuild("demo-recording")
    # it says which version it reproduced (1, the built one) and compares against that one
    assert result["reproduces"] == 1 and result["latest_before"] == 2 and result["identical"]
    assert "written directly" in result["note"] and result["version"] == 3
    assert [v["version"] for v in goalstore.history("demo-recording")] == [1, 2, 3]
    import numpy as np

    np.testing.assert_array_equal(goalstore.open("demo-recording")["response"].values,
                                  goalstore.open("demo-recording@1")["response"].values)


def test_rebuild_without_recorded_command(home, recording):
    goalstore.write("rec", recording)
    with pytest.raises(ProvenanceError, match="no recorded command"):
        goalstore.rebuild("rec")


def test_unknown_recipe(home):
    with pytest.raises(EntryNotFoundError, match="demo-recording"):
        goalstore.build("demo-recordin")


def test_produce_follows_goalstore_home_and_plain_datalad_rerun_works(home, tmp_path, monkeypatch):
    import os
    import sys
    from pathlib import Path

    goalstore.build("demo-recording", seed=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = str(Path(sys.executable).parent / "goalstore")
    # run from another directory: produce writes into $GOALSTORE_HOME, not into the cwd
    proc = subprocess.run([script, "produce", "demo-recording", "--param", "seed=2"], cwd=elsewhere,
                          capture_output=True, text=True, env={**os.environ, "GOALSTORE_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert list(elsewhere.iterdir()) == []
    assert subprocess.run(["git", "-C", str(home), "status", "--porcelain"], capture_output=True,
                       text=True).stdout.strip()  # the produced (unsaved) change is in $GOALSTORE_HOME
    subprocess.run(["git", "-C", str(home), "checkout", "--", "."], check=True)
    subprocess.run(["git", "-C", str(home), "clean", "-fdq", "arrays"], check=True)
    # the recorded command names its root (--home .): a plain `datalad rerun` in the dataset, with no
    # $GOALSTORE_HOME at all, reproduces it
    env = {k: v for k, v in os.environ.items() if k != "GOALSTORE_HOME"}
    env["HOME"] = str(tmp_path / "no-home")  # (so no ~/.goalstore could be used either)
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        env[var] = "test" if var.endswith("NAME") else "test@localhost"
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    first = goalstore.history("demo-recording")[0]
    assert " --home . " in first["provenance"]["cmd"]
    proc = subprocess.run([str(Path(sys.executable).parent / "datalad"), "rerun", first["commit"]], cwd=home,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "no-home" / ".goalstore").exists()
    assert goalstore.verify("demo-recording")[0]["ok"]
