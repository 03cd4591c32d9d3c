"""The embedded demo stores: virtual animals, a matching virtual model, synthetic rate maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goalstore._version import __version__
from goalstore.recipes import Product, Recipe, param


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
]
