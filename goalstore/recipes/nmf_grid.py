"""The non-negative "grid cell" control (``nmf-grid-cells``): rate maps of hidden units that read the
place-cell code through non-negative weights (Dordek et al. 2016; :mod:`builders.nmf_grid`), as a
rate-map ``recording`` store (``goalstore analyze spatial``; a model for ``goalstore analyze mec``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalstore._version import __version__
from goalstore.errors import SchemaError
from goalstore.recipes import Product, Recipe, param

CITATION = ("Dordek Y, Soudry D, Meir R, Derdikman D (2016). Extracting grid cell characteristics from place "
            "cell inputs using non-negative principal component analysis. eLife 5:e10094")


@dataclass(frozen=True)
class NmfGridCells:
    name: str = param("nmf-grid-cells", help="store name")
    units: int = param(64, help="number of hidden units (non-negative components)")
    bins: int = param(44, help="position bins per side (44: 5 cm bins in the 2.2 m box)")
    box: float = param(2.2, help="box side in m (the place cells tile it; centred on the origin)")
    method: str = param("nnpca", choices=["nnpca", "nmf"],
                        help="nnpca: non-negative PCA of the zero-mean place-cell code (Dordek); "
                             "nmf: scikit-learn NMF of the (non-negative) code")
    seed: int = param(0, help="seed of the initial weights (nnpca) / NMF random state")


def _refuse(field: str, value: Any, expected: str) -> SchemaError:
    return SchemaError(f"parameter {field!r} of recipe 'nmf-grid-cells': {value!r}; expected {expected}")


def check_nmf_grid(p: NmfGridCells, root: Any) -> NmfGridCells:
    """Refuse a bad name, unit or bin count, box or method before anything runs."""
    from builders.nmf_grid import METHODS
    from goalstore.store import check_name

    check_name(p.name)
    if p.units < 1:
        raise _refuse("units", p.units, "at least 1")
    if p.bins < 2:
        raise _refuse("bins", p.bins, "at least 2")
    if not np.isfinite(p.box) or p.box <= 0:
        raise _refuse("box", p.box, "a positive box side in m")
    if p.method not in METHODS:
        raise _refuse("method", p.method, f"one of {', '.join(METHODS)}")
    return p


def produce_nmf_grid(root: Any, p: NmfGridCells) -> dict[str, Product]:
    from builders.nmf_grid import nmf_grid_maps
    from goalstore.sources.rate_maps import rate_map_recording

    maps, _ = nmf_grid_maps(p.units, p.bins, p.box, seed=p.seed, method=p.method)
    ds = rate_map_recording({p.name: np.moveaxis(maps, 0, -1)}, bin_size_cm=100 * p.box / p.bins, area="model",
                            species="model", source="goalstore recipe nmf-grid-cells (builders.nmf_grid)",
                            license="CC0-1.0", citation=CITATION)
    ds["rate"].attrs.update(units="1", description="unit output (non-negative read-out of the place-cell code)")
    ds.attrs.update({f"config_{k}": v for k, v in dataclasses.asdict(p).items()}, goalstore_version=__version__)
    return {p.name: Product(ds, "recording")}


RECIPES = [
    Recipe("nmf-grid-cells", produce_nmf_grid, outputs=lambda p: [(p.name, "zarr")],
           parameters=NmfGridCells, check=check_nmf_grid, build_check=True,
           description="non-negative 'grid cell' control: rate maps of units reading DoG place cells through "
                       "non-negative weights (Dordek et al. 2016 non-negative PCA, or NMF)"),
]
