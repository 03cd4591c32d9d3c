"""``goalstore analyze ost``: planted per-image solution times recovered through the CLI (a model that
shares them has a high OST consistency, one whose images are shuffled ≈ 0), the size-vs-performance
table from the catalog, the vectorised bootstrap, determinism, and bad input with exit codes."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import xarray as xr
from scipy.stats import spearmanr

from goalstore.analyses.ost import bootstrap_ost_consistency, ost_model_analysis, summary
from goalstore.errors import AnalysisInputError
from goalstore.schema import store_attrs

N_BINS = 10
FAST = ["--splits", "5", "--draws", "5", "--bootstrap", "200"]


def planted_onsets(per_object: int = 20, n_objects: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each image's planted onset bin (0–6, balanced within every object) and its object label."""
    rng = np.random.default_rng(seed)
    onsets = np.stack([rng.permutation(np.arange(per_object) % 7) for _ in range(n_objects)], axis=1).ravel()
    return onsets, np.arange(len(onsets)) % n_objects


def _signal(onsets: np.ndarray, labels: np.ndarray, n_units: int) -> np.ndarray:
    """image × unit × bin: the image's object prototype, ramping in over two bins from its onset."""
    prototypes = np.random.default_rng(99).standard_normal((labels.max() + 1, n_units))
    ramp = np.clip((np.arange(N_BINS)[None, :] - onsets[:, None]) / 2, 0, 1)
    return ramp[:, None, :] * prototypes[labels][:, :, None]


def _ids(n: int) -> list[str]:
    return [f"im{i:03d}" for i in range(n)]


def _bins(start: float) -> dict:
    edges = start + 10.0 * np.arange(N_BINS)
    return {"time_bin_start": ("time_bin", edges, {"units": "ms"}),
            "time_bin_end": ("time_bin", edges + 10, {"units": "ms"})}


