"""Recipes: named, deterministic producers of the stores goalstore can build itself.

``goalstore build RECIPE`` runs ``goalstore produce RECIPE …`` through
``datalad run``, so the command that made a store is in its history and
``goalstore rebuild`` can re-execute it.  A recipe returns the object to store;
it never writes (the store root does, atomically and validated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from goalstore._version import __version__
from goalstore.errors import EntryNotFoundError


@dataclass(frozen=True)
class Recipe:
    """How to produce one store: its name, format, kind and a producing function."""

    name: str
    produce: Callable[..., Any]
    kind: str
    fmt: str = "zarr"
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _demo_recording(seed: int = 0) -> Any:
    from goalstore.sources.virtual_animals import virtual_animals

    ds = virtual_animals(seed=seed)
    ds.attrs["goalstore_version"] = __version__
    return ds


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("demo-recording", _demo_recording, kind="recording",
               description="embedded default store: three virtual animals (V4/IT), 48 stimuli, "
                           "4 time bins, 8 trials",
               params={"seed": 0}),
    )
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        import difflib

        raise EntryNotFoundError(name, difflib.get_close_matches(name, list(RECIPES), n=5, cutoff=0.3)
                                 or list(RECIPES))
    return RECIPES[name]
