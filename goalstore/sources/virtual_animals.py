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

import dataclasses
import json

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


# ------------------------------------------------------------ animals that view images
#: ``virtual_animals_viewing`` defaults: IT's signal variance from category identity, object identity
#: and view-dependent (image) features; they sum to 1.
IT_MIXTURE = {"category": 0.5, "object": 0.25, "view": 0.25}


def _luminance_batches(stimuli: xr.Dataset, size: int, batch: int = 256):
    """The stimuli's images as float32 luminance in [0, 1], block-averaged to ``size`` × ``size``,
    in batches (a large stimulus set is never loaded whole)."""
    import torch
    import torch.nn.functional as F

    image = stimuli["image"]
    for start in range(0, image.sizes["stimulus"], batch):
        values = np.asarray(image.isel(stimulus=slice(start, start + batch)).values, dtype=np.float32) / 255.0
        x = torch.from_numpy(values).mean(dim=1, keepdim=True)  # stimulus × 1 × H × W
        yield F.adaptive_avg_pool2d(x, size)


def _standardise(values: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit variance across stimuli (a constant column becomes 0)."""
    centred = values - values.mean(axis=0, keepdims=True)
    std = centred.std(axis=0, keepdims=True)
    return centred / np.where(std > 0, std, 1.0)


def _identity_codes(stimuli: xr.Dataset, names: tuple[str, ...]) -> np.ndarray:
    from goalstore.errors import SchemaError

    for name in names:
        if name not in stimuli.coords:
            raise SchemaError(f"coordinate {name!r}: missing on the stimuli; the virtual IT units read out "
                              "category and object identity (coordinates 'category' and 'object_name')")
    keys = ["/".join(str(stimuli[n].values[i]) for n in names) for i in range(stimuli.sizes["stimulus"])]
    return np.unique(np.asarray(keys), return_inverse=True)[1]


def viewing_features(
    stimuli: xr.Dataset,
    seed: int = 0,
    n_filters: int = 4,
    grid: int = 2,
    embedding_dim: int = 16,
    input_size: int = 32,
) -> dict[str, np.ndarray]:
    """The fixed generating network of :func:`virtual_animals_viewing`, applied to ``stimuli``.

    ``v4`` (stimulus × grid·grid × n_filters): a random convolutional stage — luminance,
    block-averaged to ``input_size``², minus each image's mean, convolved with ``n_filters`` random
    zero-mean 5 × 5 filters, rectified, average-pooled onto a ``grid`` × ``grid`` lattice of
    receptive fields — local, mid-level features of the pixels.  ``category`` and ``object``
    (stimulus × embedding_dim): fixed random embeddings of the stimuli's ``category`` and
    (category, ``object_name``) identity, identical for every view of an object.  ``view``
    (stimulus × embedding_dim): a fixed random projection of the ``v4`` features through ``tanh``:
    image-dependent, so it varies across views of one object.  Every column is standardised across
    the stimuli.  Deterministic given ``seed`` and the images.
    """
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng([seed, 10])
    filters = rng.standard_normal((n_filters, 1, 5, 5))
    filters -= filters.mean(axis=(2, 3), keepdims=True)
    weight = torch.from_numpy((filters / np.sqrt(25.0)).astype(np.float32))
    parts = []
    with torch.no_grad():
        for x in _luminance_batches(stimuli, input_size):
            x = x - x.mean(dim=(2, 3), keepdim=True)
            pooled = F.adaptive_avg_pool2d(F.relu(F.conv2d(x, weight, padding=2)), grid)  # B × K × g × g
            parts.append(pooled.permute(0, 2, 3, 1).reshape(len(x), grid * grid, n_filters).numpy())
    v4 = np.concatenate(parts).astype(np.float64)
    n = v4.shape[0]
    v4 = _standardise(v4.reshape(n, -1)).reshape(n, grid * grid, n_filters)
    category = _identity_codes(stimuli, ("category",))
    obj = _identity_codes(stimuli, ("category", "object_name"))
    cat_table = np.random.default_rng([seed, 11]).standard_normal((category.max() + 1, embedding_dim))
    obj_table = np.random.default_rng([seed, 12]).standard_normal((obj.max() + 1, embedding_dim))
    projection = np.random.default_rng([seed, 13]).standard_normal((grid * grid * n_filters, embedding_dim))
    view = np.tanh(v4.reshape(n, -1) @ projection / np.sqrt(projection.shape[0]))
    return {"v4": v4, "category": _standardise(cat_table[category]), "object": _standardise(obj_table[obj]),
            "view": _standardise(view)}


@dataclasses.dataclass(frozen=True)
class SolutionTimes:
    """Per-image object solution times planted in :func:`virtual_animals_viewing`'s IT units.

    Image ``i`` gets a latent onset ``τ_i ~ U(earliest, latest)`` ms (seeded; coordinate
    ``ground_truth_ost``).  Its identity signal is expressed in the bin of centre ``c_t`` by
    ``r_i(t) = clip((c_t − τ_i) / ramp, 0, 1)`` (a linear ramp over ``ramp`` ms; ``ramp = 0``: a step,
    ``r = 1[c_t ≥ τ_i]``).  An IT unit ``u`` with read-out weights ``w_u`` then responds, before its
    per-bin gain ``g_ut`` and trial noise,

        ``x_u(i, t) = (V_ui − mean_i V_u) / s_u + r_i(t) · (I_ui − mean_i I_u) / s_u``,

    ``I = (sqrt(w_c)·E_category + sqrt(w_o)·E_object) w_u`` (identity), ``V = sqrt(w_v)·view w_u``
    (view-dependent image features, present from the first bin), ``s_u = std_i(I_u + V_u)``; so once
    ``r = 1`` the unit gives exactly the response it has without solution times, and before the onset it
    carries only the view (low-level) signal.  V4 units have no onset.  The behavioural I1 of image
    ``i`` (coordinate ``behaviour_i1``) falls linearly with its onset, plus seeded Gaussian noise:

        ``b_i = clip(b_min + (b_max − b_min) · (latest − τ_i) / (latest − earliest) + σ_b · ε_i, −5, 5)``

    (``b_min``, ``b_max``, ``σ_b``: ``behaviour_min``, ``behaviour_max``, ``behaviour_noise``; ``ε_i``
    standard normal): harder images (later onset) have a lower I1.  Why this recovers ``τ``: the neural
    I1 is normalised by subtracting the mean over the object's images, so with a fraction ``F(t)`` of
    them past their onset, image ``i`` sits near ``−F(t)·Δ`` before its own onset and jumps to about
    ``(1 − F(τ_i))·Δ`` after it (``Δ``: the decoder's gain in ``Z(hit)`` from the identity signal, about 2
    for the SVM on the demo recording); a threshold falling linearly with ``τ`` follows that
    post-onset level, and ``b_min > 0`` keeps the early, all-pre-onset bins (I1 ≈ 0 ± noise) from
    "solving" late images (the latest ones may never reach it: no OST).  Measured on
    ``demo-objects-timecourse`` (these defaults, seeds 0–3; ``tests/test_ost_timecourse.py``), the IT OSTs
    of :mod:`goalstore.analyses.ost` rank-correlate with ``τ`` at ρ ≈ 0.55–0.75 over the ~40 % of images
    that reach their I1.
    """

    earliest: float = 90.0
    latest: float = 200.0
    ramp: float = 20.0
    behaviour_min: float = 0.5
    behaviour_max: float = 1.0
    behaviour_noise: float = 0.1

    def __post_init__(self) -> None:
        if not (np.isfinite(self.earliest) and np.isfinite(self.latest) and self.earliest < self.latest):
            raise ValueError(f"solution times: earliest {self.earliest} must lie before latest {self.latest}")
        if self.ramp < 0 or self.behaviour_noise < 0:
            raise ValueError(f"solution times: ramp {self.ramp} and behaviour_noise {self.behaviour_noise} "
                             "must be at least 0")

    def draw(self, n_stimuli: int, centres: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Onsets ``τ`` (ms), expression ``r`` (stimulus × bin at the bin ``centres``) and behavioural I1."""
        onset = np.random.default_rng([seed, 15]).uniform(self.earliest, self.latest, n_stimuli)
        lag = np.asarray(centres, dtype=np.float64)[None, :] - onset[:, None]
        expressed = (np.clip(lag / self.ramp, 0.0, 1.0) if self.ramp > 0 else (lag >= 0).astype(np.float64))
        earliness = (self.latest - onset) / (self.latest - self.earliest)
        jitter = np.random.default_rng([seed, 16]).standard_normal(n_stimuli)
        span = self.behaviour_max - self.behaviour_min
        behaviour = np.clip(self.behaviour_min + span * earliness + self.behaviour_noise * jitter, -5.0, 5.0)
        return onset, expressed, behaviour


def virtual_animals_viewing(
    stimuli: xr.Dataset,
    n_animals: int = 3,
    units_per_animal: int = 32,
    n_time_bins: int = 4,
    n_trials: int = 8,
    noise: float = 1.0,
    it_mixture: dict[str, float] | None = None,
    seed: int = 0,
    stimulus_set: str | None = None,
    solution_times: SolutionTimes | None = None,
) -> xr.Dataset:
    """A canonical recording (stimulus × unit × time_bin × trial) of virtual animals viewing ``stimuli``.

    Units are noisy read-outs of a FIXED generating network (:func:`viewing_features`) applied to the
    images, half of each animal's units in V4, half in IT:

    * a V4 unit reads out, with random weights, the 4 local features at one of the 2 × 2 receptive
      fields of the random convolutional stage (mid-level, local image statistics; a 16-dimensional
      space, small enough that another animal's V4 units span it);
    * an IT unit reads out a random direction of ``sqrt(w_c)·E_category + sqrt(w_o)·E_object +
      sqrt(w_v)·view`` (weights ``it_mixture``, default :data:`IT_MIXTURE`: half category identity,
      a quarter object identity, a quarter view-dependent image features).

    Each unit's noise-free response is standardised across stimuli, multiplied by a per-unit gain
    per time bin (0.5–1.5; bins 10 ms wide from 70 ms) and observed with Gaussian trial noise of s.d.
    ``noise``.  Animals differ only in their read-out weights and noise, so every animal reads out the
    same generating features and the inter-animal ceiling is limited by trial noise and by how many
    units a source animal has.

    Expected ordering (why the demo leaderboard has a known answer): IT's variance is ≥ 75 %
    category/object identity, constant across an object's views, which a random convolutional
    network does not compute but a network trained to classify ``category`` approximates in its late
    layers; so a trained network predicts IT better than the same architecture untrained, and the
    generating features themselves (``viewing_features``: ``category`` + ``object`` + ``view``) reach the
    ceiling.  V4 is a random convolutional stage, so early layers of trained and untrained networks
    predict it similarly, and category identity predicts it poorly.

    ``solution_times`` (default None: none, the output above) gives every image an object solution time:
    IT's category/object identity signal appears only from a latent per-image onset on, and a
    behavioural I1 per image goes with it (see :class:`SolutionTimes` for the equations; coordinates
    ``ground_truth_ost`` and ``behaviour_i1``).

    Stimulus ids and every per-stimulus coordinate (``category``, ``object_name``, variation
    parameters) are copied from ``stimuli``; ``stimulus_set`` (default: the stimuli's own
    ``stimulus_set`` or ``name`` attr) and the generator config go into the attrs.  Deterministic
    given the arguments and the images.
    """
    from goalstore.errors import SchemaError

    mixture = dict(IT_MIXTURE if it_mixture is None else it_mixture)
    if set(mixture) != set(IT_MIXTURE) or any(w < 0 for w in mixture.values()) or sum(mixture.values()) <= 0:
        raise ValueError(f"it_mixture must give non-negative weights for {sorted(IT_MIXTURE)}; got {mixture}")
    if min(n_animals, units_per_animal, n_time_bins, n_trials) < 1 or units_per_animal < 2:
        raise ValueError("every size of the virtual recording must be at least 1 (2 units per animal)")
    if "image" not in stimuli.data_vars or "stimulus_id" not in stimuli.coords:
        raise SchemaError("variable 'image': missing; virtual animals view a stimuli store "
                          "(image: stimulus × channel × height × width, uint8)")
    total = sum(mixture.values())
    mixture = {k: v / total for k, v in mixture.items()}
    generator = {"n_filters": 4, "grid": 2, "embedding_dim": 16, "input_size": 32}
    features = viewing_features(stimuli, seed, **generator)
    v4, n_stimuli = features["v4"], features["v4"].shape[0]
    it_latent = sum(np.sqrt(mixture[k]) * features[k] for k in ("category", "object", "view"))
    identity_latent = sum(np.sqrt(mixture[k]) * features[k] for k in ("category", "object"))
    rng = np.random.default_rng([seed, 14])
    n_v4 = units_per_animal // 2
    columns, identity, areas, animals = [], [], [], []
    for a in range(n_animals):
        for i in range(units_per_animal):
            if i < n_v4:
                field = rng.integers(v4.shape[1])
                columns.append(v4[:, field] @ rng.standard_normal(v4.shape[2]))
                identity.append(np.zeros(n_stimuli))
                areas.append("V4")
            else:
                weights = rng.standard_normal(it_latent.shape[1])
                columns.append(it_latent @ weights)
                identity.append(identity_latent @ weights)
                areas.append("IT")
            animals.append(f"animal{a}")
    signal = _standardise(np.stack(columns, axis=1))  # stimulus × unit
    profile = 0.5 + rng.random((signal.shape[1], n_time_bins))
    start = 70.0 + 10.0 * np.arange(n_time_bins)
    course = signal[:, :, None]  # stimulus × unit × time_bin (without solution times: one bin, broadcast)
    per_stimulus = {c: ("stimulus", stimuli[c].values, stimuli[c].attrs) for c in stimuli.coords
                    if stimuli[c].dims == ("stimulus",)}
    if solution_times is not None:
        onset, expressed, behaviour = solution_times.draw(n_stimuli, start + 5.0, seed)
        identity_part = np.stack(identity, axis=1)
        scale = np.stack(columns, axis=1).std(axis=0)
        identity_part = (identity_part - identity_part.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        course = course - (1.0 - expressed)[:, None, :] * identity_part[:, :, None]
        per_stimulus["ground_truth_ost"] = ("stimulus", onset, {
            "units": "ms", "description": "latent onset of the image's category/object identity signal in "
                                          "the IT units (ground truth of its object solution time)"})
        per_stimulus["behaviour_i1"] = ("stimulus", behaviour, {
            "units": "1", "description": "virtual behavioural I1 (d'-like, clipped to [-5, 5]): lower for "
                                         "images whose identity signal starts later"})
    trials = (course[..., None] * profile[None, :, :, None]
              + noise * rng.standard_normal((*signal.shape, n_time_bins, n_trials)))
    name = stimulus_set or str(stimuli.attrs.get("stimulus_set") or stimuli.attrs.get("name") or "unnamed")
    counters: dict[tuple[str, str], int] = {}
    unit_ids = []
    for animal, area in zip(animals, areas, strict=True):
        k = counters[(animal, area)] = counters.get((animal, area), -1) + 1
        unit_ids.append(f"{animal}_{area}_u{k:03d}")
    config = {"n_animals": n_animals, "units_per_animal": units_per_animal, "n_stimuli": n_stimuli,
              "n_time_bins": n_time_bins, "n_trials": n_trials, "noise": noise, "it_mixture": mixture,
              "seed": seed, "generator": "goalstore.sources.virtual_animals.viewing_features", **generator}
    if solution_times is not None:
        config["solution_times"] = dataclasses.asdict(solution_times)
    return xr.Dataset(
        {"response": (("stimulus", "unit", "time_bin", "trial"), trials.astype(np.float32),
                      {"units": "a.u.", "description": "trial responses of virtual units viewing the images"})},
        coords={
            **per_stimulus,
            "unit_id": ("unit", unit_ids),
            "animal": ("unit", np.asarray(animals)),
            "area": ("unit", np.asarray(areas)),
            "time_bin_start": ("time_bin", start, {"units": "ms"}),
            "time_bin_end": ("time_bin", start + 10.0, {"units": "ms"}),
            "trial_id": ("trial", np.arange(n_trials)),
        },
        attrs=recording_attrs(
            species="virtual",
            modality="simulated multi-unit",
            source="goalstore.sources.virtual_animals.virtual_animals_viewing",
            license="CC0-1.0",
            citation="goalstore virtual animals (synthetic; no publication)",
            description="virtual animals viewing a stimulus set: V4 units read out a fixed random "
                        "convolutional stage, IT units category/object identity and view features",
            stimulus_set=name,
            generator_config=json.dumps(config, sort_keys=True),
        ),
    )
