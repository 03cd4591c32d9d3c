"""The embedded demo stores: virtual animals, a matching virtual model, synthetic rate maps, and virtual
animals viewing the embedded object images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goalstore._version import __version__
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
]
