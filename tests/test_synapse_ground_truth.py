"""Markov-chain and Kesten fits recover known processes, with errors that shrink with data."""

from __future__ import annotations

import numpy as np
import pytest

from goalstore.analyses import kesten, markov_chain
from goalstore.analyses.synapse_dynamics import SynapseDynamicsConfig, synapse_dynamics

TRUE_P = np.array([
    [0.70, 0.20, 0.10, 0.00],
    [0.10, 0.60, 0.20, 0.10],
    [0.05, 0.15, 0.60, 0.20],
    [0.05, 0.05, 0.30, 0.60],
])


def _sample_states(matrix: np.ndarray, n: int, n_sessions: int, seed: int) -> np.ndarray:
    binning = markov_chain.StateBinning(np.array([1.0, 2.0, 3.0, 4.0]))
    initial = np.random.default_rng(seed).integers(0, matrix.shape[0], n)
    states, _ = markov_chain.sample_trajectories(matrix, initial, n_sessions, binning, seed)
    return states


def _analytic_stationary(matrix: np.ndarray) -> np.ndarray:
    # solve pi (P - I) = 0 with sum(pi) = 1
    n = matrix.shape[0]
    a = np.vstack([(matrix - np.eye(n)).T, np.ones(n)])
    return np.linalg.lstsq(a, np.append(np.zeros(n), 1.0), rcond=None)[0]


@pytest.mark.parametrize("n", [500, 8000])
def test_transition_matrix_recovered_within_sampling_error(n):
    states = _sample_states(TRUE_P, n, 8, seed=n)
    counts = markov_chain.transition_counts_per_synapse(states, 4).sum(axis=0)
    fitted, unobserved = markov_chain.transition_matrix(counts)
    np.testing.assert_allclose(fitted.sum(axis=1), 1.0)
    assert not unobserved.any()
    # binomial standard error of each entry is <= 0.5 / sqrt(row count); allow 5 s.e.
    tolerance = 5 * 0.5 / np.sqrt(counts.sum(axis=1).min())
    assert np.abs(fitted - TRUE_P).max() < tolerance
    pi = markov_chain.stationary_distribution(fitted)
    assert np.abs(pi - _analytic_stationary(TRUE_P)).max() < tolerance


