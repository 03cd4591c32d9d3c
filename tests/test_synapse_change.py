"""Relative weight change, weights aligned to addition/elimination, log-normal fits and the
never-present rows (thesis §6.2.2): known answers on generated data and the thesis' values on the
shipped data (Melander, Nayebi et al. 2021)."""

from __future__ import annotations

import numpy as np
import pytest

from goalstore.analyses import event_aligned, kesten, lognormal, markov_chain, relative_change
from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig, summary, synapse_dynamics
from goalstore.errors import AnalysisInputError
from goalstore.schema import validate
from goalstore.sources import melander2021

#: thesis §6.2.2: |ln(w_t / w_0)| at day 24, mean ± s.e.m., and the fractional change
THESIS_DAY24 = {"pyr": (0.46, 0.03, 0.58), "pv": (0.24, 0.02, 0.27)}


@pytest.fixture(scope="module")
def results():
    config = SynapseDynamicsConfig(n_bootstrap=20)
    return {c: synapse_dynamics(melander2021.load_weight_matrix(c), config) for c in ("pyr", "pv")}


# ---------------------------------------------------------------- relative weight change
def test_relative_change_known_answer():
    # persistent synapses, w(t) = w(0)·exp(σ Z_t) with independent standard normal Z_t:
    # E|ln(w(t)/w(0))| = σ·sqrt(2/π) for every t >= 1, whatever the day-0 selection
    rng = np.random.default_rng(0)
    n, sigma = 4000, 0.4
    w0 = rng.lognormal(0.0, 0.5, n)
    weights = np.column_stack([w0, w0[:, None] * np.exp(sigma * rng.standard_normal((n, 4)))])
    change = relative_change.relative_change(weights, n_bootstrap=50, seed=1)
    assert change.n_synapses == pytest.approx(n / 2, abs=2)  # the 25-75th percentile: half
    assert change.mean[0] == 0.0
    np.testing.assert_allclose(change.mean[1:], sigma * np.sqrt(2 / np.pi), atol=4 * change.sem[1:].max())
    assert change.sem[1:].max() < 0.01
    assert change.boot.shape == (50, 5)
    np.testing.assert_allclose(change.boot.std(axis=0)[1:], change.sem[1:], rtol=0.35)


def test_relative_change_selection_rule():
    weights = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 0.0], [4.0, 2.0], [5.0, 5.0], [0.0, 1.0]])
    # persistent: rows 0, 1, 3, 4 (day-0 1, 2, 4, 5); 25th/75th percentiles 1.75 and 4.25 (inclusive)
    np.testing.assert_array_equal(relative_change.select_mid_persistent(weights),
                                  [False, True, False, True, False, False])
    change = relative_change.relative_change(weights, n_bootstrap=3)
    np.testing.assert_allclose(change.mean, [0.0, 0.5 * (0.0 + np.log(2.0))])
    with pytest.raises(AnalysisInputError, match="present on every session"):
        relative_change.relative_change(np.array([[1.0, 0.0], [1.0, 2.0]]))
    with pytest.raises(AnalysisInputError, match="percentiles"):
        relative_change.select_mid_persistent(weights, 80, 20)


@pytest.mark.parametrize("cell", ["pyr", "pv"])
def test_relative_change_reproduces_the_thesis(results, cell):
    result = results[cell]
    day24 = int(np.flatnonzero(result["day"].values == 24)[0])
    assert day24 == 6  # sessions every 4 days
    mean, sem = float(result["relative_change_mean"][day24]), float(result["relative_change_sem"][day24])
    thesis_mean, thesis_sem, thesis_fraction = THESIS_DAY24[cell]
    assert abs(mean - thesis_mean) <= thesis_sem
    assert round(sem, 2) == thesis_sem
    assert round(float(np.expm1(mean)), 2) == thesis_fraction
    assert int(result["relative_change_selected"]) == {"pyr": 174, "pv": 190}[cell]
    low, high = np.percentile(result["relative_change_boot"].values[:, day24], [2.5, 97.5])
    assert low < mean < high


