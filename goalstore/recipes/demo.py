"""The embedded demo stores: virtual animals, a matching virtual model, synthetic rate maps, and virtual
animals viewing the embedded object images (4 time bins; or 20, with planted object solution times and a
behavioural I1 per image, for ``goalstore analyze ost``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError
from goalstore.recipes import Product, Recipe, check_entry, param


@dataclass(frozen=True)
class Seeded:
    seed: int = param(0, help="random seed")


def produce_recording(root: Any, p: Seeded) -> dict[str, Product]:
    from goalstore.sources.virtual_animals import virtual_animals

    ds = virtual_animals(seed=p.seed)
    ds.attrs["goalstore_version"] = __version__
    return {"demo-recording": Product(ds, "recording")}


def produce_model(root: Any, p: Seeded) -> dict[str, Product]:
    from goalstore.sources.virtual_animals import virtual_model

    ds = virtual_model(seed=p.seed, name="demo-model")  # matches demo-recording's stimuli and features
    ds.attrs["goalstore_version"] = __version__
    return {"demo-model": Product(ds, "activations")}


def produce_rate_maps(root: Any, p: Seeded) -> dict[str, Product]:
    from goalstore.sources.rate_maps import synthetic_rate_maps

    ds = synthetic_rate_maps(seed=p.seed)
    ds.attrs["goalstore_version"] = __version__
    return {"demo-rate-maps": Product(ds, "recording")}


@dataclass(frozen=True)
class ObjectsRecording:
    stimuli: str = param("embedded-objects", help="the stimuli store the virtual animals view")
    noise: float = param(1.0, help="s.d. of the Gaussian trial noise (signal s.d. 0.5–1.5)")
    seed: int = param(0, help="random seed")


def check_objects_recording(p: ObjectsRecording, root: Any) -> ObjectsRecording:
    check_entry(p.stimuli, "stimuli", root)
    return p


def produce_objects_recording(root: Any, p: ObjectsRecording) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.sources.virtual_animals import virtual_animals_viewing

    ds = virtual_animals_viewing(entries.open(p.stimuli, root), noise=p.noise, seed=p.seed,
                                 stimulus_set=p.stimuli)
    ds.attrs["goalstore_version"] = __version__
    return {"demo-objects-recording": Product(ds, "recording")}


@dataclass(frozen=True)
class ObjectsTimecourse:
    stimuli: str = param("embedded-objects", help="the stimuli store the virtual animals view")
    n_time_bins: int = param(20, help="10 ms time bins from 70 ms (20: bins starting 70–260 ms)")
    n_trials: int = param(4, help="trials per image")
    noise: float = param(1.0, help="s.d. of the Gaussian trial noise (signal s.d. 0.5–1.5)")
    seed: int = param(0, help="random seed (read-outs, noise, onsets, behaviour)")


def check_objects_timecourse(p: ObjectsTimecourse, root: Any) -> ObjectsTimecourse:
    for field, least in (("n_time_bins", 2), ("n_trials", 1)):
        if getattr(p, field) < least:
            raise AnalysisInputError(f"parameter {field!r} of recipe 'demo-objects-timecourse': "
                                     f"{getattr(p, field)}; expected at least {least}")
    check_entry(p.stimuli, "stimuli", root)
    return p


def produce_objects_timecourse(root: Any, p: ObjectsTimecourse) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.sources.virtual_animals import SolutionTimes, virtual_animals_viewing

    ds = virtual_animals_viewing(entries.open(p.stimuli, root), n_time_bins=p.n_time_bins, n_trials=p.n_trials,
                                 noise=p.noise, seed=p.seed, stimulus_set=p.stimuli,
                                 solution_times=SolutionTimes())
    ds.attrs["goalstore_version"] = __version__
    return {"demo-objects-timecourse": Product(ds, "recording")}


RECIPES = [
    Recipe("demo-recording", produce_recording, outputs=lambda _: [("demo-recording", "zarr")],
           parameters=Seeded,
           description="embedded default store: three virtual animals (V4/IT), 48 stimuli, "
                       "4 time bins, 8 trials"),
    Recipe("demo-model", produce_model, outputs=lambda _: [("demo-model", "zarr")], parameters=Seeded,
           description="embedded default model: virtual-model activations matching demo-recording "
                       "(layers of similarity 0, 0.5, 1 to the animals' shared features)"),
    Recipe("demo-rate-maps", produce_rate_maps, outputs=lambda _: [("demo-rate-maps", "zarr")],
           parameters=Seeded,
           description="embedded synthetic rate maps: 4 hexagonal grid, 4 wall and 4 random cells"),
    Recipe("demo-objects-recording", produce_objects_recording,
           outputs=lambda _: [("demo-objects-recording", "zarr")], inputs=lambda p: [p.stimuli],
           parameters=ObjectsRecording, check=check_objects_recording, build_check=True,
           description="embedded recording of three virtual animals viewing the embedded-objects images "
                       "(V4: a fixed random convolutional stage; IT: category/object identity and view "
                       "features), 4 time bins, 8 trials"),
    Recipe("demo-objects-timecourse", produce_objects_timecourse,
           outputs=lambda _: [("demo-objects-timecourse", "zarr")], inputs=lambda p: [p.stimuli],
           parameters=ObjectsTimecourse, check=check_objects_timecourse, build_check=True,
           description="embedded recording for object solution times: demo-objects-recording's animals over "
                       "20 time bins (70–260 ms), IT's identity signal starting at a planted onset per image "
                       "(ground_truth_ost), a behavioural I1 per image (behaviour_i1), 4 trials"),
]
