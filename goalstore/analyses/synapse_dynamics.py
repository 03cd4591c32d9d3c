"""Synaptic weight dynamics of one cell type: Markov chain and Kesten process fits.

:func:`synapse_dynamics` takes a canonical synapse × session weight store (or a
plain array) and returns one labelled result ``xarray.Dataset`` holding

* the state binning, the maximum-likelihood transition matrix, its stationary
  distribution (eigenvector for eigenvalue 1) and the empirical state
  distribution, with bootstrap resamples over synapses;
* convergence of the chain from several starting distributions (total-variation
  distance to the stationary distribution per step);
* the Markov check: change cross-correlation against lag in the data and in
  trajectories sampled from the chain;
* survival of first-session synapses, data vs chain;
* the Kesten fit (per-bin moments, a, b, c, d, R² with and without the additive
  terms) with bootstrap resamples, and a simulation of the fitted process;
* the relative weight change |ln(w(t)/w(0))| of mid-sized persistent synapses
  with bootstrap resamples (:mod:`~goalstore.analyses.relative_change`), weights
  aligned to additions and eliminations (:mod:`~goalstore.analyses.event_aligned`)
  and a log-normal fit of each session's weights (:mod:`~goalstore.analyses.lognormal`).

Rows absent on every session (``drop_never_present``, the default) are dropped
first: they say nothing about a synapse's dynamics but add pure absent → absent
transitions, inflating the absent state's stationary mass (the authors' pipeline
drops them too).  Their number is the attr ``n_never_present``.

:func:`fit_once` is the straightforward fit of one weight matrix;
:func:`bootstrap_fits` evaluates all bootstrap resamples at once (resamples are
an array axis) and equals ``[fit_once(weights[i]) for i in indices]``.
No I/O happens here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xarray as xr

from goalstore._version import __version__
from goalstore.analyses import event_aligned, kesten, lognormal, markov_chain, relative_change
from goalstore.analyses.change_correlation import change_correlation
from goalstore.analyses.resampling import bootstrap_indices, multiplicities
from goalstore.analyses.weight_input import weight_matrix
from goalstore.errors import AnalysisInputError
from goalstore.schema import SCHEMA_VERSION


@dataclass(frozen=True)
class SynapseDynamicsConfig:
    """Parameters of the fits (defaults from the notes, §6)."""

    n_bins: int = 40  #: equal-width bins over the non-zero weights
    n_merged: int = 21  #: top bins merged into one state
    kesten_bins: int = 20  #: equal-count bins of the Kesten fit
    n_bootstrap: int = 30  #: bootstrap resamples over synapses
    n_steps: int = 50  #: iterations of the convergence curves
    n_random_starts: int = 2  #: random (Dirichlet) starting distributions besides the fixed ones
    n_sample_repeats: int = 10  #: chain trajectories sampled per synapse for the Markov check
    seed: int = 0
    drop_never_present: bool = True  #: drop rows absent on every session before all fits
    change_low: float = 25.0  #: lower percentile of day-0 weights for the relative change
    change_high: float = 75.0  #: upper percentile of day-0 weights for the relative change

    def __post_init__(self) -> None:
        for name in ("n_bins", "n_merged", "kesten_bins", "n_bootstrap", "n_steps", "n_sample_repeats"):
            if int(getattr(self, name)) < 1:
                raise AnalysisInputError(f"{name}={getattr(self, name)}: expected at least 1")
        if self.n_random_starts < 0:
            raise AnalysisInputError(f"n_random_starts={self.n_random_starts}: expected >= 0")
        if not 0.0 <= self.change_low < self.change_high <= 100.0:
            raise AnalysisInputError(f"change_low={self.change_low}, change_high={self.change_high}: "
                                     "expected 0 <= low < high <= 100")


def _one_hot(index: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((index.size, size))
    out[np.arange(index.size), index] = 1.0
    return out


def fit_once(weights: np.ndarray, binning: markov_chain.StateBinning, starts: np.ndarray,
             config: SynapseDynamicsConfig) -> dict[str, Any]:
    """All bootstrapped quantities for one weight matrix, computed directly."""
    n_states, n_sessions = binning.n_states, weights.shape[1]
    states = binning.assign(weights)
    counts = markov_chain.transition_counts_per_synapse(states, n_states).sum(axis=0)
    matrix, _ = markov_chain.transition_matrix(counts)
    stationary = markov_chain.stationary_distribution(matrix)
    empirical = np.bincount(states.ravel(), minlength=n_states) / states.size
    present0, alive = markov_chain.survival_indicators(weights)
    initial = np.bincount(states[present0 > 0, 0], minlength=n_states).astype(float)
    params, _, _ = kesten.fit_kesten(weights, config.kesten_bins)
    return {
        "transition": matrix,
        "stationary": stationary,
        "empirical": empirical,
        "survival_data": alive.sum(axis=0) / present0.sum(),
        "survival_model": markov_chain.model_survival(matrix, initial, n_sessions),
        "convergence": markov_chain.convergence(matrix, starts, config.n_steps, stationary),
        **{f"kesten_{k}": float(v) for k, v in params.items()},
    }


def bootstrap_fits(weights: np.ndarray, binning: markov_chain.StateBinning, starts: np.ndarray,
                   indices: np.ndarray, config: SynapseDynamicsConfig) -> dict[str, np.ndarray]:
    """:func:`fit_once` of every resample ``weights[indices[b]]`` at once; arrays gain a leading axis."""
    n_synapses, n_sessions = weights.shape
    n_states = binning.n_states
    mult = multiplicities(indices, n_synapses)
    states = binning.assign(weights)
    per_synapse = markov_chain.transition_counts_per_synapse(states, n_states)
    counts = (mult @ per_synapse.reshape(n_synapses, -1)).reshape(-1, n_states, n_states)
    matrix, _ = markov_chain.transition_matrix(counts)
    stationary = markov_chain.stationary_distribution(matrix)
    empirical = mult @ markov_chain.state_histograms(states, n_states)
    empirical /= empirical.sum(axis=1, keepdims=True)
    present0, alive = markov_chain.survival_indicators(weights)
    initial = mult @ (_one_hot(states[:, 0], n_states) * present0[:, None])
    params, _ = kesten.bootstrap_kesten(kesten.kesten_pairs(weights), mult, config.kesten_bins)
    return {
        "transition": matrix,
        "stationary": stationary,
        "empirical": empirical,
        "survival_data": (mult @ alive) / (mult @ present0)[:, None],
        "survival_model": markov_chain.model_survival(matrix, initial, n_sessions),
        "convergence": markov_chain.convergence(matrix, starts, config.n_steps, stationary),
        **{f"kesten_{k}": v for k, v in params.items()},
    }


def synapse_dynamics(data: Any, config: SynapseDynamicsConfig | None = None) -> xr.Dataset:
    """Markov-chain and Kesten-process fits of one cell type's weights, as a result store."""
    config = config or SynapseDynamicsConfig()
    weights = weight_matrix(data)
    never_present = ~(weights > 0).any(axis=1)
    if config.drop_never_present:
        weights = weights[~never_present]
    n_synapses, n_sessions = weights.shape
    binning = markov_chain.state_binning(weights, config.n_bins, config.n_merged)
    n_states = binning.n_states
    start_names, starts = markov_chain.starting_distributions(n_states, config.seed,
                                                              config.n_random_starts)
    point = fit_once(weights, binning, starts, config)
    indices = bootstrap_indices(n_synapses, config.n_bootstrap, config.seed)
    boot = bootstrap_fits(weights, binning, starts, indices, config)

    states = binning.assign(weights)
    counts = markov_chain.transition_counts_per_synapse(states, n_states).sum(axis=0)
    _, unobserved = markov_chain.transition_matrix(counts)
    _, sampled = markov_chain.sample_trajectories(
        point["transition"], np.repeat(states[:, 0], config.n_sample_repeats), n_sessions, binning,
        config.seed)
    _, (mean_w, mean_dw, var_dw), n_values = kesten.fit_kesten(weights, config.kesten_bins)
    params = {k: point[f"kesten_{k}"] for k in kesten.PARAMETERS}
    simulated = kesten.simulate_kesten(params, weights[weights[:, 0] > 0, 0], n_sessions - 1,
                                       config.seed)

    try:
        change = relative_change.relative_change(weights, config.change_low, config.change_high,
                                                 config.n_bootstrap, config.seed)
    except AnalysisInputError:  # fewer than 2 persistent synapses: no relative change to report
        nan = np.full(n_sessions, np.nan)
        change = relative_change.RelativeChange(nan, nan, np.full((config.n_bootstrap, n_sessions), np.nan),
                                                np.zeros(n_synapses, dtype=bool))
    eliminated = event_aligned.aligned_to_elimination(weights)
    added = event_aligned.aligned_to_addition(weights)
    offsets = np.arange(-(n_sessions - 1), n_sessions - 1)
    aligned = {}
    for name, events in (("elimination", eliminated), ("addition", added)):
        where = np.searchsorted(offsets, events.offset)
        for field in ("mean", "sem", "count"):
            full = np.full(offsets.size, 0.0 if field == "count" else np.nan)
            full[where] = getattr(events, field)
            aligned[f"{name}_{field}"] = full
    lognorm = lognormal.lognormal_per_session(weights)
    log_edges, log_density = lognormal.log_histograms(weights)

    units = _weight_units(data)
    prob = {"units": "1"}
    lags = np.arange(n_sessions - 1)
    days = _days(data, n_sessions)
    ds = xr.Dataset(
        {
            "bin_edges": ("edge", binning.edges, {"units": units,
                                                  "description": "edges of the non-zero states"}),
            "transition_counts": (("state", "next_state"), counts, {"units": "count"}),
            "transition_matrix": (("state", "next_state"), point["transition"], prob),
            "unobserved_state": ("state", unobserved, {"units": "1", "description":
                                 "state never left in the data (its row is uniform)"}),
            "stationary": ("state", point["stationary"], prob),
            "empirical": ("state", point["empirical"], prob),
            "convergence": (("start", "step"), point["convergence"], {"units": "1", "description":
                            "total-variation distance to the stationary distribution"}),
            "change_correlation_data": ("lag", change_correlation(weights), prob),
            "change_correlation_model": ("lag", change_correlation(sampled), prob),
            "survival_data": ("session", point["survival_data"], prob),
            "survival_model": ("session", point["survival_model"], prob),
            "kesten_mean_weight": ("bin", mean_w, {"units": units}),
            "kesten_mean_change": ("bin", mean_dw, {"units": units}),
            "kesten_var_change": ("bin", var_dw, {"units": f"({units})^2"}),
            "kesten_n_values": ((), n_values, {"units": "count"}),
            "kesten_simulated_mean": ("session", _nonzero_mean(simulated), {"units": units}),
            "kesten_simulated_survival": ("session", (simulated > 0).mean(axis=0), prob),
            "data_mean_weight": ("session", _nonzero_mean(weights[weights[:, 0] > 0]), {"units": units}),
            "transition_matrix_boot": (("bootstrap", "state", "next_state"), boot["transition"], prob),
            "stationary_boot": (("bootstrap", "state"), boot["stationary"], prob),
            "empirical_boot": (("bootstrap", "state"), boot["empirical"], prob),
            "convergence_boot": (("bootstrap", "start", "step"), boot["convergence"], prob),
            "survival_data_boot": (("bootstrap", "session"), boot["survival_data"], prob),
            "survival_model_boot": (("bootstrap", "session"), boot["survival_model"], prob),
            "relative_change_mean": ("session", change.mean, {"units": "1", "description":
                                     "mean over mid-sized persistent synapses of |ln(w(t)/w(0))|"}),
            "relative_change_sem": ("session", change.sem, {"units": "1"}),
            "relative_change_boot": (("bootstrap", "session"), change.boot, {"units": "1"}),
            "relative_change_selected": ((), change.n_synapses, {"units": "count", "description":
                                         f"persistent synapses with day-0 weight in the {config.change_low:g}"
                                         f"-{config.change_high:g}th percentile"}),
            **{f"aligned_{name}_{field}": ("offset", aligned[f"{name}_{field}"],
                                           {"units": "count" if field == "count" else units,
                                            "description": f"weight aligned to the synapse's {name}"})
               for name in ("addition", "elimination") for field in ("mean", "sem", "count")},
            "lognormal_mu": ("session", lognorm.mu, {"units": "1", "description": "mean of ln w (ML)"}),
            "lognormal_sigma": ("session", lognorm.sigma, {"units": "1", "description": "sd of ln w (ML)"}),
            "lognormal_ks": ("session", lognorm.ks_statistic, {"units": "1", "description":
                             "Kolmogorov-Smirnov distance of the non-zero weights to the fitted log-normal"}),
            "lognormal_ks_pvalue": ("session", lognorm.ks_pvalue, {"units": "1", "description":
                                    "KS p-value (conservative: parameters estimated from the data)"}),
            "lognormal_n": ("session", lognorm.n, {"units": "count"}),
            "log_weight_density": (("session", "log_weight_bin"), log_density, {"units": "1", "description":
                                   "histogram density of ln w of the non-zero weights"}),
            **{f"kesten_{k}": ((), point[f"kesten_{k}"], {"units": _param_units(k, units)})
               for k in kesten.PARAMETERS},
            **{f"kesten_{k}_boot": ("bootstrap", boot[f"kesten_{k}"], {"units": _param_units(k, units)})
               for k in kesten.PARAMETERS},
        },
        coords={
            "state_id": ("state", np.arange(n_states)),
            "state_lower": ("state", binning.lower),
            "state_upper": ("state", binning.upper),
            "next_state_id": ("next_state", np.arange(n_states)),
            "edge_index": ("edge", np.arange(n_states)),
            "start_name": ("start", start_names),
            "step_index": ("step", np.arange(config.n_steps + 1)),
            "lag_sessions": ("lag", lags),
            "lag_days": ("lag", lags * _interval(days), {"units": "day"}),
            "session_id": ("session", np.arange(n_sessions)),
            "day": ("session", days, {"units": "day"}),
            "bin_index": ("bin", np.arange(config.kesten_bins)),
            "bootstrap_id": ("bootstrap", np.arange(config.n_bootstrap)),
            "offset_sessions": ("offset", offsets),
            "offset_days": ("offset", offsets * _interval(days), {"units": "day"}),
            "log_weight_center": ("log_weight_bin", 0.5 * (log_edges[1:] + log_edges[:-1])),
        },
        attrs={
            "kind": "result",
            "analysis": "synapse_dynamics",
            "species": _attr(data, "species", "unknown"),
            "modality": _attr(data, "modality", "synaptic weights"),
            "source": f"goalstore.analyses.synapse_dynamics of {_attr(data, 'source', 'an array')}",
            "license": _attr(data, "license", "unknown"),
            "citation": _attr(data, "citation", "unknown"),
            "cell_type": _attr(data, "cell_type", "unknown"),
            "area": _attr(data, "area", "unknown"),
            "schema_version": SCHEMA_VERSION,
            "config": json.dumps(asdict(config), sort_keys=True),
            "goalstore_version": __version__,
            "n_synapses": n_synapses,
            "n_never_present": int(never_present.sum()),
            "n_never_present_dropped": int(never_present.sum()) if config.drop_never_present else 0,
            "n_states": n_states,
        },
    )
    return ds


