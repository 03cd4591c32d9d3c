#!/usr/bin/env python3
"""Set up goalstore's virtual environment and run its jobs.

Usage (from a fresh clone, with only Python >= 3.11 and git):

    python3 tasks.py main     # create .venv, install, run the main job on the embedded data
    python3 tasks.py test     # create .venv, install, run ruff and the test suite
    python3 tasks.py test --slow   # also run the tests marked slow
    python3 tasks.py bench    # run the benchmarks in benchmarks/

Both are idempotent: a second run reuses ``.venv`` and only reinstalls when
``pyproject.toml`` or this file changed.  Torch is installed first as the CPU
build (``torch==2.13.0+cpu``); set ``GOALSTORE_TORCH=keep`` to keep a torch you
installed yourself (e.g. a CUDA build, see README).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH_VERSION = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
STAMP = VENV / ".goalstore-install-stamp"


def _python() -> Path:
    return VENV / "bin" / "python"


def _run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def _installed_torch() -> str | None:
    probe = subprocess.run(
        [str(_python()), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def _install_torch(pip: list[str]) -> None:
    """Install the CPU build of torch unless a matching torch is already there."""
    have = _installed_torch()
    if have and (have.split("+")[0] == TORCH_VERSION or os.environ.get("GOALSTORE_TORCH") == "keep"):
        return
    try:  # a local wheel or a configured index that carries the +cpu build
        _run([*pip, f"torch=={TORCH_VERSION}+cpu"])
    except subprocess.CalledProcessError:
        _run([*pip, f"torch=={TORCH_VERSION}", "--index-url", TORCH_CPU_INDEX])


def setup() -> None:
    """Create ``.venv`` (once) and install goalstore with its test extras."""
    if not _python().exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + Path(__file__).read_bytes()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    pip = [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _install_torch(pip)
    _run([*pip, "-e", ".[test]"])
    STAMP.write_text(digest)


def _goalstore(*args: str) -> None:
    _run([str(VENV / "bin" / "goalstore"), *args])


def main_job() -> None:
    """Regenerate every embedded store and print the catalog and every analysis."""
    _goalstore("build", "demo-recording")
    _goalstore("build", "demo-model")
    _goalstore("analyze", "consistency", "demo-recording", "--model", "demo-model", "--pooled",
               "--mapping", "ridge,pls,rsa", "--temporal", "both", "--bootstrap", "20",
               "--out", "goalstore-out/consistency")
    # model-vs-brain leaderboard (issue 13): virtual animals viewing the embedded object images,
    # ranked against two trained networks and an untrained control of the same architecture
    _goalstore("build", "embedded-objects")
    _goalstore("build", "embedded-objects", "--param", "seed=1", "--param", "name=embedded-objects-fit")
    _goalstore("build", "demo-objects-recording")
    _goalstore("build", "model", "--param", "name=knet4-objects", "--param", "epochs=20")
    _goalstore("build", "model", "--param", "name=knet4-objects-brief", "--param", "epochs=2")
    _goalstore("build", "model", "--param", "name=knet4-untrained", "--param", "epochs=0")
    _goalstore("analyze", "predictivity", "demo-objects-recording",
               "--models", "knet4-objects,knet4-objects-brief,knet4-untrained", "--reduce", "pca:100",
               "--pca-fit", "embedded-objects-fit",
               "--bootstrap", "20", "--splits", "5", "--out", "goalstore-out/predictivity")
    _goalstore("build", "demo-rate-maps")
    _goalstore("analyze", "spatial-scores", "demo-rate-maps", "--out", "goalstore-out/spatial")
    _goalstore("build", "melander2021-pyr")
    _goalstore("build", "melander2021-pv")
    _goalstore("analyze", "synapse-dynamics", "--out", "goalstore-out/synapses")
    _goalstore("build", "lr-corpus", "--preset", "tiny", "--workers", "2")
    _goalstore("analyze", "lr-identification", "lr-corpus-tiny", "--fast", "--workers", "2",
               "--noise", "0,1", "--unit-fractions", "0.1,1", "--relative-noise",
               "--out", "goalstore-out/lr-identify")
    _goalstore("catalog", "list")


def test(extra: list[str]) -> None:
    _run([str(VENV / "bin" / "ruff"), "check", "goalstore", "builders", "tests", "benchmarks", "examples",
          "tasks.py"])
    marker = [] if "--slow" in extra else ["-m", "not slow"]
    rest = [a for a in extra if a != "--slow"]
    _run([str(_python()), "-m", "pytest", *marker, *rest])


#: Extra quick configurations run after a benchmark's default (issue 16: the consistency scale
#: section, lazily from zarr, at the sizes that take about two minutes; ``--large --40k`` by hand).
BENCH_EXTRA = {"bench_consistency.py": [["--scale", "--mouse"]]}


def bench() -> None:
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        _run([str(_python()), str(script)])
        for extra in BENCH_EXTRA.get(script.name, []):
            _run([str(_python()), str(script), *extra])


def cli(argv: list[str]) -> int:
    if not argv or argv[0] not in {"setup", "main", "test", "bench"}:
        print(__doc__)
        return 2
    setup()
    if argv[0] == "main":
        main_job()
    elif argv[0] == "test":
        test(argv[1:])
    elif argv[0] == "bench":
        bench()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(cli(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode or 1)