def test_errors_shrink_with_sample_size():
    errors = []
    for n in (200, 3200, 51200):
        states = _sample_states(TRUE_P, n, 8, seed=1)
        fitted, _ = markov_chain.transition_matrix(
            markov_chain.transition_counts_per_synapse(states, 4).sum(axis=0))
        errors.append(np.abs(fitted - TRUE_P).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01


def test_stationary_by_eigenvector_and_by_iteration_agree():
    pi = markov_chain.stationary_distribution(TRUE_P)
    np.testing.assert_allclose(pi, _analytic_stationary(TRUE_P), atol=1e-12)
    names, starts = markov_chain.starting_distributions(4, seed=0, n_random=3)
    path = markov_chain.iterate_chain(TRUE_P, starts, 200)
    np.testing.assert_allclose(path[:, -1], np.broadcast_to(pi, (len(names), 4)), atol=1e-10)
    tv = markov_chain.total_variation(path, pi)
    assert np.all(np.diff(tv, axis=1) <= 1e-12)  # monotone convergence for this chain


def test_state_binning_rule():
    weights = np.array([[0.0, 1.0], [40.0, 20.5]])
    binning = markov_chain.state_binning(weights, n_bins=39, n_merged=20)
    assert binning.n_states == 21 and binning.edges[0] == 1.0 and binning.edges[-1] == 40.0
    np.testing.assert_allclose(np.diff(binning.edges[:-1]), 1.0)
    np.testing.assert_array_equal(binning.assign(weights), [[0, 1], [20, 20]])
    default = markov_chain.state_binning(np.linspace(0, 10, 50)[None])
    assert default.n_states == 21  # 40 bins, top 21 merged, plus the absent state


def test_survival_model_matches_absorbing_chain_simulation():
    states = _sample_states(TRUE_P, 40000, 6, seed=3)
    present0 = states[:, 0] > 0
    data = np.logical_and.accumulate(states > 0, axis=1)[present0].mean(axis=0)
    initial = np.bincount(states[present0, 0], minlength=4).astype(float)
    model = markov_chain.model_survival(TRUE_P, initial, 6)
    np.testing.assert_allclose(model, data, atol=0.01)


def _kesten_weights(a, b, c, d, n, n_sessions, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(1.0, 5.0, n)
    for _ in range(30):  # burn in towards the stationary distribution
        eps = 1 + a + np.sqrt(b) * rng.standard_normal(n)
        w = np.maximum(eps * w + c + np.sqrt(d) * rng.standard_normal(n), 1e-6)
    out = np.empty((n, n_sessions))
    out[:, 0] = w
    for t in range(1, n_sessions):
        eps = 1 + a + np.sqrt(b) * rng.standard_normal(n)
        eta = c + np.sqrt(d) * rng.standard_normal(n)
        out[:, t] = np.maximum(eps * out[:, t - 1] + eta, 1e-6)
    return out


@pytest.mark.parametrize("n,tolerance", [(2000, 0.04), (40000, 0.012)])
def test_kesten_parameters_recovered(n, tolerance):
    truth = {"a": -0.1, "b": 0.01, "c": 0.3, "d": 0.02}
    weights = _kesten_weights(**truth, n=n, n_sessions=6, seed=n)
    params, _, n_values = kesten.fit_kesten(weights, n_bins=20)
    assert n_values == n * 5
    assert abs(params["a"] - truth["a"]) < tolerance
    assert abs(params["c"] - truth["c"]) < 4 * tolerance
    assert abs(params["b"] - truth["b"]) < tolerance
    assert abs(params["d"] - truth["d"]) < 4 * tolerance
    assert params["r2_mean"] > 0.9 and params["r2_var"] > 0.5
    # without the additive term the mean fit is clearly worse: c is far from 0
    assert params["r2_mean_no_additive"] < params["r2_mean"]


def test_kesten_simulation_reproduces_its_parameters():
    params = {"a": -0.1, "b": 0.01, "c": 0.3, "d": 0.02}
    simulated = kesten.simulate_kesten(params, np.full(30000, 3.0), 5, seed=0)
    fitted, _, _ = kesten.fit_kesten(simulated, n_bins=20)
    assert abs(fitted["a"] - params["a"]) < 0.03 and abs(fitted["c"] - params["c"]) < 0.1
    again = kesten.simulate_kesten(params, np.full(30000, 3.0), 5, seed=0)
    np.testing.assert_array_equal(simulated, again)


def test_end_to_end_on_a_known_chain():
    binning = markov_chain.StateBinning(np.linspace(1.0, 5.0, 5))  # 4 non-zero states + absent
    matrix = np.array([
        [0.6, 0.4, 0.0, 0.0, 0.0],
        [0.2, 0.5, 0.3, 0.0, 0.0],
        [0.05, 0.2, 0.5, 0.25, 0.0],
        [0.0, 0.0, 0.3, 0.5, 0.2],
        [0.0, 0.0, 0.0, 0.4, 0.6],
    ])
    initial = np.random.default_rng(0).integers(0, 5, 20000)
    _, weights = markov_chain.sample_trajectories(matrix, initial, 8, binning, seed=0)
    result = synapse_dynamics(weights, SynapseDynamicsConfig(n_bins=4, n_merged=1, n_bootstrap=5))
    assert result.sizes["state"] == 5
    np.testing.assert_allclose(result["transition_matrix"].values, matrix, atol=0.02)
    np.testing.assert_allclose(result["stationary"].values, _analytic_stationary(matrix), atol=0.02)
