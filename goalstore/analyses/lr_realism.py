"""Measurement realism of learning-rule identification (thesis §6.3.6): statistics recomputed from
a random fraction of synapses / units with added Gaussian noise, and the accuracy surface over
kept fraction × noise level."""

from __future__ import annotations

from typing import Any

import numpy as np

from builders.corpus_format import FINITE_24, OBSERVABLES
from goalstore.analyses.lr_classifiers import classifier_grid
from goalstore.analyses.lr_evaluation import balanced_splits, evaluate

#: The finite statistics (:data:`builders.corpus_format.FINITE_24`) per observable, in that order.
REALISM_STATISTICS = {o: [s for s in FINITE_24 if s[0] == o] for o in OBSERVABLES}
_FUNCTIONS = {"raw": lambda v: v, "abs": np.abs, "square": np.square}


def _statistic(values: np.ndarray, statistic: str) -> np.ndarray:
    """One statistic over the last axis, ignoring NaN (= not kept / padding)."""
    if statistic == "mean":
        return np.nanmean(values, axis=-1)
    if statistic == "median":
        return np.nanmedian(values, axis=-1)
    if statistic == "norm":
        return np.sqrt(np.nansum(values**2, axis=-1))
    if statistic == "q3":
        return np.nanpercentile(values, 75, axis=-1)
    if statistic == "var":
        return np.nanvar(values, axis=-1)
    raise ValueError(f"unknown statistic {statistic!r}")


def _keep_mask(rng: np.random.Generator, sizes: np.ndarray, width: int, fraction: float) -> np.ndarray:
    """Per example, a random ``fraction`` (at least one) of its first ``sizes`` entries (padding never)."""
    keys = rng.random((len(sizes), width))
    keys[np.arange(width)[None, :] >= sizes[:, None]] = np.inf
    ranks = keys.argsort(axis=1).argsort(axis=1)
    kept = np.maximum(1, np.round(fraction * sizes)).astype(int)
    return ranks < kept[:, None]


def _noise_scale(values: np.ndarray, sigma: float, relative: bool) -> float:
    """Noise s.d.: ``sigma``, or ``sigma`` × the s.d. of the quantity over the whole corpus (every
    example, checkpoint, stimulus and unit).  One number for all examples, so the noise itself
    carries nothing about an example's rule (a per-example scale would: its size would leak the
    example's own spread into the noised statistics)."""
    return float(sigma) * (float(np.nanstd(values)) if relative else 1.0)


