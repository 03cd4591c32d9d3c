"""Virtual animals: synthetic recordings with a known ground truth.

Every animal's units are linear read-outs of the same stimulus features
(shared across animals), modulated by a per-unit temporal profile, plus
independent Gaussian trial noise.  Because all animals read out one shared
feature space, the noise-free responses of any unit are (up to the read-out) a
linear function of every other animal's; how consistent the animals look is
controlled only by ``noise``.  The features themselves are returned by
:func:`shared_features` so that a "model" equal to them can be built.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from goalstore.schema import SCHEMA_VERSION


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
) -> xr.Dataset:
    """A canonical recording (stimulus × unit × time_bin × trial) of virtual animals.

    Units of each animal are split evenly over ``areas``.  Time bins are 10 ms
    wide starting at 70 ms.  Deterministic given the arguments.
    """
    if min(n_animals, units_per_animal, n_stimuli, n_time_bins, n_trials, n_features) < 1:
        raise ValueError("every size of the virtual recording must be at least 1")
    features = shared_features(n_stimuli, n_features, seed)
    rng = np.random.default_rng([seed, 1])
    n_units = n_animals * units_per_animal
    readout = rng.standard_normal((n_features, n_units)) / np.sqrt(n_features)
    profile = 0.5 + rng.random((n_units, n_time_bins))  # per-unit temporal gain
    signal = (features @ readout)[:, :, None] * profile[None]  # stimulus × unit × time_bin
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
            "time_bin_start": ("time_bin", start, {"units": "ms"}),
            "time_bin_end": ("time_bin", start + 10.0, {"units": "ms"}),
            "trial_id": ("trial", np.arange(n_trials)),
        },
        attrs={
            "kind": "recording",
            "species": "virtual",
            "modality": "simulated multi-unit",
            "source": "goalstore.sources.virtual_animals",
            "license": "CC0-1.0",
            "citation": "goalstore virtual animals (synthetic; no publication)",
            "schema_version": SCHEMA_VERSION,
            "description": "virtual animals: linear read-outs of shared stimulus features plus "
                           "Gaussian trial noise",
            "generator_config": (f"n_animals={n_animals} units_per_animal={units_per_animal} "
                                 f"n_stimuli={n_stimuli} n_time_bins={n_time_bins} "
                                 f"n_trials={n_trials} n_features={n_features} noise={noise} "
                                 f"seed={seed}"),
        },
    )
    return ds
