"""Errors end-to-end: under --json stdout is one JSON document (also for an error), and an error
raised inside a recorded run (``goalstore produce`` under ``datalad run``) comes back with its own
class, message and exit code instead of a truncated "produce … failed" (exit 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import goalstore
from goalstore.errors import CorruptStoreError, EntryNotFoundError


def cli(home, *argv):
    env = {**os.environ, "GOALSTORE_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "goalstore.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_build_json_stdout_is_one_document(home):
    code, out, err = cli(home, "build", "demo-rate-maps", "--json")
    assert code == 0
    assert set(json.loads(out)) == {"demo-rate-maps"}  # the recorded command's lines went to stderr
    assert "produced demo-rate-maps" in err


def test_an_error_inside_a_recorded_run_keeps_its_code_and_message(home, tmp_path):
    missing = tmp_path / "missing.pkl"
    code, out, err = cli(home, "build", "lr-identify", "--param", f"path={missing}",
                         "--param", "trust_pickle=true", "--json")
    assert code == CorruptStoreError.exit_code == 7
    report = json.loads(out)
    assert report["exit_code"] == 7 and report["error_type"] == "CorruptStoreError"
    assert "no such file" in report["error"] and "produce" not in report["error"]
    assert err.strip().splitlines()[-1].startswith("goalstore: error:") and "no such file" in err
    with pytest.raises(CorruptStoreError, match="no such file"):  # the same class from the API
        goalstore.build("lr-identify", home=home, path=str(missing), trust_pickle=True)


def test_json_error_names_the_entry(home):
    code, out, _ = cli(home, "catalog", "show", "no-such-entry", "--json")
    assert code == EntryNotFoundError.exit_code
    report = json.loads(out)
    assert report["entry"] == "no-such-entry" and report["exit_code"] == 4