def measured_statistics(units: Any, fraction: float, sigma: float, seed: int,
                        relative: bool = False) -> dict[str, np.ndarray]:
    """Recompute weight, activation and activity-change statistics from the raw matrices after
    keeping a random ``fraction`` of each example's synapses / units and adding white Gaussian noise
    of s.d. ``sigma`` (thesis §6.3.6).

    ``units`` is the corpus' ``-units`` store (example × checkpoint × stimulus × unit, and
    example × checkpoint × weight for ``weights``; NaN-padded).  Weights: the 13 finite weight
    statistics over the kept, noised synapses of the layer (the same synapses at every
    checkpoint, as a chronic measurement would see them).  Activations: per stimulus over the kept
    units, then averaged over stimuli.  Activity change: the input gradient of the kept input
    units, noised, summed and divided by the layer's output count, per stimulus,
    ``(1/n_out) Σ_{in kept} (∂Σ_out y/∂x_in + ε)``; then the function and the average over stimuli.
    With ``relative=True`` the noise s.d. is ``sigma`` times the s.d. of that quantity (weights,
    outputs or input gradients) over the whole corpus, so observables of very different scale
    (weights ~0.1, activations ~1) meet noise of the same signal-to-noise ratio.
    Returns, per observable, an example × statistic × checkpoint array (statistic order of
    ``REALISM_STATISTICS``); ``weights`` only when the store has raw weights.
    """
    if not 0 < fraction <= 1 or sigma < 0:
        raise ValueError(f"unit fraction must be in (0, 1] and noise >= 0; got {fraction}, {sigma}")
    rng = np.random.default_rng(seed)
    act = np.asarray(units["activations"].values, dtype=float)
    grad = np.asarray(units["input_gradient"].values, dtype=float)
    n_out = np.asarray(units["n_units"].values)
    n_in = np.asarray(units["n_input_units"].values)
    act_mask = _keep_mask(rng, n_out, act.shape[-1], fraction)[:, None, None, :]
    grad_mask = _keep_mask(rng, n_in, grad.shape[-1], fraction)[:, None, None, :]
    act_noise = _noise_scale(act, sigma, relative) * rng.standard_normal(act.shape)
    grad_noise = _noise_scale(grad, sigma, relative) * rng.standard_normal(grad.shape)
    act = np.where(act_mask, act + act_noise, np.nan)
    grad = np.where(grad_mask, grad + grad_noise, 0.0)
    out = {}
    if "weights" in units:
        weights = np.asarray(units["weights"].values, dtype=float)
        mask = _keep_mask(rng, np.asarray(units["n_weights"].values), weights.shape[-1], fraction)[:, None, :]
        noise = _noise_scale(weights, sigma, relative) * rng.standard_normal(weights.shape)
        weights = np.where(mask, weights + noise, np.nan)
        out["weights"] = np.stack([_statistic(_FUNCTIONS[f](weights), s)
                                   for _, f, s in REALISM_STATISTICS["weights"]], axis=1)
    # per stimulus over units, then the average over stimuli → example × checkpoint
    out["activations"] = np.stack([_statistic(_FUNCTIONS[f](act), s).mean(axis=-1)
                                   for _, f, s in REALISM_STATISTICS["activations"]], axis=1)
    change = grad.sum(axis=-1) / n_out[:, None, None]
    out["activity_change"] = np.stack([_FUNCTIONS[f](change).mean(-1)
                                       for _, f, _ in REALISM_STATISTICS["activity_change"]], axis=1)
    return out


def realism_surface(units: Any, fractions: tuple[float, ...], sigmas: tuple[float, ...],
                    n_splits: int = 5, cv: int = 3, seed: int = 0, executor: Any = None,
                    relative: bool = False) -> Any:
    """Accuracy of a (fast-grid) random forest per observable (weights when the store keeps them,
    activations, activity change), kept fraction and noise level (see :func:`measured_statistics`)."""
    import xarray as xr

    y = np.asarray(units["learning_rule"].values).astype(str)
    splits = balanced_splits(y, n_splits, 0.25, seed)
    estimator, grid = classifier_grid("rf", True, units.sizes["checkpoint"], seed)
    observables = [o for o in REALISM_STATISTICS if o != "weights" or "weights" in units]
    surface = np.full((len(observables), len(fractions), len(sigmas), n_splits), np.nan)
    for f, fraction in enumerate(fractions):
        for s, sigma in enumerate(sigmas):
            measured = measured_statistics(units, fraction, sigma, seed + 1000 * f + s, relative)
            for o, observable in enumerate(observables):
                x = measured[observable].reshape(len(y), -1)
                surface[o, f, s] = evaluate(np.nan_to_num(x), y, splits, estimator, grid, cv, seed,
                                            executor).accuracies
    return xr.DataArray(surface, dims=("observable_set", "unit_fraction", "noise", "split"), coords={
        "observable_set_name": ("observable_set", observables),
        "unit_fraction_value": ("unit_fraction", list(fractions)),
        "noise_sigma": ("noise", list(sigmas)), "split_index": ("split", np.arange(n_splits))},
        attrs={"units": "1", "noise": "relative" if relative else "absolute",
               "description": "random forest accuracy on statistics recomputed from a random fraction "
                              "of synapses / units with added Gaussian noise"})