def _attr(data: Any, key: str, default: str) -> str:
    return str(getattr(data, "attrs", {}).get(key, default))


def _weight_units(data: Any) -> str:
    if isinstance(data, xr.Dataset) and "weight" in data:
        return str(data["weight"].attrs.get("units", "a.u."))
    if isinstance(data, xr.DataArray):
        return str(data.attrs.get("units", "a.u."))
    return "a.u."


def _days(data: Any, n_sessions: int) -> np.ndarray:
    if isinstance(data, (xr.Dataset, xr.DataArray)) and "day" in data.coords:
        return np.asarray(data["day"].values, dtype=float)
    return np.arange(n_sessions, dtype=float)


def _interval(days: np.ndarray) -> float:
    return float(np.median(np.diff(days))) if days.size > 1 else 1.0


def _nonzero_mean(weights: np.ndarray) -> np.ndarray:
    present = weights > 0
    return np.where(present.any(axis=0), (weights * present).sum(axis=0) / np.maximum(present.sum(0), 1),
                    np.nan)


def _param_units(name: str, units: str) -> str:
    if name.startswith("r2"):
        return "1"
    if name in ("c",):
        return units
    if name in ("d",):
        return f"({units})^2"
    return "1"


def summary(result: xr.Dataset) -> dict[str, Any]:
    """The headline numbers of a result store as plain JSON-ready values."""
    kesten_keys = ("a", "b", "c", "d", "r2_mean", "r2_var", "r2_mean_no_additive",
                   "r2_var_no_additive", "a_no_additive", "b_no_additive")
    stationary, empirical = result["stationary"].values, result["empirical"].values
    return {
        "cell_type": result.attrs.get("cell_type"),
        "n_synapses": int(result.attrs["n_synapses"]),
        "n_states": int(result.sizes["state"]),
        "bin_edges": result["bin_edges"].values.tolist(),
        "transition_matrix": result["transition_matrix"].values.tolist(),
        "stationary": stationary.tolist(),
        "empirical": empirical.tolist(),
        "stationary_vs_empirical_tv": float(0.5 * np.abs(stationary - empirical).sum()),
        "days": result["day"].values.tolist(),
        "survival_data": result["survival_data"].values.tolist(),
        "survival_model": result["survival_model"].values.tolist(),
        "change_correlation_data": result["change_correlation_data"].values.tolist(),
        "change_correlation_model": result["change_correlation_model"].values.tolist(),
        "kesten": {**{k: float(result[f"kesten_{k}"]) for k in kesten_keys},
                   "n_values": int(result["kesten_n_values"])},
        "n_bootstrap": int(result.sizes["bootstrap"]),
        "n_never_present": int(result.attrs.get("n_never_present", 0)),
        "n_never_present_dropped": int(result.attrs.get("n_never_present_dropped", 0)),
        "relative_change": {"day": result["day"].values.tolist(),
                            "mean": result["relative_change_mean"].values.tolist(),
                            "sem": result["relative_change_sem"].values.tolist()},
        "relative_change_n_synapses": int(result["relative_change_selected"]),
        "aligned_addition": _aligned(result, "addition"),
        "aligned_elimination": _aligned(result, "elimination"),
        "lognormal": {"day": result["day"].values.tolist(),
                      "mu": result["lognormal_mu"].values.tolist(),
                      "sigma": result["lognormal_sigma"].values.tolist(),
                      "ks_statistic": result["lognormal_ks"].values.tolist(),
                      "ks_pvalue": result["lognormal_ks_pvalue"].values.tolist(),
                      "n": result["lognormal_n"].values.astype(int).tolist()},
        "config": json.loads(result.attrs["config"]),
    }


def _aligned(result: xr.Dataset, event: str) -> dict[str, list]:
    """Offsets (sessions and days from the event) where the event was observed, and the weights."""
    count = result[f"aligned_{event}_count"].values
    keep = count > 0
    return {"offset": result["offset_sessions"].values[keep].tolist(),
            "day": result["offset_days"].values[keep].tolist(),
            "mean": result[f"aligned_{event}_mean"].values[keep].tolist(),
            "sem": [None if np.isnan(v) else float(v) for v in result[f"aligned_{event}_sem"].values[keep]],
            "n": count[keep].astype(int).tolist()}
