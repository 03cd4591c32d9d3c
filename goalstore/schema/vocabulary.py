"""The controlled vocabulary of the canonical array schema: the one place that says
which dims exist, which coordinates each dim requires, and in which units.

Extend it deliberately: add a :class:`Dim` to :data:`DIMS` (and, for a new
coordinate with physical units, an entry to :data:`COORD_UNITS`), bump
:data:`SCHEMA_VERSION` if existing stores would no longer validate, and document
the change in the README's schema section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Version of the canonical schema written into every store's ``schema_version`` attr.
SCHEMA_VERSION = "1"

#: Values allowed for the ``kind`` attr of an array store.
KINDS = ("recording", "activations", "corpus", "result", "stimuli", "trajectories")

#: The kind of a model store (weights in safetensors, not an array store; see
#: :mod:`goalstore.schema.models`).
MODEL_KIND = "model"

#: Coordinates of the ``stimulus`` dim that describe how a stimulus was made (the variation
#: parameters of a rendered object set); all optional, each 1-D along ``stimulus``.
VARIATION_COORDS = ("rotation", "position_x", "position_y", "size", "background", "object_index",
                    "variation")

#: Attrs every array store must carry (non-empty strings).
REQUIRED_ATTRS = ("kind", "species", "modality", "source", "license", "citation", "schema_version")


@dataclass(frozen=True)
class Dim:
    """One dimension of the vocabulary.

    ``coords`` are the coordinates (1-D along this dim) that every store with the
    dim must carry; ``unique`` names the coordinate whose values identify an
    element and must therefore be unique and non-missing.
    """

    name: str
    description: str
    coords: tuple[str, ...] = ()
    unique: str | None = None
    optional_coords: tuple[str, ...] = field(default=())


DIMS: dict[str, Dim] = {
    d.name: d
    for d in (
        Dim("stimulus", "one presented image, sound or condition",
            coords=("stimulus_id",), unique="stimulus_id",
            optional_coords=("category", "object_name", "image_path", *VARIATION_COORDS)),
        Dim("unit", "one recorded neuron / multi-unit site / model unit",
            coords=("unit_id", "animal", "area"), unique="unit_id",
            optional_coords=("layer", "cell_type", "depth", "channel", "x", "y", "component")),
        Dim("channel", "one colour channel of an image (R, G, B or L)", coords=("channel_name",),
            unique="channel_name"),
        Dim("height", "one pixel row of an image (top to bottom)"),
        Dim("width", "one pixel column of an image (left to right)"),
        Dim("time_bin", "a time window relative to stimulus onset",
            coords=("time_bin_start", "time_bin_end")),
        Dim("trial", "one repetition of a stimulus", coords=("trial_id",), unique="trial_id"),
        Dim("session", "one imaging / recording session", coords=("session_id",),
            unique="session_id", optional_coords=("day",)),
        Dim("synapse", "one tracked synapse", coords=("synapse_id",), unique="synapse_id",
            optional_coords=("dendrite", "animal", "cell_type")),
        Dim("x", "spatial bin along the arena's x axis", coords=("x_center",)),
        Dim("y", "spatial bin along the arena's y axis", coords=("y_center",)),
        Dim("position", "one sample along a trajectory", coords=("position_id",),
            unique="position_id"),
        Dim("layer", "one layer of a model", coords=("layer_name",), unique="layer_name"),
        Dim("checkpoint", "one saved training checkpoint", coords=("epoch",), unique="epoch"),
        Dim("example", "one example of a classification data set", coords=("example_id",),
            unique="example_id"),
        Dim("weight", "one forward weight of a model layer (its weight tensor flattened)",
            coords=("weight_index",), unique="weight_index"),
        # dims of analysis results
        Dim("state", "one state of a fitted Markov chain (0 = synapse absent)", coords=("state_id",),
            unique="state_id", optional_coords=("state_lower", "state_upper")),
        Dim("next_state", "the state a Markov transition goes to", coords=("next_state_id",),
            unique="next_state_id"),
        Dim("edge", "one edge between consecutive bins", coords=("edge_index",), unique="edge_index"),
        Dim("bin", "one bin of an equal-count binning", coords=("bin_index",), unique="bin_index"),
        Dim("bootstrap", "one bootstrap resample", coords=("bootstrap_id",), unique="bootstrap_id"),
        Dim("start", "one starting distribution of an iteration", coords=("start_name",),
            unique="start_name"),
        Dim("step", "one iteration step (of an iteration, or one time step of a simulated trajectory)",
            coords=("step_index",), unique="step_index"),
        Dim("path", "one simulated trajectory", coords=("path_id",), unique="path_id"),
        Dim("lag", "a lag between two sessions", coords=("lag_sessions",), unique="lag_sessions",
            optional_coords=("lag_days",)),
        Dim("classifier", "one classifier family", coords=("classifier_name",), unique="classifier_name"),
        Dim("observable_set", "a subset of observables used as features",
            coords=("observable_set_name",), unique="observable_set_name"),
        Dim("split", "one train/test split", coords=("split_index",), unique="split_index"),
        Dim("rule", "a true learning rule", coords=("rule_name",), unique="rule_name"),
        Dim("predicted_rule", "a predicted learning rule", coords=("predicted_rule_name",),
            unique="predicted_rule_name"),
        Dim("other_rule", "the second rule of a pair", coords=("other_rule_name",), unique="other_rule_name"),
        Dim("statistic", "one observable statistic (observable/function/statistic)",
            coords=("statistic_key",), unique="statistic_key"),
        Dim("holdout", "one held-out group", coords=("holdout_key",), unique="holdout_key",
            optional_coords=("holdout_kind", "holdout_value")),
        Dim("period", "spacing of trajectory samples", coords=("period_epochs",), unique="period_epochs"),
        Dim("sample_count", "number of trajectory samples", coords=("n_samples",), unique="n_samples"),
        Dim("train_third", "third of the trajectory trained on", coords=("train_third_name",),
            unique="train_third_name"),
        Dim("test_third", "third of the trajectory tested on", coords=("test_third_name",),
            unique="test_third_name"),
        Dim("unit_fraction", "fraction of units kept", coords=("unit_fraction_value",),
            unique="unit_fraction_value"),
        Dim("noise", "standard deviation of added measurement noise", coords=("noise_sigma",),
            unique="noise_sigma"),
        Dim("realism_observable", "an observable recomputed from raw units",
            coords=("realism_observable_name",), unique="realism_observable_name"),
        Dim("area", "one brain area (a summary over its units)", coords=("area_name",), unique="area_name"),
        Dim("model", "one model scored against a recording (a leaderboard row)", coords=("model_name",),
            unique="model_name"),
        Dim("mapping", "one mapping class from source to target responses", coords=("mapping_name",),
            unique="mapping_name"),
        Dim("temporal", "how a mapping treats time bins (per_bin or fixed)", coords=("temporal_mode",),
            unique="temporal_mode"),
        Dim("target_animal", "the animal whose responses are predicted", coords=("target_animal_name",),
            unique="target_animal_name"),
        Dim("radius", "an annulus radius of a spatial autocorrelogram", coords=("radius_bins",),
            unique="radius_bins"),
        Dim("image", "one image of an object-solution-time analysis", coords=("image_id",), unique="image_id"),
        Dim("offset", "sessions relative to an event (a synapse's addition or elimination)",
            coords=("offset_sessions",), unique="offset_sessions", optional_coords=("offset_days",)),
        Dim("log_weight_bin", "one equal-width bin of log weights", coords=("log_weight_center",),
            unique="log_weight_center"),
        Dim("target", "one stimulus variable read out from model features (transfer)", coords=("target_name",),
            unique="target_name", optional_coords=("target_kind", "target_metric")),
        Dim("model_unit", "one unit of a model, by index (padded with NaN across models of different sizes)",
            coords=("unit_index",), unique="unit_index"),
        Dim("knockout", "which units a knockout silences (none, top grid, top border, random)",
            coords=("knockout_name",), unique="knockout_name"),
        Dim("repeat", "one independent repeat (e.g. a held-out trajectory set)", coords=("repeat_index",),
            unique="repeat_index"),
        Dim("test_arena", "an arena a network is tested in (ARENA:SIZE_M)", coords=("test_arena_name",),
            unique="test_arena_name"),
        Dim("target_unit", "one recorded unit predicted from a model's units", coords=("target_unit_id",),
            unique="target_unit_id"),
        Dim("map_x", "one bin of a resampled rate map along x (box fractions)", coords=("map_x_center",),
            unique="map_x_center"),
        Dim("map_y", "one bin of a resampled rate map along y (box fractions)", coords=("map_y_center",),
            unique="map_y_center"),
    )
}

#: Physical units that coordinates must declare in their ``units`` attr.
COORD_UNITS: dict[str, str] = {
    "time_bin_start": "ms",
    "time_bin_end": "ms",
    "x_center": "cm",
    "y_center": "cm",
    "day": "day",
    "depth": "um",
    "lag_days": "day",
    "offset_days": "day",
    "rotation": "deg",
}


def describe() -> list[dict[str, object]]:
    """The vocabulary as plain records (for ``goalstore schema`` and the docs)."""
    return [
        {
            "dim": d.name,
            "description": d.description,
            "required_coords": {c: COORD_UNITS.get(c, "") for c in d.coords},
            "optional_coords": {c: COORD_UNITS.get(c, "") for c in d.optional_coords},
            "unique": d.unique,
        }
        for d in DIMS.values()
    ]
