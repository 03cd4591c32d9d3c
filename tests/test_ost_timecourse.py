"""``demo-objects-timecourse``: virtual animals viewing the embedded objects over 20 time bins, with a planted
object solution time per image (``ground_truth_ost``) and a behavioural I1 (``behaviour_i1``).  Known
answer: the OSTs :mod:`goalstore.analyses.ost` measures on the recording's own IT units, and on a planted
model whose identity signal starts a constant later, rank-correlate with the planted onsets; the recipe
builds a valid, deterministic store that ``goalstore analyze ost`` runs on end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy.stats import spearmanr

from goalstore.analyses.ost import i1_over_time, neural_features, object_solution_times
from goalstore.schema import store_attrs, validate
from goalstore.sources.objects import object_images
from goalstore.sources.virtual_animals import SolutionTimes, virtual_animals_viewing

N_BINS = 20
LAG = 20.0  # ms: the planted model's identity signal starts this much after the image's planted onset


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store root with ``embedded-objects`` (written directly: the recipe's default set) and
    ``demo-objects-timecourse`` built on it through the CLI, and a planted activations store
    ``act-lagged``; built once for the module."""
    import goalstore
    from goalstore.cli import main
    from goalstore.store import StoreRoot

    home = tmp_path_factory.mktemp("timecourse") / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOALSTORE_HOME", str(home))
        root = StoreRoot(home)
        root.write("embedded-objects", object_images(), kind="stimuli")
        assert main(["build", "demo-objects-timecourse"]) == 0
        rec = goalstore.open("demo-objects-timecourse").load()
        root.write("act-lagged", lagged_model(rec), kind="activations")
    return home, rec


def lagged_model(rec: xr.Dataset, lag: float = LAG, seed: int = 5) -> xr.Dataset:
    """A model over the recording's 20 bins (70–260 ms, as ``extract --align`` gives them): layer
    ``conv_it``'s 30 units show the image's category prototype from ``ground_truth_ost + lag`` on (a 20 ms
    ramp), plus noise; layer ``conv_noise``'s 20 units only noise."""
    rng = np.random.default_rng(seed)
    labels = np.unique(rec["category"].values.astype(str), return_inverse=True)[1]
    centres = rec["time_bin_start"].values + 5.0
    ramp = np.clip((centres[None, :] - rec["ground_truth_ost"].values[:, None] - lag) / 20.0, 0, 1)
    prototypes = rng.standard_normal((labels.max() + 1, 30))
    n = len(labels)
    good = ramp[:, None, :] * prototypes[labels][:, :, None] + 0.5 * rng.standard_normal((n, 30, N_BINS))
    x = np.concatenate([good, rng.standard_normal((n, 20, N_BINS))], axis=1)
    layer = np.array(["conv_it"] * 30 + ["conv_noise"] * 20)
    start = rec["time_bin_start"].values
    return xr.Dataset(
        {"activation": (("stimulus", "unit", "time_bin"), x.astype(np.float32), {"units": "a.u."})},
        coords={"stimulus_id": ("stimulus", rec["stimulus_id"].values),
                "unit_id": ("unit", [f"{k}_{i}" for i, k in enumerate(layer)]),
                "animal": ("unit", ["lagged"] * len(layer)), "area": ("unit", ["model"] * len(layer)),
                "layer": ("unit", layer),
                "time_bin_start": ("time_bin", start, {"units": "ms"}),
                "time_bin_end": ("time_bin", start + 10.0, {"units": "ms"})},
        attrs=store_attrs("activations", species="model", modality="model activations", source="tests",
                          license="CC0-1.0", citation="none", model="lagged"))


def _osts(features: np.ndarray, rec: xr.Dataset) -> np.ndarray:
    i1 = i1_over_time(features, rec["category"].values.astype(str), n_components=1000, n_splits=5,
                      classifier="svm")
    return object_solution_times(i1, rec["behaviour_i1"].values, rec["time_bin_start"].values)


def test_the_recording_is_valid_deterministic_and_has_bins_onsets_and_behaviour(built):
    _, rec = built
    validate(rec, "recording")
    assert rec.sizes == {"stimulus": 384, "unit": 96, "time_bin": N_BINS, "trial": 4}
    np.testing.assert_array_equal(rec["time_bin_start"].values, 70.0 + 10.0 * np.arange(N_BINS))
    assert rec["time_bin_start"].values[-1] == 260.0 and rec.attrs["stimulus_set"] == "embedded-objects"
    onset, behaviour = rec["ground_truth_ost"].values, rec["behaviour_i1"].values
    assert rec["ground_truth_ost"].attrs["units"] == "ms" and 90 <= onset.min() < onset.max() <= 200
    assert np.all(np.abs(behaviour) <= 5) and spearmanr(onset, behaviour).statistic < -0.7  # later = harder
    config = json.loads(rec.attrs["generator_config"])
    assert config["solution_times"] == {"earliest": 90.0, "latest": 200.0, "ramp": 20.0, "behaviour_min": 0.5,
                                        "behaviour_max": 1.0, "behaviour_noise": 0.1}
    stimuli = object_images()  # what the embedded-objects recipe builds by default
    assert list(stimuli["stimulus_id"].values) == list(rec["stimulus_id"].values)
    again = virtual_animals_viewing(stimuli, n_time_bins=N_BINS, n_trials=4, stimulus_set="embedded-objects",
                                    solution_times=SolutionTimes())
    np.testing.assert_array_equal(again["response"].values, rec["response"].values)
    np.testing.assert_array_equal(again["behaviour_i1"].values, behaviour)


