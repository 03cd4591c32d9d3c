"""Shared fixtures: temporary store roots and small canonical datasets."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from goalstore.sources.virtual_animals import virtual_animals


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty store root location (created on first use), set as $GOALSTORE_HOME."""
    path = tmp_path / "store"
    monkeypatch.setenv("GOALSTORE_HOME", str(path))
    return path


@pytest.fixture
def recording() -> xr.Dataset:
    """A small valid canonical recording."""
    return virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=6, n_time_bins=2, n_trials=3,
                           n_features=3, seed=1)


def big_recording(seed: int = 0, n_stimuli: int = 64) -> xr.Dataset:
    """A recording whose data chunk exceeds the annex threshold (so it is annexed)."""
    ds = virtual_animals(n_animals=2, units_per_animal=32, n_stimuli=n_stimuli, n_time_bins=2,
                         n_trials=4, n_features=4, seed=seed)
    ds["response"] = ds["response"].astype(np.float64)
    return ds


@pytest.fixture
def write_demo():
    """Write embedded demo stores (e.g. ``demo-recording``) directly, with exactly their recipe's content:
    no ``datalad run`` round trip (building them through the CLI is covered by
    tests/test_cli.py::test_build_and_rebuild_json and tests/test_cli_errors.py)."""
    import goalstore
    from goalstore.recipes import get_recipe

    def write(*recipes: str) -> None:
        for recipe in recipes:
            spec = get_recipe(recipe)
            for name, product in spec.produce(None, spec.resolve({})).items():
                goalstore.write(name, product.obj, kind=product.kind, fmt=product.fmt)

    return write


@pytest.fixture(autouse=True)
def _never_touch_the_users_store(tmp_path_factory, monkeypatch):
    """Point $GOALSTORE_HOME at a throw-away path unless a test sets its own."""
    monkeypatch.setenv("GOALSTORE_HOME", str(tmp_path_factory.mktemp("default-home") / "store"))


@pytest.fixture(scope="session", autouse=True)
def _store_roots_from_a_template(tmp_path_factory):
    """Create each new store root by copying one made once per session (and per ``datalad.cfg``).

    ``datalad create`` plus the configuring commit costs 1.5-2.5 s; hundreds of tests each start from
    a new, empty root, which differ only in where they are.  The first root of a session is made by
    :func:`goalstore.versioning.create_dataset` itself (so every run still exercises it, as do the
    CLI subprocesses, which are not patched), later ones are copies of it (0.02 s).  A target that
    already has content or is not writable goes through the real function (its checks and errors).
    Set ``GOALSTORE_TEST_REAL_CREATE=1`` to create every root for real.
    """
    if os.environ.get("GOALSTORE_TEST_REAL_CREATE"):
        yield
        return
    from goalstore import versioning

    real = versioning.create_dataset
    templates: dict[str, Path] = {}
    lock = threading.Lock()  # roots created from threads: one template each

    def create_dataset(root: Path, cfg: Path) -> None:
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            return real(root, cfg)
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / ".goalstore-write-probe"
            probe.write_text("")
            probe.unlink()
        except OSError:
            return real(root, cfg)  # raises its own "not writable" error
        key = str(Path(cfg).resolve())
        with lock:
            if key not in templates:
                template = tmp_path_factory.mktemp("store-root-template") / "root"
                real(template, cfg)
                templates[key] = template
        shutil.copytree(templates[key], root, symlinks=True, dirs_exist_ok=True)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(versioning, "create_dataset", create_dataset)
        yield
