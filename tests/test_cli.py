"""The command line: exit codes, one-line errors, --json output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import goalstore
from goalstore.cli import main
from tests.conftest import big_recording


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_catalog_list_search_show_json(home, capsys, recording):
    goalstore.write("rec", recording)
    code, out, _ = run(capsys, "catalog", "list", "--json")
    assert code == 0 and {"rec", "MajajHong2015"} <= {e["name"] for e in json.loads(out)}
    code, out, _ = run(capsys, "catalog", "search", "species=virtual", "kind=recording", "--json")
    assert [e["name"] for e in json.loads(out)] == ["rec"]
    code, out, _ = run(capsys, "catalog", "show", "rec", "--json")
    assert json.loads(out)["sizes"]["stimulus"] == recording.sizes["stimulus"]
    code, out, _ = run(capsys, "catalog", "list")
    assert code == 0 and "rec" in out and "MajajHong2015" in out


def test_open_history_verify_json(home, capsys):
    goalstore.write("rec", big_recording(0))
    goalstore.write("rec", big_recording(1))
    code, out, _ = run(capsys, "open", "rec@1", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["data_vars"]["response"]["lazy"] is True
    code, out, _ = run(capsys, "history", "rec", "--json")
    assert [v["version"] for v in json.loads(out)] == [1, 2]
    code, out, _ = run(capsys, "verify", "--json")
    assert code == 0 and json.loads(out)[0]["ok"]


def test_build_and_rebuild_json(home, capsys):
    code, out, _ = run(capsys, "build", "demo-recording", "--json")
    assert code == 0 and json.loads(out)["demo-recording"]["version"] == 1
    code, out, _ = run(capsys, "rebuild", "demo-recording", "--json")
    assert code == 0 and json.loads(out)["identical"] is True
    code, out, _ = run(capsys, "history", "demo-recording")
    assert "goalstore produce demo-recording" in out


@pytest.mark.parametrize("argv,code,message", [
    (["open", "nope"], 4, "no catalog entry named 'nope'"),
    (["open", "rec@"], 5, "malformed reference"),
    (["open", "rec@9"], 5, "no such version"),
    (["catalog", "search", "colour=red"], 3, "search field 'colour'"),
    (["catalog", "search", "novalue"], 3, "KEY=VALUE"),
    (["rebuild", "rec"], 10, "no recorded command"),
    (["build", "nothing"], 4, "no catalog entry named 'nothing'"),
])
def test_user_errors_exit_nonzero_with_one_line(home, capsys, recording, argv, code, message):
    goalstore.write("rec", recording)
    before = (home / "catalog.yaml").read_text()
    got, _, err = run(capsys, *argv)
    assert got == code
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert (home / "catalog.yaml").read_text() == before


def test_verify_failure_exit_code(home, capsys, recording):
    goalstore.write("rec", recording)
    attrs = home / "arrays" / "rec.zarr" / ".zattrs"
    attrs.write_text(attrs.read_text() + " ")
    code, out, _ = run(capsys, "verify", "rec")
    assert code == 11 and "FAILED" in out and "checksum mismatch" in out


def test_store_root_not_writable_exit_code(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "catalog", "list", "--home", str(blocker / "store"))
    assert code == 6 and "not writable" in err


def test_console_script_and_debug(home):
    script = Path(sys.executable).parent / "goalstore"
    env = {**os.environ, "GOALSTORE_HOME": str(home)}
    proc = subprocess.run([str(script), "open", "missing"], capture_output=True, text=True, env=env)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    proc = subprocess.run([str(script), "--debug", "open", "missing"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([str(script), "schema", "--json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "stimulus" in {d["dim"] for d in json.loads(proc.stdout)["dims"]}
