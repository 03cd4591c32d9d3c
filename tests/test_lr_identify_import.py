"""The published lr-identify corpus layout: names, X_cat, row-keyed examples, streaming, analysis."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import goalstore
from goalstore.cli import main
from goalstore.lr_corpus import FINITE_24
from goalstore.sources.lr_identify import (
    PUBLISHED_FINITE_24,
    UnknownObservableError,
    lr_identify_view,
    observable_batches,
    parse_obs_key,
    read_lr_identify,
)

RULES = np.array(["sgdm", "adam", "fa", "ia"])
ALL_PUBLISHED = ([f"{m}{f}_{s}" for m in ("weight", "act") for f in ("abs", "raw", "sq")
                  for s in ("kurtosis", "mean", "median", "norm", "skew", "thirdquartile", "var")]
                 + [f"gradavg{f}_id" for f in ("abs", "raw", "sq")])


def write_published(path, n=160, signal=0.0, seed=0, n_checkpoints=21):
    """A pickle in exactly the published layout: the 24 finite names (lr-identify's order),
    ``X_cat`` one-hot per example and checkpoint, ``meta`` holding only learning_rule, model,
    dataset (so (run, layer) cannot tell examples apart).  ``signal`` > 0 plants the rule in
    one weight and one activation statistic; 0 leaves labels independent of the features."""
    rng = np.random.default_rng(seed)
    labels = RULES[np.arange(n) % 4]
    x = rng.standard_normal((n, n_checkpoints, len(PUBLISHED_FINITE_24)))
    code = np.searchsorted(np.sort(RULES), labels).astype(float)
    x[:, :, 0] += signal * code[:, None] * np.linspace(0, 1, n_checkpoints)
    x[:, :, 13] -= signal * code[:, None]
    rng.shuffle(labels) if signal == 0 else None  # chance: labels carry nothing about x
    row = np.arange(n)  # architecture and task cross every rule
    meta = np.array(list(zip(labels, np.where(row // 4 % 2, "alexnet", "resnet18"),
                             np.where(row // 8 % 2, "imagenet", "wsn"), strict=True)),
                    dtype=[("learning_rule", "U8"), ("model", "U16"), ("dataset", "U16")])
    x_cat = np.eye(3)[np.arange(n) % 3][:, None, :].repeat(n_checkpoints, axis=1)
    data = {"X": x, "Y": np.searchsorted(np.sort(RULES), labels), "meta": meta,
            "obs_keys": np.array(PUBLISHED_FINITE_24), "X_cat": x_cat}
    path.write_bytes(pickle.dumps(data))
    return data


def test_every_published_name_maps_and_the_finite_24_are_goalstores():
    parsed = [parse_obs_key(k) for k in ALL_PUBLISHED]
    assert len(set(parsed)) == 45
    assert [parse_obs_key(k) for k in PUBLISHED_FINITE_24] and \
        {parse_obs_key(k) for k in PUBLISHED_FINITE_24} == set(FINITE_24)
    assert parse_obs_key("weightabs_mean") == ("weights", "abs", "mean")
    assert parse_obs_key("actraw_thirdquartile") == ("activations", "raw", "q3")
    assert parse_obs_key("gradavgsq_id") == ("activity_change", "square", "mean")
    assert parse_obs_key("weights_abs_mean") == ("weights", "abs", "mean")  # goalstore's own names
    for bad in ("weightabs_id", "gradavgraw_mean", "weightcube_mean", "foo"):
        with pytest.raises(UnknownObservableError, match=repr(bad)):
            parse_obs_key(bad)


def test_every_example_stays_its_own_and_positions_come_from_x_cat(tmp_path):
    source = write_published(tmp_path / "dataset.pkl", n=2000)
    corpus = read_lr_identify(tmp_path / "dataset.pkl", trust_pickle=True)
    assert len(corpus.examples) == 2000 and corpus.examples["run_id"].is_unique
    assert corpus.examples["layer_position"].tolist()[:4] == ["early", "middle", "deep", "early"]
    view = lr_identify_view(corpus, FINITE_24)
    assert view.cube.shape == (2000, 24, 21) and view.epochs == list(range(0, 101, 5))
    # the view holds exactly the published numbers, statistic by statistic
    row = int(view.groups["run_id"].iloc[0].rsplit("#", 1)[1])
    column = list(PUBLISHED_FINITE_24).index("actraw_thirdquartile")
    np.testing.assert_array_equal(view.cube[0, view.statistics.index(("activations", "raw", "q3"))],
                                  source["X"][row, :, column])
    batches = list(observable_batches(corpus, max_rows=50_000))
    assert max(b.num_rows for b in batches) <= 50_000
    assert sum(b.num_rows for b in batches) == 2000 * 21 * 24


def test_import_cli_keeps_examples_and_refuses_unknown_names(home, tmp_path, capsys):
    write_published(tmp_path / "dataset.pkl", n=300)
    assert main(["import", "lr-identify", str(tmp_path / "dataset.pkl"), "--trust-pickle", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["lr-corpus-lr-identify"]["sizes"]["row"] == 300 * 21 * 24
    assert built["lr-corpus-lr-identify-view"]["sizes"]["row"] == 300
    assert len(goalstore.lr_classifier_view("lr-corpus-lr-identify").groups) == 300
    # a second corpus side by side
    write_published(tmp_path / "other.pkl", n=40, seed=3)
    assert main(["import", "lr-identify", str(tmp_path / "other.pkl"), "--trust-pickle",
                 "--name", "lr-corpus-other"]) == 0
    assert len(goalstore.lr_classifier_view("lr-corpus-other").groups) == 40
    assert len(goalstore.lr_classifier_view("lr-corpus-lr-identify").groups) == 300
    # an unmappable name: one line naming it, exit 12, nothing stored
    data = pickle.loads((tmp_path / "other.pkl").read_bytes())
    data["obs_keys"] = np.array([*PUBLISHED_FINITE_24[:5], "weightcube_mean", "nonsense",
                                 *PUBLISHED_FINITE_24[7:]])
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps(data))
    capsys.readouterr()
    assert main(["import", "lr-identify", str(tmp_path / "bad.pkl"), "--trust-pickle",
                 "--name", "lr-corpus-bad"]) == 12
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'weightcube_mean'" in err[0] and "nonsense" not in err[0]
    assert "lr-corpus-bad" not in goalstore.search()["name"].tolist()


@pytest.mark.parametrize("signal", [0.0, 3.0])
def test_analysis_on_an_import_finds_chance_or_the_planted_signal(home, tmp_path, capsys, signal):
    write_published(tmp_path / "dataset.pkl", n=160, signal=signal)
    assert goalstore.api.import_lr_identify(tmp_path / "dataset.pkl", trust_pickle=True)
    # chance needs 3 splits of 40 test examples for its tolerance; the planted signal is clear in 2
    args = ["analyze", "lr-identify", "lr-corpus-lr-identify", "--classifier", "rf", "--fast",
            "--splits", "2" if signal else "3", "--cv", "2", "--workers", "1", "--json"]
    if signal:  # every option on the import: holdouts by architecture and task, subsampling
        args += ["--holdout", "architecture", "--holdout", "task", "--subsample", "10,25",
                 "--samples", "3", "--out", str(tmp_path / "fig")]
    capsys.readouterr()
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    rf = report["classifiers"]["rf"]
    assert rf["all"]["n_examples"] == 160
    if signal:
        assert rf["all"]["accuracy_mean"] > 0.9
        assert rf["weights"]["accuracy_mean"] > 0.9 and rf["activations"]["accuracy_mean"] > 0.9
        assert rf["activity_change"]["accuracy_mean"] < 0.6  # no signal planted there
        assert set(report["holdouts"]["rf"]) == {"architecture=alexnet", "architecture=resnet18",
                                                  "task=imagenet", "task=wsn"}
        assert min(report["holdouts"]["rf"].values()) > 0.8
        assert set(report["subsampling"]) == {"period=10,samples=3", "period=25,samples=3"}
        assert len(report["thirds"]) == 9  # train on one third of the trajectory, test on each
        assert {p.split("/")[-1] for p in report["figures"]} >= {"holdouts.png", "subsampling.png"}
    else:
        for subset in ("all", "weights", "activations", "activity_change"):
            assert 0.05 < rf[subset]["accuracy_mean"] < 0.45
