"""Virtual animals: synthetic recordings with a known ground truth.

Every animal's units are linear read-outs of the same stimulus features
(shared across animals), modulated by a per-unit temporal profile, plus
independent Gaussian trial noise.  Because all animals read out one shared
feature space, the noise-free responses of any unit are (up to the read-out) a
linear function of every other animal's; how consistent the animals look is
controlled by ``noise`` and ``shared``.  The features themselves are returned by
:func:`shared_features`, and :func:`virtual_model` builds a matching "model" whose
layers read out a controllable mixture of them.

Ground truth: with ``shared = s`` a unit's noise-free response is
``sqrt(s) · F w + sqrt(1 − s) · G_a v`` (``F`` shared, ``G_a`` private to animal ``a``,
independent standard normal), so the best linear prediction of it from another animal
explains a fraction ``s·|w|² / (s·|w|² + (1 − s)·|v|²)`` of its variance; the square root of that
is each unit's ground-truth consistency (unit coordinate ``ground_truth_consistency``,
``sqrt(s)`` on average), which the noise-corrected estimate approaches given enough
stimuli (with few training stimuli per feature, over-fitting biases it down).  A model layer of
similarity ``m`` predicts it with correlation ``sqrt(s · m)``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from goalstore.schema import recording_attrs, store_attrs


def shared_features(n_stimuli: int, n_features: int, seed: int) -> np.ndarray:
    """The stimulus × feature matrix all virtual animals read out from."""
    rng = np.random.default_rng([seed, 0])
    return rng.standard_normal((n_stimuli, n_features))


def virtual_animals(
    n_animals: int = 3,
    units_per_animal: int = 16,
    n_stimuli: int = 48,
    n_time_bins: int = 4,
    n_trials: int = 8,
    n_features: int = 12,
    noise: float = 1.0,
    areas: tuple[str, ...] = ("V4", "IT"),
    seed: int = 0,
    shared: float = 1.0,
) -> xr.Dataset:
    """A canonical recording (stimulus × unit × time_bin × trial) of virtual animals.

    Units of each animal are split evenly over ``areas``.  Time bins are 10 ms
    wide starting at 70 ms.  ``shared`` (0…1) is the fraction of each unit's signal
    variance read out from the shared features (the rest from features private to its
    animal; see the module docstring for the consistency this implies).
    Deterministic given the arguments.
    """
    if min(n_animals, units_per_animal, n_stimuli, n_time_bins, n_trials, n_features) < 1:
        raise ValueError("every size of the virtual recording must be at least 1")
    if not 0.0 <= shared <= 1.0:
        raise ValueError(f"shared must lie in [0, 1]; got {shared}")
    features = shared_features(n_stimuli, n_features, seed)
    rng = np.random.default_rng([seed, 1])
    n_units = n_animals * units_per_animal
    readout = rng.standard_normal((n_features, n_units)) / np.sqrt(n_features)
    profile = 0.5 + rng.random((n_units, n_time_bins))  # per-unit temporal gain
    responses = features @ readout
    truth = np.ones(n_units)
    if shared < 1.0:
        private_readouts = [np.random.default_rng([seed, 3, a]).standard_normal((n_features, units_per_animal))
                            / np.sqrt(n_features) for a in range(n_animals)]
        private = np.concatenate([
            np.random.default_rng([seed, 2, a]).standard_normal((n_stimuli, n_features)) @ private_readouts[a]
            for a in range(n_animals)], axis=1)
        responses = np.sqrt(shared) * responses + np.sqrt(1.0 - shared) * private
        shared_var = shared * (readout ** 2).sum(axis=0)
        private_var = (1.0 - shared) * (np.concatenate(private_readouts, axis=1) ** 2).sum(axis=0)
        truth = np.sqrt(shared_var / (shared_var + private_var))
    signal = responses[:, :, None] * profile[None]  # stimulus × unit × time_bin
    trials = signal[..., None] + noise * rng.standard_normal((*signal.shape, n_trials))
    animals = np.repeat([f"animal{a}" for a in range(n_animals)], units_per_animal)
    area = np.tile(np.repeat(np.asarray(areas), -(-units_per_animal // len(areas)))[:units_per_animal],
                   n_animals)
    start = 70.0 + 10.0 * np.arange(n_time_bins)
    ds = xr.Dataset(
        {"response": (("stimulus", "unit", "time_bin", "trial"), trials.astype(np.float32),
                      {"units": "a.u.", "description": "trial responses of virtual units"})},
        coords={
            "stimulus_id": ("stimulus", [f"stim{i:04d}" for i in range(n_stimuli)]),
            "unit_id": ("unit", [f"{a}_u{i % units_per_animal:03d}" for i, a in enumerate(animals)]),
            "animal": ("unit", animals),
            "area": ("unit", area),
            "ground_truth_consistency": ("unit", truth, {
                "description": "correlation of the unit's noise-free response with its best linear "
                               "prediction from the shared features (the consistency an ideal mapping "
                               "from another animal reaches with unlimited stimuli)"}),
            "time_bin_start": ("time_bin", start, {"units": "ms"}),
            "time_bin_end": ("time_bin", start + 10.0, {"units": "ms"}),
            "trial_id": ("trial", np.arange(n_trials)),
        },
        attrs=recording_attrs(
            species="virtual",
            modality="simulated multi-unit",
            source="goalstore.sources.virtual_animals",
            license="CC0-1.0",
            citation="goalstore virtual animals (synthetic; no publication)",
            description="virtual animals: linear read-outs of shared stimulus features plus "
                        "Gaussian trial noise",
            generator_config=(f"n_animals={n_animals} units_per_animal={units_per_animal} "
                              f"n_stimuli={n_stimuli} n_time_bins={n_time_bins} "
                              f"n_trials={n_trials} n_features={n_features} noise={noise} "
                              f"shared={shared} seed={seed}"),
        ),
    )
    return ds


def virtual_model(
    n_stimuli: int = 48,
    n_features: int = 12,
    similarity: tuple[float, ...] = (0.0, 0.5, 1.0),
    units_per_layer: int = 32,
    n_time_bins: int = 0,
    seed: int = 0,
    name: str = "virtual-model",
) -> xr.Dataset:
    """Activations of a "model" matching :func:`virtual_animals` (same ``seed`` and sizes).

    Layer ``i`` reads out ``sqrt(m) · F + sqrt(1 − m) · H_i`` with ``m = similarity[i]``,
    ``F`` the animals' shared features and ``H_i`` independent features, through a random
    linear expansion to ``units_per_layer`` units; so a layer of similarity 1 spans exactly
    the shared features (it scores at the inter-animal ceiling) and one of similarity 0 is
    unrelated.  Deterministic; with ``n_time_bins`` > 0 the activations repeat over the
    bins of the recording (a feedforward model has one response per stimulus).
    """
    if min(n_stimuli, n_features, units_per_layer) < 1 or not similarity:
        raise ValueError("every size of the virtual model must be at least 1")
    if any(not 0.0 <= m <= 1.0 for m in similarity):
        raise ValueError(f"similarities must lie in [0, 1]; got {similarity}")
    features = shared_features(n_stimuli, n_features, seed)
    blocks, layers = [], []
    for i, m in enumerate(similarity):
        rng = np.random.default_rng([seed, 4, i])
        mixed = np.sqrt(m) * features + np.sqrt(1.0 - m) * rng.standard_normal(features.shape)
        blocks.append(mixed @ rng.standard_normal((n_features, units_per_layer)) / np.sqrt(n_features))
        layers += [f"layer{i}"] * units_per_layer
    values = np.concatenate(blocks, axis=1)
    dims: tuple[str, ...] = ("stimulus", "unit")
    coords = {
        "stimulus_id": ("stimulus", [f"stim{i:04d}" for i in range(n_stimuli)]),
        "unit_id": ("unit", [f"{layer}_u{i % units_per_layer:03d}" for i, layer in enumerate(layers)]),
        "animal": ("unit", np.full(len(layers), name)),
        "area": ("unit", np.full(len(layers), "model")),
        "layer": ("unit", np.asarray(layers)),
    }
    if n_time_bins > 0:
        values = np.repeat(values[:, :, None], n_time_bins, axis=2)
        dims = (*dims, "time_bin")
        start = 70.0 + 10.0 * np.arange(n_time_bins)
        coords["time_bin_start"] = ("time_bin", start, {"units": "ms"})
        coords["time_bin_end"] = ("time_bin", start + 10.0, {"units": "ms"})
    return xr.Dataset(
        {"activation": (dims, values.astype(np.float32), {"units": "a.u.",
                                                          "description": "model unit activations"})},
        coords=coords,
        attrs=store_attrs(
            "activations", species="model", modality="model activations",
            source="goalstore.sources.virtual_animals.virtual_model", license="CC0-1.0",
            citation="goalstore virtual model (synthetic; no publication)", model=name,
            description="virtual model: layers reading out mixtures of the virtual animals' shared "
                        "features and independent ones",
            generator_config=(f"n_stimuli={n_stimuli} n_features={n_features} similarity={similarity} "
                              f"units_per_layer={units_per_layer} n_time_bins={n_time_bins} seed={seed}"),
            layer_similarity=[float(m) for m in similarity],
        ),
    )