def test_no_persistent_synapses_gives_nan_not_an_error():
    weights = np.array([[1.0, 0.0, 2.0], [0.0, 1.5, 1.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    result = synapse_dynamics(weights, SynapseDynamicsConfig(n_bins=2, n_merged=1, n_bootstrap=2,
                                                             kesten_bins=2))
    assert np.isnan(result["relative_change_mean"]).all() and int(result["relative_change_selected"]) == 0
    assert np.isnan(result["lognormal_mu"].values[1])  # one non-zero weight on session 1
    at_event = result["offset_sessions"].values == 0
    assert result["aligned_addition_count"].values[at_event].tolist() == [3]


# ---------------------------------------------------------------- aligned to addition / elimination
def test_aligned_weights_known_answer():
    weights = np.array([
        [1.0, 2.0, 0.0, 0.0],   # eliminated on session 2 (weights 1, 2 before)
        [0.0, 3.0, 4.0, 0.0],   # added on 1 (3, 4), eliminated on 3 (4, 3 before)
        [5.0, 0.0, 6.0, 7.0],   # eliminated on 1 (5 before); added on 2 (6, 7)
        [8.0, 8.0, 8.0, 8.0],   # persistent: no event
        [0.0, 0.0, 0.0, 9.0],   # added on the last session (9)
    ])
    elim = event_aligned.aligned_to_elimination(weights)
    np.testing.assert_array_equal(elim.offset, [-1, -2, -3])
    np.testing.assert_array_equal(elim.count, [3, 2, 0])
    np.testing.assert_allclose(elim.mean[:2], [(2 + 4 + 5) / 3, (1 + 3) / 2])
    np.testing.assert_allclose(elim.sem[0], np.std([2, 4, 5], ddof=1) / np.sqrt(3))
    assert np.isnan(elim.mean[2]) and np.isnan(elim.sem[2])
    add = event_aligned.aligned_to_addition(weights)
    np.testing.assert_array_equal(add.offset, [0, 1, 2])
    np.testing.assert_array_equal(add.count, [3, 2, 0])
    np.testing.assert_allclose(add.mean[:2], [(3 + 6 + 9) / 3, (4 + 7) / 2])


def test_aligned_weights_on_the_shipped_data(results):
    for result in results.values():
        report = summary(result)
        add, elim = report["aligned_addition"], report["aligned_elimination"]
        assert add["offset"][0] == 0 and elim["offset"][-1] == -1 and elim["day"][-1] == -4.0
        assert add["n"] == sorted(add["n"], reverse=True) and elim["n"] == sorted(elim["n"])
        # new synapses start small and synapses shrink before they disappear (thesis §6.2.2)
        typical = float(result["data_mean_weight"][0])
        assert add["mean"][0] < 0.7 * typical and elim["mean"][-1] < 0.7 * typical
        assert add["mean"][1] > add["mean"][0]


# ---------------------------------------------------------------- log-normal fit
def test_lognormal_known_answer():
    rng = np.random.default_rng(3)
    planted = rng.lognormal(0.3, 0.5, 5000)
    mu, sigma, d, p = lognormal.fit_lognormal(planted)
    assert abs(mu - 0.3) < 3 * 0.5 / np.sqrt(5000) and abs(sigma - 0.5) < 0.02
    assert d < 0.02 and p > 0.01
    _, _, d_gamma, p_gamma = lognormal.fit_lognormal(rng.gamma(1.0, 1.0, 5000))  # not log-normal
    assert d_gamma > 0.05 and p_gamma < 1e-6
    with pytest.raises(AnalysisInputError, match="positive"):
        lognormal.fit_lognormal(np.array([1.0, 0.0, 2.0]))


def test_lognormal_on_the_shipped_data(results):
    for result in results.values():
        validate(result, "result")
        n = result["lognormal_n"].values
        np.testing.assert_array_equal(n, (melander2021.load_weight_matrix(
            result.attrs["cell_type"])["weight"].values > 0).sum(axis=0))
        assert (result["lognormal_ks"].values < 0.07).all()  # close to log-normal every session
        np.testing.assert_allclose(result["log_weight_density"].sum("log_weight_bin")
                                   * float(np.diff(result["log_weight_center"].values[:2])[0]), 1.0)
    sigma = {cell: float(result["lognormal_sigma"].mean()) for cell, result in results.items()}
    assert sigma["pyr"] > 1.5 * sigma["pv"]  # spine weights are far more variable than shaft weights


# ---------------------------------------------------------------- never-present rows
def test_never_present_rows_are_dropped_before_the_markov_fit(results):
    pv = melander2021.load_weight_matrix("pv")
    assert int((~(pv["weight"].values > 0).any(axis=1)).sum()) == 7
    assert results["pv"].attrs["n_never_present_dropped"] == 7 and results["pv"].attrs["n_synapses"] == 461
    assert results["pyr"].attrs["n_never_present_dropped"] == 0
    assert float(results["pv"]["stationary"][0]) == pytest.approx(0.1045, abs=5e-5)
    kept = synapse_dynamics(pv, SynapseDynamicsConfig(n_bootstrap=2, drop_never_present=False))
    assert float(kept["stationary"][0]) == pytest.approx(0.1182, abs=5e-5)
    assert kept.attrs["n_never_present"] == 7 and kept.attrs["n_never_present_dropped"] == 0
    assert summary(results["pv"])["n_never_present_dropped"] == 7
    # dropping rows of zeros leaves the binning alone; the largest weight stays in the top state
    weights = pv["weight"].values
    binning = markov_chain.state_binning(weights)
    np.testing.assert_array_equal(binning.edges, results["pv"]["bin_edges"].values)
    assert binning.assign(np.array([weights.max()]))[0] == binning.n_states - 1


# ---------------------------------------------------------------- Kesten without the additive term
def test_multiplicative_only_kesten_needs_no_additive_term():
    rng = np.random.default_rng(5)
    n, a, b = 20000, -0.05, 0.01
    weights = np.empty((n, 6))
    weights[:, 0] = rng.lognormal(0.0, 0.5, n)
    for t in range(1, 6):
        weights[:, t] = weights[:, t - 1] * (1 + a + np.sqrt(b) * rng.standard_normal(n))
    params, _, _ = kesten.fit_kesten(weights)
    assert abs(params["c"]) < 0.01 and abs(params["d"]) < 0.01
    assert abs(params["a_no_additive"] - a) < 0.01 and abs(params["b_no_additive"] - b) < 0.003
    assert params["r2_mean_no_additive"] > params["r2_mean"] - 0.05
    assert params["r2_var_no_additive"] > 0.95


def _fixed_size_bins(weights: np.ndarray, bin_size: int) -> dict[str, float]:
    """The authors' binning: consecutive blocks of ``bin_size`` sorted pairs, the rest a last bin."""
    pairs = kesten.kesten_pairs(weights)
    blocks = [slice(lo, lo + bin_size) for lo in range(0, pairs.weight.size, bin_size)]
    moments = [np.array([f(getattr(pairs, name)[s]) for s in blocks])
               for name, f in (("weight", np.mean), ("change", np.mean), ("change", np.var))]
    return kesten.fit_from_moments(*moments)


def test_thesis_no_additive_r2_is_not_reproducible_from_the_shipped_data(results):
    """Thesis: mean-fit R² 0.89 → 0.03 (PV), 0.62 → 0.53 (Pyr) without the additive term.

    The with-intercept values are reproduced (20 equal-count bins, and the authors' 125 / 165
    pairs per bin), but no binning gives the PV drop: refitting the slope through the origin
    leaves R² ≈ 0.24-0.26 (see the README, "goalstore vs thesis")."""
    for cell, bin_size, thesis in (("pyr", 165, 0.62), ("pv", 125, 0.89)):
        result = results[cell]
        assert abs(float(result["kesten_r2_mean"]) - thesis) < 0.015
        authors = _fixed_size_bins(melander2021.load_weight_matrix(cell)["weight"].values, bin_size)
        assert abs(float(authors["r2_mean"]) - thesis) < 0.01
        no_additive = (float(result["kesten_r2_mean_no_additive"]), float(authors["r2_mean_no_additive"]))
        if cell == "pv":
            assert no_additive == pytest.approx((0.237, 0.255), abs=0.005)  # thesis: 0.03
        else:
            assert no_additive == pytest.approx((0.548, 0.556), abs=0.005)  # thesis: 0.53
