"""Grid and border scores of real MEC cells (the Gerlei open-field example maps).

The maps are not redistributable, so goalstore does not ship them: pass the path of
``firing_maps.npz`` (in this project's reference data: ../shared/data/mec/gerlei_open_field/).
The maps are written as a canonical rate-map store into a store root (a temporary one
unless --home is given) and scored with ``goalstore.analyze_spatial`` (a versioned result
store, a table, a PNG of the score distributions).

Usage: python examples/gerlei_grid_scores.py PATH/firing_maps.npz [--home DIR] [--out DIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import goalstore
from goalstore.api import analyze_spatial
from goalstore.sources.rate_maps import load_gerlei_firing_maps


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    home = Path(argv[argv.index("--home") + 1]) if "--home" in argv else Path(tempfile.mkdtemp()) / "store"
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("goalstore-out/gerlei")
    maps = load_gerlei_firing_maps(argv[0])
    goalstore.write("gerlei-open-field", maps, kind="recording", home=home,
                    message="Gerlei open-field firing maps (example; not redistributable)")
    report = analyze_spatial("gerlei-open-field", out=out, home=home)
    print(f"{report['n_cells']} MEC cells: {report['n_grid_cells']} with grid score > 0.3, "
          f"{report['n_border_cells']} with border score > 0.5")
    for cell, scores in report["cells"].items():
        print(f"  {cell:40s} grid {scores['grid_score']:+.2f}  border {scores['border_score']:+.2f}")
    print(f"figure: {report['figures'][0]}; result store {report['store']} in {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
