"""Grid and border scores of rate maps, with a shuffle test (``goalstore analyze spatial-scores``), and the
import of recorded rate maps (``import-rate-maps``, the recipe of ``goalstore import rate-maps``).

The template of an analysis: the parameters declared once (:class:`SpatialScores`), ``check`` (refuse
bad input before anything runs), ``produce`` (the result store, read through :mod:`goalstore.entries`),
the ``report`` returned by :func:`goalstore.api.analyze` and its text ``render``ing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError, SchemaError
from goalstore.recipes import Analysis, Product, Recipe, check_entry, param, result_lines, result_report, table


@dataclass(frozen=True)
class SpatialScores:
    maps: str = param("demo-rate-maps", positional=True,
                      help="a rate-map store (unit × x × y), e.g. demo-rate-maps")
    field_threshold: float = param(0.3, help="field = bins above this × peak rate")
    min_field_bins: int = param(8, help="minimum field area in bins")
    n_shuffles: int = param(100, flag="--shuffles",
                            help="shuffled maps per cell for the shuffle test "
                                 "(default 100; 0 = thresholds only)")
    seed: int = param(0, help="seed of the shuffles")


def store_name(maps: str) -> str:
    return f"spatial-scores-{maps}"


def check(p: SpatialScores, root: Any) -> SpatialScores:
    from goalstore.analyses.spatial_shuffles import _check_n_shuffles

    if not 0 < p.field_threshold < 1 or p.min_field_bins < 1:
        raise AnalysisInputError("field_threshold must lie in (0, 1) and min_field_bins be at least 1")
    if p.n_shuffles != 0:
        _check_n_shuffles(p.n_shuffles)
    check_entry(p.maps, "recording", root)
    return p


def produce(root: Any, p: SpatialScores) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.analyses.spatial import spatial_scores

    data = entries.open(p.maps, root)
    result = spatial_scores(data, field_threshold=p.field_threshold, min_field_bins=p.min_field_bins,
                            n_shuffles=p.n_shuffles, seed=p.seed, progress=True)
    result.attrs.update({k: str(data.attrs.get(k, "unknown")) for k in ("species", "modality", "license",
                                                                         "citation")})
    result.attrs.update({"kind": "result", "source": "goalstore.analyses.spatial", "maps": p.maps,
                         "schema_version": data.attrs.get("schema_version", ""),
                         "goalstore_version": __version__, "analysis": "grid and border scores"})
    return {store_name(p.maps): Product(result, "result")}


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None,
           p: SpatialScores) -> dict[str, Any]:
    from goalstore.analyses.spatial import summary
    from goalstore.figures.spatial import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: SpatialScores) -> str:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    columns = {"grid score": "grid_score", "border score": "border_score"}
    if report["n_shuffles"]:
        columns = {"grid score": "grid_score", "grid 95%": "grid_threshold", "grid p": "grid_p",
                   "border score": "border_score", "border 95%": "border_threshold", "border p": "border_p"}
    rows = [{"cell": c, **{k: fmt(v[n]) for k, n in columns.items()}} for c, v in report["cells"].items()]
    lines = [f"Spatial scores of {p.maps}: {report['n_grid_cells']} grid cells (score > "
             f"{report['thresholds']['grid']}), {report['n_border_cells']} border cells (score > "
             f"{report['thresholds']['border']}) of {report['n_cells']}"]
    if report["n_shuffles"]:
        lines.append(f"shuffle test ({report['n_shuffles']} shuffled maps per cell; score > their 95th "
                     f"percentile): {report['n_grid_cells_shuffle']} grid cells, "
                     f"{report['n_border_cells_shuffle']} border cells")
    return "\n".join([*lines, table(rows, ["cell", *columns]), *result_lines(report)])


# ------------------------------------------------------------ import-rate-maps
@dataclass(frozen=True)
class RateMapsImport:
    path: str = param("", help="an .npz in the Gerlei layout: firing_maps (cell × x × y, Hz, NaN = unvisited), "
                               "optional cluster_id (cell) and session_id")
    name: str = param("", help="store name (default: rate-maps-<PATH's stem>)")
    box_size_cm: float = param(100.0, help="side of the (square) box the maps tile, in cm (default 100)")


def default_rate_maps_name(path: str | Path) -> str:
    """``rate-maps-<stem>`` of ``path``, reduced to the characters a store name may hold."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-._") or "imported"
    return f"rate-maps-{stem}"


def read_rate_maps(p: RateMapsImport) -> Any:
    """The canonical rate-map recording of ``p.path`` with its provenance (file name, sha256) in the attrs;
    a missing file or an array not in the layout → :class:`SchemaError` (exit 3) in one line."""
    from goalstore.sources.rate_maps import load_gerlei_firing_maps

    path = Path(p.path)
    try:
        ds = load_gerlei_firing_maps(path, box_size_cm=p.box_size_cm)
    except AnalysisInputError as exc:
        raise SchemaError(str(exc)) from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    unknown = "unknown (see the data's README)"
    ds.attrs.update(source=f"imported file {path.name} (sha256:{digest})", license=unknown, citation=unknown,
                    file=path.name, file_sha256=digest, box_size_cm=float(p.box_size_cm))
    return ds


def check_import(p: RateMapsImport, root: Any) -> RateMapsImport:
    """Read and validate the file before anything runs (nothing stored changes on bad input); the path
    becomes absolute for ``datalad run``."""
    from goalstore.schema import validate
    from goalstore.store import check_name

    if not p.path:
        raise SchemaError("import rate-maps: no PATH given; expected an .npz with firing_maps (cell × x × y)")
    if not p.box_size_cm > 0:
        raise SchemaError(f"--box-size-cm {p.box_size_cm}: expected a positive box side in cm")
    path = Path(p.path).resolve()
    checked = dataclasses.replace(p, path=str(path), name=p.name or default_rate_maps_name(path))
    check_name(checked.name)
    validate(read_rate_maps(checked), "recording")
    return checked


def produce_import(root: Any, p: RateMapsImport) -> dict[str, Product]:
    ds = read_rate_maps(p)
    ds.attrs["goalstore_version"] = __version__
    return {p.name: Product(ds, "recording")}


RECIPES = [
    Recipe("spatial-scores", produce, outputs=lambda p: [(store_name(p.maps), "zarr")],
           inputs=lambda p: [p.maps], parameters=SpatialScores, check=check,
           description="grid and border scores of every cell of a rate-map store, with a shuffle test",
           analysis=Analysis(help="grid and border scores of rate maps", out="goalstore-out/spatial",
                             report=report, render=render, aliases=("spatial",))),
    Recipe("import-rate-maps", produce_import,
           outputs=lambda p: [(p.name or default_rate_maps_name(p.path), "zarr")],
           parameters=RateMapsImport, check=check_import, build_check=True,
           description="import recorded rate maps (an .npz in the Gerlei layout) as a rate-map recording "
                       "(goalstore import rate-maps)"),
]
