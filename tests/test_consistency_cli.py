"""`goalstore analyze consistency` and `goalstore analyze spatial`: versioned result stores with
provenance, JSON output, figures, bad input."""

from __future__ import annotations

import json

import goalstore
from goalstore.cli import main


def test_analyze_consistency_cli(home, tmp_path, capsys, write_demo):
    write_demo("demo-recording", "demo-model")
    out = tmp_path / "figs"
    assert (
        main(
            [
                "analyze",
                "consistency",
                "demo-recording",
                "--model",
                "demo-model",
                "--mapping",
                "ridge,rsa",
                "--bootstrap",
                "4",
                "--splits",
                "3",
                "--temporal",
                "both",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    it = report["areas"]["IT"]
    entry = it["consistency"]["ridge:per_bin"]
    assert set(entry) == {"median", "sem", "n_units", "units"} and entry["n_units"] == 24
    assert len(entry["units"]) == 24 and len(entry["median"]) == 4  # one value per time bin
    assert it["predictivity"]["ridge:fixed"]["best_layer"] == "layer2"  # similarity 1 to the shared features
    assert "rsa" in it and {p.split("/")[-1] for p in report["figures"]} >= {
        "consistency.png",
        "predictivity_per_layer.png",
    }
    history = goalstore.history(report["store"])
    command = history[-1]["provenance"]["cmd"]
    assert "goalstore produce consistency" in command and "\"pooled\": false" in command
    result = goalstore.open(report["store"])
    assert result.attrs["pooled"] == 0 and result.sizes["temporal"] == 2
    # pooled is a distinct store; booleans survive the datalad-run command line
    assert (
        main(["analyze", "consistency", "demo-recording", "--pooled", "--bootstrap", "2", "--splits", "2",
              "--out", str(tmp_path / "pooled")]) == 0
    )
    assert "consistency-demo-recording-pooled" in capsys.readouterr().out
    assert goalstore.open("consistency-demo-recording-pooled").attrs["pooled"] == 1


def test_analyze_consistency_bad_input(home, capsys, write_demo):
    write_demo("demo-recording")
    assert main(["analyze", "consistency", "demo-recording", "--mapping", "ridgeway"]) == 12
    assert "unknown" in capsys.readouterr().err
    assert main(["analyze", "consistency", "no-such-store"]) == 4


def test_analyze_spatial_cli(home, tmp_path, capsys, write_demo):
    write_demo("demo-rate-maps")
    assert main(["analyze", "spatial", "demo-rate-maps", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_grid_cells"] == 4 and report["cells"]["virtual-mouse_border04"]["border_score"] > 0.7
    assert (tmp_path / "spatial_scores.png").is_file()
    assert main(["analyze", "spatial", "demo-recording"]) != 0  # not a rate-map store
