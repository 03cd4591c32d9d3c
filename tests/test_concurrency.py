"""Concurrent writers (issue 11): several processes writing into one store root at once — each its
own store and all the same store, and concurrent builds — all succeed, serialised by the root's
lock; nothing is lost, no store is moved aside, history and catalog agree."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import goalstore
from goalstore.store import StoreRoot

WRITER = textwrap.dedent("""
    import sys
    import goalstore
    from goalstore.sources.virtual_animals import virtual_animals

    i, rounds = int(sys.argv[1]), int(sys.argv[2])
    for r in range(rounds):
        ds = virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=6, n_time_bins=2, n_trials=3,
                             n_features=3, seed=1000 * i + r)
        goalstore.write(f"own-{i}", ds, message=f"own seed {1000 * i + r}")
        goalstore.write("shared", ds, message=f"shared seed {1000 * i + r}")
""")


def _seeded(seed: int) -> np.ndarray:
    from goalstore.sources.virtual_animals import virtual_animals

    return virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=6, n_time_bins=2, n_trials=3,
                           n_features=3, seed=seed)["response"].values


def _run_together(home: Path, commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "GOALSTORE_HOME": str(home)}
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=900), *p.communicate()) for p in procs]


def _check(home: Path, n_procs: int, rounds: int) -> None:
    root = StoreRoot(home)
    assert all(r["ok"] for r in goalstore.verify(home=home))
    assert not list(root.scratch.glob("old-*")) and not list(root.scratch.glob("new-*"))
    for name, expected in [*((f"own-{i}", rounds) for i in range(n_procs)), ("shared", n_procs * rounds)]:
        versions = goalstore.history(name, home=home)
        assert len(versions) == expected == root.metadata(name)["version"], name
        for v in versions:  # every version holds what its writer wrote
            seed = int(v["message"].rsplit(" ", 1)[-1])
            np.testing.assert_array_equal(goalstore.open(f"{name}@{v['version']}", home=home,
                                                         check=True)["response"].values, _seeded(seed))
    seeds = sorted(int(v["message"].rsplit(" ", 1)[-1]) for v in goalstore.history("shared", home=home))
    assert seeds == sorted(1000 * i + r for i in range(n_procs) for r in range(rounds))  # none lost


def _writers(home: Path, n_procs: int, rounds: int) -> None:
    StoreRoot(home)  # the root exists; the writers race for it
    results = _run_together(home, [[sys.executable, "-c", WRITER, str(i), str(rounds)] for i in range(n_procs)])
    for r in results:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    _check(home, n_procs, rounds)


def test_concurrent_writers_are_serialised(tmp_path):
    _writers(tmp_path / "store", n_procs=2, rounds=2)


def test_concurrent_first_use_creates_one_root(tmp_path):
    """Two processes using a new root at once: one creates it, the other waits and uses it."""
    home = tmp_path / "store"
    results = _run_together(home, [[sys.executable, "-c", WRITER, str(i), "1"] for i in range(2)])
    for r in results:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    _check(home, 2, 1)


@pytest.mark.slow
def test_four_writers_five_rounds(tmp_path):
    _writers(tmp_path / "store", n_procs=4, rounds=5)


@pytest.mark.slow
def test_concurrent_builds_commit_their_own_entries(tmp_path):
    home = tmp_path / "store"
    StoreRoot(home)
    script = Path(sys.executable).parent / "goalstore"
    results = _run_together(home, [[str(script), "build", "demo-recording", "--param", "seed=1"],
                                   [str(script), "build", "demo-model", "--param", "seed=2"],
                                   [str(script), "build", "demo-recording", "--param", "seed=3"]])
    for r in results:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert all(r["ok"] for r in goalstore.verify(home=home))
    versions = goalstore.history("demo-recording", home=home)
    assert len(versions) == 2 and all(v["provenance"] for v in versions)
    # each version's commit holds the catalog entry its own build wrote
    from goalstore.sources.virtual_animals import virtual_animals

    for v in versions:  # what each version holds is what the command recorded with it made
        seed = int(v["provenance"]["cmd"].rsplit('"seed": ', 1)[-1].split("}")[0])
        stored = goalstore.open(f"demo-recording@{v['version']}", home=home, check=True)
        np.testing.assert_array_equal(stored["response"].values, virtual_animals(seed=seed)["response"].values)
    assert goalstore.history("demo-model", home=home)[0]["provenance"]
