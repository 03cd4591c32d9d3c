"""Grid and border scores of real MEC cells (the Gerlei open-field example maps).

The maps are not redistributable, so goalstore does not ship them: pass the path of
``firing_maps.npz`` (in this project's reference data: ../shared/data/mec/gerlei_open_field/).
The maps are written as a canonical rate-map store into a store root (a temporary one
unless --home is given) and scored with ``goalstore.analyze_spatial`` (a versioned result
store, a table, a PNG of the score distributions).  Each cell is classified twice: by the
fixed thresholds (grid score > 0.3, border score > 0.5) and by the shuffle test (score above
the 95th percentile of its own shuffled maps, default 100; p-values printed).

Usage: python examples/gerlei_grid_scores.py PATH/firing_maps.npz [--home DIR] [--out DIR] [--shuffles N]
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
    n_shuffles = int(argv[argv.index("--shuffles") + 1]) if "--shuffles" in argv else 100
    report = analyze_spatial("gerlei-open-field", out=out, home=home, n_shuffles=n_shuffles)
    print(f"{report['n_cells']} MEC cells: {report['n_grid_cells']} with grid score > 0.3, "
          f"{report['n_border_cells']} with border score > 0.5")
    if n_shuffles:
        print(f"shuffle test ({n_shuffles} shuffled maps per cell): {report['n_grid_cells_shuffle']} grid "
              f"cells, {report['n_border_cells_shuffle']} border cells (score > 95th percentile of shuffles)")

    def rule(score: float, threshold: float) -> str:
        return "yes" if score > threshold else "no "

    for cell, s in report["cells"].items():
        line = f"  {cell:40s} grid {s['grid_score']:+.2f} (> 0.3: {rule(s['grid_score'], 0.3)}"
        if n_shuffles:
            line += (f", > shuffle {s['grid_threshold']:+.2f}: {rule(s['grid_score'], s['grid_threshold'])}, "
                     f"p {s['grid_p']:.3f}")
        line += f")  border {s['border_score']:+.2f} (> 0.5: {rule(s['border_score'], 0.5)}"
        if n_shuffles:
            line += (f", > shuffle {s['border_threshold']:+.2f}: "
                     f"{rule(s['border_score'], s['border_threshold'])}, p {s['border_p']:.3f}")
        print(line + ")")
    print(f"figure: {report['figures'][0]}; result store {report['store']} in {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
