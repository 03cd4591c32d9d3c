"""Inter-animal consistency, model predictivity and the leaderboard on dask.distributed workers
(issue 16 §3): equal to the in-process result up to the order of the sums, for each computation
path (dual ridge from Gram matrices, streamed operators, per-block fits), pooled and pairwise, with
and without repeated trials, in memory and lazily opened from a zarr store; ``analyze consistency
--workers``.  One local cluster of two single-threaded worker processes serves the whole module."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr

from goalstore.analyses.consistency import inter_animal_consistency, model_predictivity
from goalstore.analyses.consistency_execution import _Shipped, draw_pieces
from goalstore.analyses.predictivity import predictivity_leaderboard
from goalstore.analyses.stimulus_splits import SplitScheme
from goalstore.cli import main
from goalstore.sources.virtual_animals import virtual_animals, virtual_model

SCHEME = SplitScheme(2, 0.5, seed=0)


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def recording() -> xr.Dataset:
    return virtual_animals(n_animals=3, units_per_animal=10, n_stimuli=30, n_time_bins=2, n_trials=4, seed=8)


def _same(a: xr.DataArray, b: xr.DataArray) -> None:
    assert np.isfinite(a).any()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_draws_are_cut_into_near_equal_non_empty_pieces():
    assert draw_pieces(20, 4) == [slice(0, 5), slice(5, 10), slice(10, 15), slice(15, 20)]
    assert draw_pieces(3, 4) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert draw_pieces(1, 4) == [slice(0, 1)]
    pieces = draw_pieces(7, 3)
    assert [p.stop - p.start for p in pieces] == [2, 3, 2] and pieces[-1].stop == 7


@pytest.mark.parametrize(("mapping", "pooled", "trials"), [
    ("ridge", True, 4),  # dual ridge from per-animal Gram matrices (20 pooled units ≥ 15 training stimuli)
    ("ridge", False, 4),  # streamed operators (10 source units < 15 training stimuli)
    ("pls", False, 4),  # per-block fits (no operator form)
    ("one_to_one", True, 4),
    ("ridge", True, 1),  # no repeated trials: one draw, the mapping problems are cut instead
])
def test_distributed_consistency_equals_in_process(client, recording, mapping, pooled, trials):
    data = recording if trials > 1 else recording.isel(trial=[0])
    here = inter_animal_consistency(data, mapping, pooled, SCHEME, n_draws=5)
    there = inter_animal_consistency(data, mapping, pooled, SCHEME, n_draws=5, executor=client)
    _same(there["consistency"], here["consistency"])
    xr.testing.assert_allclose(there["consistency_median"], here["consistency_median"], atol=1e-12)
    if trials > 1:  # the internal consistency runs as work items too
        _same(there["internal_consistency"], here["internal_consistency"])
    else:
        assert "internal_consistency" not in there


def test_a_lazy_recording_travels_as_its_graph_and_is_read_by_the_workers(client, recording, tmp_path):
    path = tmp_path / "recording.zarr"
    recording.chunk({"unit": 10}).to_zarr(path, zarr_format=2)
    lazy = xr.open_zarr(path)
    assert len(pickle.dumps(_Shipped(lazy["response"]))) < recording["response"].nbytes / 2  # not the data
    here = inter_animal_consistency(recording, "ridge", True, SCHEME, n_draws=5)
    _same(inter_animal_consistency(lazy, "ridge", True, SCHEME, n_draws=5, executor=client)["consistency"],
          here["consistency"])


def test_distributed_predictivity_and_leaderboard_equal_in_process(client, recording):
    models = {"one": virtual_model(n_stimuli=30, seed=8, name="one"),
              "two": virtual_model(n_stimuli=30, similarity=(0.2, 0.9), seed=8, name="two")}
    here = model_predictivity(recording, models["one"], "ridge", SCHEME, n_draws=5)
    there = model_predictivity(recording, models["one"], "ridge", SCHEME, n_draws=5, executor=client)
    _same(there["predictivity"], here["predictivity"])
    kw = dict(mapping="ridge", scheme=SCHEME, n_draws=5, pooled=True)
    board = predictivity_leaderboard(recording, models, executor=client, **kw)
    expected = predictivity_leaderboard(recording, models, **kw)
    xr.testing.assert_allclose(board, expected, atol=1e-12)
    assert (board["rank"] == expected["rank"]).all()


@pytest.mark.slow  # a datalad run whose produce starts its own two-worker cluster: ~30 s on a busy machine
def test_analyze_consistency_workers(home, tmp_path, capsys, write_demo):
    import goalstore
    from goalstore.analyses.consistency import consistency_analysis

    write_demo("demo-recording")
    assert main(["analyze", "consistency", "demo-recording", "--workers", "2", "--bootstrap", "4",
                 "--splits", "2", "--out", str(tmp_path / "figs")]) == 0
    result = goalstore.open("consistency-demo-recording")  # the workers are not part of the store's name
    expected = consistency_analysis(goalstore.open("demo-recording"), ("ridge",), False,
                                    SplitScheme(2, 0.5, None, 0), 4, 0)
    _same(result["consistency"].load(), expected["consistency"])


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_analyze_consistency_refuses_no_workers(home, capsys, write_demo, workers):
    write_demo("demo-recording")
    assert main(["analyze", "consistency", "demo-recording", f"--workers={workers}"]) == 12
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--workers {workers}: expected at least 1" in err[0]


def test_analyze_consistency_workers_and_scheduler_exclude_each_other(home, capsys, write_demo):
    write_demo("demo-recording")
    with pytest.raises(SystemExit):
        main(["analyze", "consistency", "demo-recording", "--workers", "2", "--scheduler", "tcp://head:8786"])



@pytest.mark.slow  # two datalad runs of an extraction: ~30 s on a busy machine
def test_extract_on_an_existing_cluster(client, tmp_path):
    """Workers outside the build's process tree (``--scheduler``) open the model and stimuli by name
    without waiting for the build's lock (they leave its journals alone), and write what an
    extraction in process writes."""
    import goalstore
    from goalstore import api
    from tests.extraction_helpers import knet, model_store, stimuli

    module, args = knet(seed=0)
    values = {}
    for where, scheduler in (("cluster", client.scheduler.address), ("in-process", "")):
        home = tmp_path / where
        goalstore.write("stim", stimuli(12, seed=0), kind="stimuli", home=home)
        goalstore.write("net", model_store(module, args), home=home)
        result = api.extract("net", "stim", home=home, layers="conv1", batch_size=4, device="cpu",
                             scheduler=scheduler)
        values[where] = goalstore.open(result["store"], home=home)["activation"].values
    np.testing.assert_array_equal(values["cluster"], values["in-process"])
