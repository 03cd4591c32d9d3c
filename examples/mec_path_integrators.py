"""Thesis ch. 4 at CPU scale: path integrators against medial entorhinal cortex (the README's MEC table).

Steps, all through goalstore's recipes (every store versioned with the command that made it):

1. ``goalstore build path-integrator`` with the ``tiny`` preset (128 hidden units, 300 iterations of 64
   20-step paths) for each recurrent cell — RNN (ReLU), UGRNN, GRU, LSTM — with the place-cell loss;
2. ``goalstore build nmf-grid-cells``: the non-negative "grid cell" control (no dynamics: rate maps only);
3. the real MEC maps, where ``../shared/data/mec/gerlei_open_field/firing_maps.npz`` is present
   (``goalstore import rate-maps``; 7 cells of one mouse; not redistributable, so never vendored);
4. ``goalstore analyze mec`` of all of them (each network with its untrained control): grid/border scores
   with a shuffle test, decoding error, knockouts, generalisation, and the comparison with the cells.

Prints one Markdown table and writes the report as JSON (and the figures) to ``--out``.

Usage: python examples/mec_path_integrators.py [--home DIR] [--out DIR] [--cells rnn,ugrnn,gru,lstm]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from goalstore import api

GERLEI = Path(__file__).resolve().parents[2] / "shared/data/mec/gerlei_open_field/firing_maps.npz"


def _option(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str]) -> int:
    home = Path(_option(argv, "--home", str(Path(tempfile.mkdtemp()) / "store")))
    out = Path(_option(argv, "--out", "goalstore-out/mec"))
    cells = [c for c in _option(argv, "--cells", "rnn,ugrnn,gru,lstm").split(",") if c]
    models = []
    for cell in cells:
        name = f"path-integrator-tiny-{cell}"
        api.ensure("path-integrator", home=home, name=name, preset="tiny", cell=cell)
        models.append(name)
    api.ensure("nmf-grid-cells", home=home)
    models.append("nmf-grid-cells")
    recording = ""
    if GERLEI.is_file():
        api.import_rate_maps(GERLEI, name="gerlei-open-field", home=home)
        recording = "gerlei-open-field"
    report = api.analyze("mec", home=home, out=out, models=",".join(models), recording=recording)
    print("| model | units | grid > 0.3 | grid > shuffle | border > 0.5 | decoding error (m) | "
          "KO grid (m) | KO border (m) | KO random (m) | consistency | KS grid | KS border |")
    print("|" + "---|" * 12)
    for name, e in report["models"].items():
        ko = e.get("knockout_increase_m") or {}
        print(f"| {name} | {e['n_units']} | {_fmt(e['grid_fraction'], 2)} | "
              f"{_fmt(e['grid_fraction_shuffle'], 2)} | {_fmt(e['border_fraction'], 2)} | "
              f"{_fmt(e['decoding_error'])} | "
              + " | ".join(f"{_fmt(ko[k]['mean'])} ± {_fmt(ko[k]['sem'])}" if k in ko else "n/a"
                           for k in ("grid", "border", "random"))
              + f" | {_fmt(e.get('consistency'))} | {_fmt(e.get('ks_grid'))} | {_fmt(e.get('ks_border'))} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "mec.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
