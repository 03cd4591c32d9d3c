"""The Melander et al. (2021) data: loader, canonical stores, fits on the real weights.

The vendored copy in the package is compared against ``../shared/data`` when that
folder is present (it is beside the checkout for developers and CI).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import goalstore
from goalstore.analyses import markov_chain
from goalstore.analyses.resampling import bootstrap_indices
from goalstore.analyses.synapse_dynamics import (
    SynapseDynamicsConfig,
    bootstrap_fits,
    fit_once,
    synapse_dynamics,
)
from goalstore.errors import CorruptStoreError, EntryNotFoundError
from goalstore.schema import validate
from goalstore.sources import melander2021

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "synapses" / "melander2021"


@pytest.fixture(scope="module")
def pyr():
    return melander2021.load_weight_matrix("pyr")


@pytest.fixture(scope="module")
def pv():
    return melander2021.load_weight_matrix("pv")


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not beside this checkout")
def test_vendored_copy_is_identical_to_the_shared_data():
    for source in sorted(p for p in SHARED.rglob("*") if p.is_file()):
        copy = melander2021.DATA_DIR / source.relative_to(SHARED)
        assert copy.exists(), copy
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert (melander2021.DATA_DIR / "LICENSE").read_text().startswith("MIT License")


def test_weight_matrices_counts_shapes_coords(pyr, pv):
    validate(pyr, "recording")
    validate(pv, "recording")
    assert dict(pyr.sizes) == {"synapse": 721, "session": 8}
    assert dict(pv.sizes) == {"synapse": 468, "session": 7}
    np.testing.assert_array_equal(pyr["day"].values, [0, 4, 8, 12, 16, 20, 24, 28])
    assert pyr["day"].attrs["units"] == "day"
    assert set(pyr["animal"].values) == {"ai", "be", "cs", "ct"}
    assert len(set(pyr["dendrite"].values)) == 14 and len(set(pv["dendrite"].values)) == 21
    assert all(d.startswith(a) for d, a in zip(pv["dendrite"].values, pv["animal"].values, strict=True))
    assert set(pyr["cell_type"].values) == {"pyr"}
    assert (pyr["weight"].values >= 0).all() and not np.isnan(pyr["weight"].values).any()
    assert pyr.attrs["license"] == "MIT" and "Melander" in pyr.attrs["citation"]


def test_matrix_rows_equal_their_dendrites_files(pyr):
    ct001 = melander2021.read_array(melander2021.DATA_DIR / "weights_by_dendrite/norm_pyr/ct001.npy")
    rows = pyr["weight"].values[pyr["dendrite"].values == "ct001"]
    np.testing.assert_allclose(rows, ct001)


def test_every_variant_loads(tmp_path):
    names = melander2021.variants()
    assert len(names) == 8
    for variant in names:
        ds = melander2021.load_dendrite_variant(variant)
        validate(ds, "recording")
        assert ds.attrs["variant"] == variant
    pv = melander2021.load_dendrite_variant("norm_pv")
    assert np.isnan(pv["weight"].values).any()  # dendrites imaged on 7 of 8 sessions are padded
    with pytest.raises(EntryNotFoundError, match="norm_pv"):
        melander2021.load_dendrite_variant("norm_pvv")


def test_format_is_detected_from_content_not_name(tmp_path):
    array = np.arange(6.0).reshape(2, 3)
    np.save(tmp_path / "plain.npy", array)
    (tmp_path / "plain.npy").rename(tmp_path / "named.npz")
    np.testing.assert_array_equal(melander2021.read_array(tmp_path / "named.npz"), array)
    np.savez(tmp_path / "archive.npz", x=array)
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    np.testing.assert_array_equal(melander2021.read_array(tmp_path / "archive.npy"), array)
    np.savez(tmp_path / "two.npz", x=array, y=array)
    with pytest.raises(CorruptStoreError, match="exactly one"):
        melander2021.read_array(tmp_path / "two.npz")
    (tmp_path / "text.npz").write_text("weight,session\n1,2\n")
    with pytest.raises(CorruptStoreError, match="not a NumPy"):
        melander2021.read_array(tmp_path / "text.npz")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptStoreError, match="unreadable"):
        melander2021.read_array(tmp_path / "objects.npy")


def test_fits_on_real_data(pyr, pv):
    for data in (pyr, pv):
        result = synapse_dynamics(data, SynapseDynamicsConfig(n_bootstrap=10))
        validate(result, "result")
        np.testing.assert_allclose(result["transition_matrix"].sum("next_state"), 1.0)
        np.testing.assert_allclose(result["transition_matrix_boot"].sum("next_state"), 1.0)
        assert result.sizes["state"] == 21
        stationary, empirical = result["stationary"].values, result["empirical"].values
        assert 0.5 * np.abs(stationary - empirical).sum() < 0.1  # stationary close to empirical
        assert result["survival_data"].values[0] == 1.0
        assert np.all(np.diff(result["survival_data"].values) <= 0)
        assert np.abs(result["survival_data"] - result["survival_model"]).max() < 0.1
        assert result["change_correlation_data"].values[0] == 1.0
        assert result["change_correlation_data"].values[1] < 0  # regression to the mean
        assert float(result["kesten_r2_var"]) > 0.9
        assert int(result["kesten_n_values"]) == int((data["weight"].values[:, :-1] > 0).sum())


def test_vectorised_bootstrap_equals_the_per_resample_loop(pv):
    weights = pv["weight"].values
    config = SynapseDynamicsConfig(n_bootstrap=15, seed=4)
    binning = markov_chain.state_binning(weights)
    _, starts = markov_chain.starting_distributions(binning.n_states, 4, 2)
    indices = bootstrap_indices(weights.shape[0], 15, seed=4)
    vectorised = bootstrap_fits(weights, binning, starts, indices, config)
    loop = [fit_once(weights[i], binning, starts, config) for i in indices]
    for key, values in vectorised.items():
        np.testing.assert_allclose(values, np.array([r[key] for r in loop]), rtol=1e-9, atol=1e-12,
                                   err_msg=key)


def test_results_are_reproducible_from_the_seed(pv):
    a = synapse_dynamics(pv, SynapseDynamicsConfig(n_bootstrap=8, seed=1))
    b = synapse_dynamics(pv, SynapseDynamicsConfig(n_bootstrap=8, seed=1))
    c = synapse_dynamics(pv, SynapseDynamicsConfig(n_bootstrap=8, seed=2))
    np.testing.assert_array_equal(a["stationary_boot"].values, b["stationary_boot"].values)
    assert not np.array_equal(a["stationary_boot"].values, c["stationary_boot"].values)
    assert a.attrs["config"] == b.attrs["config"] and "goalstore_version" in a.attrs


def test_catalog_lists_each_cell_type_and_variant(home):
    names = set(goalstore.search(species="mouse", kind="recording")["name"])
    expected = {f"melander2021-{c}" for c in ("pyr", "pv")} | {
        f"melander2021-{v}" for v in melander2021.variants()}
    assert expected <= names
    ds = goalstore.open("melander2021-pv")
    assert ds["weight"].chunks is not None and ds.sizes["synapse"] == 468
