"""Model grids (``model-grid``): each point of a grid (:mod:`builders.model_grid`) trained as a ``model`` store.

Each point is trained by the ``model`` recipe's own functions (:func:`~goalstore.recipes.models.check_model`,
:func:`~goalstore.recipes.models.produce_model`) and its store's ``training`` record gains the grid's labels
(``grid``, ``family``, ``cell``, ``objective``, ``grid_point``: the key of the point's training config).

Resumable: a point whose store is already registered with the same ``grid_point`` key is skipped; a trained
point is first written whole into the root's scratch folder (``.goalstore-tmp/model-grid/<name>.safetensors``,
through a temporary file and a rename), so a killed build — whose half-made stores the ``datalad run`` around
it rolls back — restarts with the points it had trained, and writes them as stores next time.  Points run one
after another, or on dask.distributed (``workers`` > 1 or a ``scheduler``; the workers must see the store
root), with a progress bar over the grid.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore.errors import AnalysisInputError, EntryNotFoundError
from goalstore.recipes import Product, Recipe, param
from goalstore.recipes.models import TrainModel, check_model, produce_model

#: the scratch sub-folder holding trained points until they are stores
WORK_DIR = "model-grid"


@dataclass(frozen=True)
class ModelGrid:
    grid: str = param("tiny", build_option=True, help="model grid: tiny, paper or a grid file (JSON/YAML)")
    device: str = param("cpu", build_option=True, help="cpu, cuda or auto")
    workers: int = param(1, build_option=True, help="local dask.distributed workers")
    scheduler: str = param("", build_option=True, help="address of a dask.distributed scheduler")


def _points(grid: str) -> list[Any]:
    from builders.model_grid import grid_points, load_model_grid

    try:
        return grid_points(load_model_grid(grid))
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None


def check_grid(p: ModelGrid, root: Any) -> ModelGrid:
    """Refuse a bad grid (file, field, objective) or a point the ``model`` recipe would refuse, before
    anything trains; each distinct training config (seeds aside) is checked once."""
    from builders.device import resolve_device
    from builders.model_grid import load_model_grid
    from goalstore import entries

    try:
        resolve_device(p.device)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    points = _points(p.grid)
    for spec in load_model_grid(p.grid):
        try:
            entries.describe(spec.stimuli, root)
        except EntryNotFoundError:
            if not spec.data_path:
                raise
            raise AnalysisInputError(
                f"grid {spec.name!r} ({spec.family}): stimuli {spec.stimuli!r} is not in the store; import the "
                f"training images of data_path first: goalstore import stimuli {spec.data_path} --name "
                f"{spec.stimuli} --size {spec.input_size}") from None
    checked: set[str] = set()
    for point in points:
        config = {**point.model_params(p.device), "name": "check", "seed": 0}
        key = repr(sorted(config.items()))
        if key not in checked:
            checked.add(key)
            try:
                check_model(TrainModel(**point.model_params(p.device)), root)
            except AnalysisInputError as exc:
                raise AnalysisInputError(f"grid {point.grid!r}, point {point.name}: {exc}") from None
    return dataclasses.replace(p, grid=str(Path(p.grid).resolve())) if Path(p.grid).is_file() else p


def grid_record(point: Any) -> dict[str, Any]:
    """What a grid point adds to its model store's ``training`` record."""
    return {"grid": point.grid, "family": point.family, "cell": point.cell, "objective": point.objective,
            "grid_point": point.key}


def train_point(point: Any, root: str, work_dir: str, device: str = "cpu", threads: int | None = None,
                progress: bool = False) -> str:
    """Train ``point`` with the ``model`` recipe and write its model store's file whole into ``work_dir``
    (a temporary file renamed into place); a point already there is not trained again."""
    import torch

    from goalstore.formats import get_format
    from goalstore.store import StoreRoot

    if threads:
        torch.set_num_threads(threads)
    final = Path(work_dir) / f"{point.name}.safetensors"
    if final.exists():
        return point.name
    params = TrainModel(**point.model_params(device))
    # recover=False: a worker of an existing cluster does not hold the build's lock; settling the
    # build's own pending journals would wait for it (deadlock)
    weights = produce_model(StoreRoot(root, create=False, recover=False), params)[point.name].obj
    weights.attrs["training"] = {**weights.attrs["training"], **grid_record(point)}
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{point.name}.{uuid.uuid4().hex}.tmp")
    try:
        get_format("safetensors").write(weights, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return point.name


def stored(root: Any, points: list[Any]) -> set[str]:
    """The points whose store is registered in ``root`` with the same training config (``grid_point``)."""
    from goalstore.catalog import store_catalog

    cat = store_catalog(root.catalog_path)
    return {pt.name for pt in points if pt.name in cat.entries
            and (cat.entries[pt.name].metadata.get("training") or {}).get("grid_point") == pt.key}


def produce_grid(root: Any, p: ModelGrid) -> dict[str, Product]:
    from builders.dask_client import run_tasks
    from goalstore.formats import get_format

    points = _points(p.grid)
    work_dir = root.scratch / WORK_DIR
    work_dir.mkdir(parents=True, exist_ok=True)
    for leftover in work_dir.glob(".*.tmp"):  # a killed point's partial file
        leftover.unlink(missing_ok=True)
    done = stored(root, points)
    for name in done:  # a stored point's scratch copy is no longer needed
        (work_dir / f"{name}.safetensors").unlink(missing_ok=True)
    pending = [pt for pt in points if pt.name not in done]
    trained = {f.stem for f in work_dir.glob("*.safetensors")}
    run_tasks(train_point, [pt for pt in pending if pt.name not in trained], len(points), p.workers or None,
              p.scheduler or None, True, "models", root=str(root.path), work_dir=str(work_dir),
              device=p.device)
    read = get_format("safetensors").open
    return {pt.name: Product(read(work_dir / f"{pt.name}.safetensors", pt.name), "model", "safetensors")
            for pt in pending}


def grid_cached(p: ModelGrid, metadata: dict[str, Any]) -> bool:
    """Whether a registered store is one of the grid's points (its ``grid_point`` key is the grid's)."""
    return (metadata.get("training") or {}).get("grid_point") in {pt.key for pt in _points(p.grid)}


RECIPES = [
    Recipe("model-grid", produce_grid, outputs=lambda p: [(pt.name, "safetensors") for pt in _points(p.grid)],
           inputs=lambda p: sorted({pt.params["stimuli"] for pt in _points(p.grid)}), parameters=ModelGrid,
           check=check_grid, build_check=True, cached=grid_cached,
           description="train every point of a model grid (architecture × cell × objective × seed) as a "
                       "model store; resumable"),
]
