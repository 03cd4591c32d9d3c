"""Where goalstore finds the files it ships: the catalogs and ``datalad.cfg``.

In a source checkout (including an editable install) they are read from the top of
the repository; a built wheel carries copies under ``goalstore/_bundled``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent
_BUNDLED = _PACKAGE / "_bundled"


def _find(relative: str) -> Path:
    for base in (_CHECKOUT, _BUNDLED):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"goalstore installation is missing {relative!r}; reinstall goalstore")


def catalogs_dir() -> Path:
    """Directory holding the shipped Intake catalogs (``index.yaml`` and one per family)."""
    return _find("catalogs")


def data_dir() -> Path:
    """Directory of the real data vendored with goalstore (each folder with its licence)."""
    return _PACKAGE / "data"


def datalad_cfg() -> Path:
    """goalstore's DataLad settings, applied to every store dataset it creates."""
    return _find("datalad.cfg")