def planted_recording(onsets: np.ndarray, labels: np.ndarray, trials: int = 4, seed: int = 1) -> xr.Dataset:
    """Two animals × (24 IT + 8 V4) units showing the planted signal plus trial noise; behavioural I1
    0.3 for every image (a coordinate)."""
    n_units = 64
    x = _signal(onsets, labels, n_units)[..., None]
    x = x + 0.5 * np.random.default_rng(seed).standard_normal((*x.shape[:3], trials))
    return xr.Dataset(
        {"response": (("stimulus", "unit", "time_bin", "trial"), x.astype(np.float32), {"units": "a.u."})},
        coords={"stimulus_id": ("stimulus", _ids(len(onsets))),
                "category": ("stimulus", [f"obj{k}" for k in labels]),
                "behaviour_i1": ("stimulus", np.full(len(onsets), 0.3)),
                "unit_id": ("unit", [f"u{i:02d}" for i in range(n_units)]),
                "animal": ("unit", np.repeat(["a0", "a1"], n_units // 2)),
                "area": ("unit", np.tile(["IT"] * 24 + ["V4"] * 8, 2)),
                "trial_id": ("trial", np.arange(trials)), **_bins(70.0)},
        attrs=store_attrs("recording", species="virtual", modality="simulated multi-unit", source="tests",
                          license="CC0-1.0", citation="none"))


def planted_activations(onsets: np.ndarray, labels: np.ndarray, seed: int = 2, order: np.ndarray | None = None,
                        model: str = "net") -> xr.Dataset:
    """A model over the recording's 10 time bins (70–160 ms, as ``extract --align`` gives them): layer
    ``conv_it`` carries the planted signal (own noise), layer ``conv_noise`` only noise; stored in the
    image order ``order``."""
    rng = np.random.default_rng(seed)
    good = _signal(onsets, labels, 30) + 0.3 * rng.standard_normal((len(onsets), 30, N_BINS))
    x = np.concatenate([good, rng.standard_normal((len(onsets), 20, N_BINS))], axis=1)
    layer = np.array(["conv_it"] * 30 + ["conv_noise"] * 20)
    ids = np.array(_ids(len(onsets)))
    order = np.arange(len(onsets)) if order is None else order
    return xr.Dataset(
        {"activation": (("stimulus", "unit", "time_bin"), x[order].astype(np.float32), {"units": "a.u."})},
        coords={"stimulus_id": ("stimulus", ids[order]),
                "unit_id": ("unit", [f"{k}_{i}" for i, k in enumerate(layer)]),
                "animal": ("unit", [model] * len(layer)), "area": ("unit", layer), "layer": ("unit", layer),
                **_bins(70.0)},
        attrs=store_attrs("activations", species="model", modality="model activations", source="tests",
                          license="CC0-1.0", citation="none", model=model))


def _write_inputs(home):
    """rec (planted), act-net (shares the onsets; stored in another order), act-shuffled (images'
    identities permuted within each object), and a model store ``net`` whose catalog metadata feeds the
    size table."""
    from goalstore.activations.networks import build_untrained, weights_from_network
    from goalstore.store import StoreRoot

    onsets, labels = planted_onsets()
    root = StoreRoot(home)
    root.write("rec", planted_recording(onsets, labels), kind="recording")
    root.write("act-net", planted_activations(onsets, labels, order=np.random.default_rng(0).permutation(80)),
               kind="activations")
    shuffled = planted_activations(onsets, labels, model="none")
    within = np.arange(80)  # images swapped within each object: objects stay decodable, timing is lost
    for k in range(4):
        within[labels == k] = np.random.default_rng(3 + k).permutation(np.flatnonzero(labels == k))
    shuffled = shuffled.assign_coords(stimulus_id=("stimulus", shuffled["stimulus_id"].values[within]))
    root.write("act-shuffled", shuffled, kind="activations")
    args = {"in_channels": 1, "input_size": 32, "out_features": 4, "width": 0.25}
    weights = weights_from_network(build_untrained("knet4", args), "knet4", args, [1, 32, 32],
                                   metrics={"val_accuracy": 0.625}, source="tests", license="CC0-1.0",
                                   citation="none")
    root.write("net", weights, kind="model", fmt="safetensors")
    return root, onsets


def _head(path) -> str:
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.slow  # ~20 s; the fast CLI known answer is tests/test_ost_timecourse.py
def test_planted_solution_times_are_recovered_through_the_cli(home, tmp_path, capsys):
    import goalstore
    from goalstore.cli import main
    from goalstore.recipes.ost import Ost, render

    _, onsets = _write_inputs(home)
    out = tmp_path / "figs"
    assert main(["analyze", "ost", "rec", "--model", "act-net,act-shuffled", "--json", "--out", str(out),
                 *FAST]) == 0
    report = json.loads(capsys.readouterr().out)
    net, shuffled = report["models"]
    assert net["model"] == "act-net" and net["preferred_layers"] == ["conv_it"]  # chosen by predictivity
    assert net["ost_consistency"] > 0.45 and net["n_images_solved_by_both"] >= 30
    assert 0 < net["ost_consistency_sem"] < 0.25
    assert net["ost_consistency_ci_low"] < net["ost_consistency"] < net["ost_consistency_ci_high"]
    assert shuffled["n_images_solved_by_both"] >= 20 and abs(shuffled["ost_consistency"]) < 0.3
    # the size table reads the catalog metadata of the model the activations name (act-net: model "net")
    meta = goalstore.describe("net")
    assert net["n_parameters"] == meta["n_parameters"] > 0 and net["n_units"] == meta["n_units"] > 0
    assert net["task_accuracy"] == pytest.approx(0.625)
    assert shuffled["n_parameters"] is None and shuffled["task_accuracy"] is None
    result = goalstore.open(report["store"])
    ost = result["ost_neural"].values
    solved = np.isfinite(ost)
    assert solved.sum() >= 40 and np.corrcoef(ost[solved], onsets[solved])[0, 1] > 0.6  # IT OST follows onset
    assert list(result["image_id"].values) == _ids(80)  # the recording's order, whatever the store's
    assert result.attrs["activation_stores"] == ["act-net", "act-shuffled"]
    assert sorted(p.rsplit("/", 1)[-1] for p in report["figures"]) == ["i1_over_time.png", "ost_scatter.png",
                                                                       "size_vs_consistency.png"]
    text = render(report, Ost(recording="rec", model="act-net,act-shuffled"))
    assert "OST consistency" in text and "task accuracy" in text and "0.625" in text and "conv_it" in text


def test_ost_model_analysis_is_deterministic_given_a_seed():
    onsets, labels = planted_onsets(per_object=12)
    rec, act = planted_recording(onsets, labels), planted_activations(onsets, labels)
    kw = dict(n_splits=3, n_draws=3, n_boot=50)
    first = ost_model_analysis(rec, {"net": act}, **kw)
    xr.testing.assert_identical(first, ost_model_analysis(rec, {"net": act}, **kw))
    other = ost_model_analysis(rec, {"net": act}, seed=1, **kw)
    key = "ost_consistency_bootstrap"
    assert not np.array_equal(first[key].values, other[key].values)
    assert summary(first)["models"][0]["preferred_layers"] == ["conv_it"]


def test_task_accuracy_reads_the_first_accuracy_metric_present():
    from goalstore.analyses.ost import model_size

    assert model_size({"metrics": {"val_knn_accuracy": 0.4, "train_loss": 1.2}})["task_accuracy"] == 0.4
    assert model_size({"metrics": {"val_knn_accuracy": 0.4, "val_accuracy": 0.7}})["task_accuracy"] == 0.7
    assert np.isnan(model_size({"metrics": {"train_loss": 1.2}})["task_accuracy"])


def test_bootstrap_is_the_spearman_of_resampled_images():
    rng = np.random.default_rng(0)
    first = rng.standard_normal(40)
    second = first + rng.standard_normal(40)
    first[:5] = np.nan  # images a population never solves are left out
    second[5:8] = np.nan
    rho, draws, n = bootstrap_ost_consistency(first, second, n_boot=30, seed=4)
    both = np.isfinite(first) & np.isfinite(second)
    assert n == 32 and rho == pytest.approx(spearmanr(first[both], second[both]).statistic)
    index = np.random.default_rng(4).integers(0, n, size=(30, n))  # the same resamples, one at a time
    expected = [spearmanr(first[both][i], second[both][i]).statistic for i in index]
    np.testing.assert_allclose(draws, expected, atol=1e-12)
    assert 0.02 < draws.std() < 0.3
    nan_rho, nan_draws, few = bootstrap_ost_consistency(first[:7], second[:7], n_boot=5)
    assert np.isnan(nan_rho) and np.isnan(nan_draws).all() and few == 0


def test_bad_input_is_refused_with_exit_codes_and_nothing_stored(home, capsys):
    from goalstore.cli import main
    from goalstore.store import StoreRoot

    onsets, labels = planted_onsets(per_object=8)
    rec = planted_recording(onsets, labels)
    act = planted_activations(onsets, labels)
    root = StoreRoot(home)
    root.write("rec", rec, kind="recording")
    root.write("rec-static", rec.isel(time_bin=0, drop=True), kind="recording")
    root.write("act", act, kind="activations")
    root.write("act-short", act.isel(time_bin=slice(0, 5)), kind="activations")
    root.write("act-partial", act.isel(stimulus=slice(3, None)), kind="activations")
    root.write("act-flat", act.drop_vars("layer"), kind="activations")
    early = act.assign_coords(**_bins(0.0))  # the extractor's default 0–90 ms: not the recording's bins
    root.write("act-early", early, kind="activations")
    before = _head(home)
    cases = [
        (["rec-static", "--model", "act"], 12, "dim 'time_bin' missing"),
        (["rec", "--model", "act-short"], 12, "5 time bins, the recording 10"),
        (["rec", "--model", "act-partial"], 12, "3 of the recording's 32 stimulus ids are missing"),
        (["rec", "--model", "act-flat"], 12, "coordinate 'layer' missing"),
        (["rec", "--model", "act-early"], 12, "activation store 'act-early': coordinate 'time_bin_start'"),
        (["rec", "--model", "nope"], 4, "nope"),
        (["nope", "--model", "act"], 4, "nope"),
        (["rec"], 12, "--model"),
        (["rec", "--model", "rec"], 12, "expected model or activations"),
        (["rec", "--model", "act", "--behaviour", "primate_i1"], 12, "coordinate 'primate_i1'"),
        (["rec", "--model", "act", "--labels", "object_name"], 12, "coordinate 'object_name'"),
        (["rec", "--model", "act", "--area", "V1"], 12, "no unit in area 'V1'"),
        (["rec", "--model", "act", "--bootstrap", "0"], 12, "--bootstrap 0"),
        (["rec", "--model", "act", "--layers-kept", "-1"], 12, "--layers-kept -1: expected 0 (automatic)"),
        (["rec", "--model", "act", "--layers", "conv_it"], 12, "--layers conv_it: an extraction option"),
    ]
    for argv, code, message in cases:
        assert main(["analyze", "ost", *argv]) == code, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (argv, err)
    assert _head(home) == before  # nothing stored changed
    assert main(["build", "ost", "--param", "recording=rec", "--param", "model=act", "--param",
                 "time_mapping=diagonal"]) == 12
    assert "--time-mapping 'diagonal': expected uniform or graded" in capsys.readouterr().err
    with pytest.raises(AnalysisInputError, match="four images of each"):
        ost_model_analysis(rec.isel(stimulus=slice(0, 12)), {"m": act}, behaviour="0.3")
    with pytest.raises(AnalysisInputError, match=r"model 'm': coordinate 'time_bin_start'.* at 0–90 ms"):
        ost_model_analysis(rec, {"m": early})


@pytest.mark.slow
def test_a_model_store_is_extracted_over_the_recordings_time_bins(home, capsys, monkeypatch):
    """A recurrent model store: ``requires`` extracts it on the recording's stimulus set aligned to the
    recording's time bins (content-addressed), then the analysis runs on that store; a feed-forward model
    store is extracted without time and spread over the bins by the time mapping."""
    import goalstore
    from goalstore.cli import main
    from goalstore.store import StoreRoot
    from tests.extraction_helpers import ToyRecurrent, knet, model_store, stimuli

    monkeypatch.setenv("BUILDERS_ARCHITECTURE_MODULES", "tests.extraction_helpers")  # also in produce
    onsets, labels = planted_onsets(per_object=8)
    images = stimuli(n=32, size=8)
    rec = planted_recording(onsets, labels)
    rec = rec.assign_coords(stimulus_id=("stimulus", images["stimulus_id"].values))
    root = StoreRoot(home)
    root.write("imgs", images, kind="stimuli")
    root.write("rec", rec.assign_attrs(stimulus_set="imgs"), kind="recording")
    root.write("toy", model_store(ToyRecurrent(hidden=5).eval(), {"hidden": 5}, "toy-recurrent", (3, 8, 8),
                                  task="none"), kind="model", fmt="safetensors")
    root.write("ff", model_store(*knet()), kind="model", fmt="safetensors")
    argv = ["analyze", "ost", "rec", "--splits", "3", "--draws", "3", "--bootstrap", "50", "--json",
            "--out", str(home.parent / "figs")]
    assert main([*argv, "--model", "toy", "--layers", "rec"]) == 0
    report = json.loads(capsys.readouterr().out)
    result = goalstore.open(report["store"])
    (store,) = result.attrs["activation_stores"]
    assert store.startswith("act-toy-imgs-") and goalstore.open(store).sizes["time_bin"] == N_BINS
    np.testing.assert_array_equal(goalstore.open(store)["time_bin_start"].values, rec["time_bin_start"].values)
    assert result["i1_model"].shape == (1, 32, N_BINS) and report["models"][0]["preferred_layers"] == ["rec"]
    assert report["models"][0]["n_parameters"] == root.registered("toy")["n_parameters"]
    assert main([*argv, "--model", "ff", "--layers-kept", "2", "--time-mapping", "graded"]) == 0
    report = json.loads(capsys.readouterr().out)
    result = goalstore.open(report["store"])
    assert "time_bin" not in goalstore.open(result.attrs["activation_stores"][0]).dims
    assert result.attrs["time_mapping"] == "graded" and list(result.attrs["time_mapped_models"]) == ["ff"]
    assert len(report["models"][0]["preferred_layers"]) == 2