def test_identity_signal_starts_at_the_onset_and_ends_as_without_solution_times():
    """Before an image's onset its IT units carry no identity signal (noise-free responses equal the view
    part alone); once expressed, the noise-free response is exactly the one without solution times."""
    stimuli = object_images(n_categories=4, objects_per_category=2, views_per_object=6, size=32)
    kw = dict(n_animals=2, units_per_animal=8, n_time_bins=N_BINS, n_trials=2, noise=0.0)
    plain = virtual_animals_viewing(stimuli, **kw)
    timed = virtual_animals_viewing(stimuli, solution_times=SolutionTimes(ramp=0.0), **kw)
    late = timed["ground_truth_ost"].values < 70.0 + 10.0 * (N_BINS - 1)
    np.testing.assert_allclose(timed["response"].values[late, :, -1], plain["response"].values[late, :, -1],
                               rtol=1e-5, atol=1e-5)
    v4 = timed["area"].values == "V4"
    np.testing.assert_array_equal(timed["response"].values[:, v4], plain["response"].values[:, v4])
    first = timed["response"].isel(time_bin=0, trial=0).values[:, ~v4]  # 70–80 ms: before every onset
    codes = np.unique(stimuli["category"].values, return_inverse=True)[1]
    between = np.var([first[codes == c].mean(axis=0) for c in range(4)], axis=0).mean()
    last = timed["response"].isel(time_bin=-1, trial=0).values[:, ~v4]
    assert between < 0.5 * np.var([last[codes == c].mean(axis=0) for c in range(4)], axis=0).mean()
    other = virtual_animals_viewing(stimuli, solution_times=SolutionTimes(ramp=0.0), seed=1, **kw)
    assert not np.array_equal(other["ground_truth_ost"].values, timed["ground_truth_ost"].values)
    with pytest.raises(ValueError, match="earliest"):
        SolutionTimes(earliest=200.0, latest=100.0)


def test_ost_functions_recover_the_planted_onsets(built):
    """IT's own OSTs (I1 of its trial-averaged units, first crossing of ``behaviour_i1``) follow the
    planted onsets: measured ρ 0.61 on the embedded recording (seeds 1–3: 0.74, 0.70, 0.55)."""
    _, rec = built
    onset = rec["ground_truth_ost"].values
    i1 = i1_over_time(neural_features(rec).values, rec["category"].values.astype(str), n_components=1000,
                      n_splits=3, classifier="svm")
    it = object_solution_times(i1, rec["behaviour_i1"].values, rec["time_bin_start"].values)
    solved = np.isfinite(it)
    assert solved.sum() >= 100 and spearmanr(it[solved], onset[solved]).statistic > 0.5
    early, late = onset < np.quantile(onset, 0.25), onset > np.quantile(onset, 0.75)
    assert np.nanmedian(i1[early, 7]) > np.nanmedian(i1[late, 7]) + 0.3  # at 140 ms


def test_analyze_ost_runs_on_the_recording_end_to_end(built, monkeypatch, capsys, tmp_path):
    """``goalstore analyze ost demo-objects-timecourse --model act-lagged`` (default ``--behaviour
    behaviour_i1``): the planted model's OSTs, LAG ms behind, follow the onsets and IT's (measured on
    seed 0: model ρ 0.56 with the onsets, IT 0.69, consistency 0.46 over 77 images; seeds 1–3: model
    0.73, 0.50, 0.61; consistency 0.55, 0.61, 0.45)."""
    import goalstore
    from goalstore.cli import main

    home, rec = built
    monkeypatch.setenv("GOALSTORE_HOME", str(home))
    argv = ["analyze", "ost", "demo-objects-timecourse", "--model", "act-lagged", "--splits", "3",
            "--draws", "3", "--bootstrap", "100", "--components", "20", "--json", "--out", str(tmp_path)]
    assert main(["build", "demo-objects-timecourse", "--param", "n_time_bins=1"]) == 12  # as other recipes
    assert "'n_time_bins'" in capsys.readouterr().err
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["behaviour"] == "behaviour_i1" and report["time_bins_ms"][-1] == 260.0
    (row,) = report["models"]
    assert row["preferred_layers"] == ["conv_it"] and row["n_images_solved_by_both"] >= 50
    assert row["ost_consistency"] > 0.3 and row["ost_consistency_ci_low"] > 0
    result = goalstore.open(report["store"])
    onset = rec["ground_truth_ost"].values
    for ost in (result["ost_neural"].values, result["ost_model"].values[0]):
        solved = np.isfinite(ost)
        assert solved.sum() >= 100 and spearmanr(ost[solved], onset[solved]).statistic > 0.45
    model, neural = result["ost_model"].values[0], result["ost_neural"].values
    both = np.isfinite(model) & np.isfinite(neural)
    assert np.median(model[both] - neural[both]) > 0  # the model solves the same images later
