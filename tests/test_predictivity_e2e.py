"""End to end (issue 13): the embedded object images, virtual animals viewing them, a trained network
and an untrained control of the same architecture, ranked by `goalstore analyze predictivity`.

Needs the stimulus-set, model-store and extraction parts; skipped only while those modules are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("goalstore.sources.objects")
pytest.importorskip("goalstore.recipes.extract")
pytest.importorskip("goalstore.recipes.models")

import goalstore
from goalstore.cli import main


@pytest.mark.slow
def test_trained_network_outranks_its_untrained_control_in_it(home, tmp_path, capsys):
    """Ground truth (``virtual_animals_viewing``): IT reads out category/object identity (75 % of its
    signal), which training on the categories builds and a random network lacks; V4 reads out a random
    convolutional stage, which both networks' early layers approximate."""
    assert main(["build", "embedded-objects"]) == 0
    assert main(["build", "embedded-objects", "--param", "seed=1", "--param", "name=embedded-objects-fit"]) == 0
    assert main(["build", "demo-objects-recording"]) == 0
    assert main(["build", "model", "--param", "name=knet4-objects", "--param", "epochs=10"]) == 0
    assert main(["build", "model", "--param", "name=knet4-untrained", "--param", "epochs=0"]) == 0
    capsys.readouterr()
    argv = ["analyze", "predictivity", "demo-objects-recording", "--models", "knet4-untrained,knet4-objects",
            "--reduce", "pca:100", "--pca-fit", "embedded-objects-fit", "--bootstrap", "10", "--splits", "3",
            "--out", str(tmp_path / "figs"),
            "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    it = {row["model"]: row for row in report["areas"]["IT"]["ranking"]}
    assert it["knet4-objects"]["rank"] == 1 and it["knet4-untrained"]["rank"] == 2
    assert it["knet4-objects"]["fraction_of_ceiling"] > it["knet4-untrained"]["fraction_of_ceiling"] + 0.05
    assert 0 < report["areas"]["IT"]["ceiling"]["median"] <= 1.2
    v4 = {row["model"]: row for row in report["areas"]["V4"]["ranking"]}
    assert v4["knet4-untrained"]["fraction_of_ceiling"] > 0.5  # a random conv stage predicts V4 well
    assert sorted(Path(p).name for p in report["figures"]) == ["predictivity_per_layer.png", "ranking.png"]
    result = goalstore.open(report["store"])
    assert result.attrs["models"] == ["knet4-untrained", "knet4-objects"]
    assert [s.split("-embedded-objects-")[0] for s in result.attrs["activation_stores"]] == [
        "act-knet4-untrained", "act-knet4-objects"]
    assert result.attrs["stimuli"] == "embedded-objects"
    # again: the extractions are reused (content-addressed) and the identical result makes no new version
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["store"] == report["store"] and again["version"] == report["version"]
