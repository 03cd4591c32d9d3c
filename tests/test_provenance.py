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
