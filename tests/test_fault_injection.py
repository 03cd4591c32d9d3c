"""Fault injection (issue 11): a writer killed with SIGKILL at any point — before the swap, in
the middle of it, after it, before, inside and after the save — leaves a store root that the next
command recovers: `verify` passes, every earlier version opens with its recorded checksum, the
catalog's version equals history's, and retrying the same write commits it.

The named points are hooks in the write path (``GOALSTORE_FAULT``); the randomised trials (slow)
also kill the writer's whole process group at a random moment while ``datalad save`` runs.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import goalstore
from goalstore.store import StoreRoot

POINTS = ("before-swap", "mid-swap", "after-swap", "before-save", "after-save")

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import goalstore
    from goalstore.sources.virtual_animals import virtual_animals

    seed = int(sys.argv[1])
    ds = virtual_animals(n_animals=2, units_per_animal=32, n_stimuli=64, n_time_bins=2, n_trials=4,
                         n_features=4, seed=seed)
    ds["response"] = ds["response"].astype(np.float64)   # large enough to be annexed
    goalstore.write("rec", ds, fmt=sys.argv[2], message=f"write seed {seed}")
""")


def _content(seed: int) -> np.ndarray:
    from goalstore.sources.virtual_animals import virtual_animals

    return virtual_animals(n_animals=2, units_per_animal=32, n_stimuli=64, n_time_bins=2, n_trials=4,
                           n_features=4, seed=seed)["response"].values.astype(np.float64)


def _writer(home: Path, seed: int, fault: str | None = None, fmt: str = "zarr") -> subprocess.Popen:
    env = {**os.environ, "GOALSTORE_HOME": str(home)}
    env.pop("GOALSTORE_FAULT", None)
    if fault:
        env["GOALSTORE_FAULT"] = fault
    return subprocess.Popen([sys.executable, "-c", WRITER, str(seed), fmt], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _saving(home: Path) -> bool:
    for journal in (home / ".goalstore-tmp").glob("txn-*.json"):
        try:
            if json.loads(journal.read_text()).get("stage") == "saving":
                return True
        except (OSError, ValueError):
            pass
    return False


def _kill_inside_save(home: Path, seed: int, rng: random.Random) -> bool:
    """Start a writer, wait until it is inside ``datalad save``, kill its process group after a
    random delay; True if it was killed before it finished."""
    proc = _writer(home, seed)
    while proc.poll() is None and not _saving(home):
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.2))
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed


def _check_consistent(home: Path, seeds_by_version: dict[int, int]) -> int:
    """The next command recovers; then every promise of the store holds.  Returns the version
    count."""
    root = StoreRoot(home)  # the next command: settles the killed writer's journal
    assert not list(root.scratch.glob("txn-*.json")) and not list(root.scratch.glob("swap-*.json"))
    report = goalstore.verify(home=home)
    assert all(r["ok"] for r in report), report
    versions = goalstore.history("rec", home=home)
    meta = root.metadata("rec")
    assert meta["version"] == len(versions)  # the catalog never claims a version history lacks
    status = subprocess.run(["git", "-C", str(home), "status", "--porcelain", "--", "arrays", "catalog.yaml"],
                            capture_output=True, text=True).stdout
    assert status == "", status
    for v in versions:  # every version opens, verified against its recorded checksum
        ds = goalstore.open(f"rec@{v['version']}", home=home, check=True)
        seed = int(v["message"].rsplit(" ", 1)[-1])
        np.testing.assert_array_equal(ds["response"].values, _content(seed))
        seeds_by_version.setdefault(v["version"], seed)
        assert seeds_by_version[v["version"]] == seed  # earlier versions never change
    latest = goalstore.open("rec", home=home, check=True)
    np.testing.assert_array_equal(latest["response"].values, _content(seeds_by_version[len(versions)]))
    return len(versions)


def _trial(home: Path, seed: int, fault: str | None, rng: random.Random, seen: dict[int, int],
           fmt: str = "zarr") -> str:
    before = len(seen)
    if fault is None:
        outcome = "killed" if _kill_inside_save(home, seed, rng) else "completed"
    else:
        proc = _writer(home, seed, fault, fmt)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        outcome = "killed"
    count = _check_consistent(home, seen)
    assert count in (before, before + 1)  # rolled back, or finished: nothing else
    if outcome == "killed":
        outcome = "finished" if count == before + 1 else "rolled back"
    # retrying the same write commits it (not "identical content, nothing to do" over a lost save)
    proc = _writer(home, seed, None, fmt)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    count = _check_consistent(home, seen)
    assert seen[count] == seed
    return outcome


@pytest.fixture
def seeded(tmp_path):
    home = tmp_path / "store"
    seen: dict[int, int] = {}
    proc = _writer(home, 100)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    _check_consistent(home, seen)
    return home, seen


def test_kill_before_and_after_registering_recovers(seeded):
    """The two outcomes: rolled back (killed mid-swap) and finished (killed before the save)."""
    home, seen = seeded
    rng = random.Random(0)
    for i, point in enumerate(("mid-swap", "before-save")):
        outcome = _trial(home, 200 + i, point, rng, seen)
        assert outcome == ("rolled back" if point == "mid-swap" else "finished")


@pytest.mark.slow
def test_kill_at_each_point_of_a_write_recovers(seeded):
    home, seen = seeded
    rng = random.Random(0)
    for i, point in enumerate(POINTS):
        outcome = _trial(home, 200 + i, point, rng, seen)
        # killed before its content was registered: rolled back; registered (saved or not): finished
        assert outcome == ("rolled back" if point in ("before-swap", "mid-swap", "after-swap") else "finished")


@pytest.mark.slow
def test_kill_during_a_format_change_recovers(seeded):
    """zarr → netcdf: the old layout is removed in the same commit, or the change is undone."""
    home, seen = seeded
    rng = random.Random(1)
    for i, point in enumerate(("mid-swap", "before-save")):
        _trial(home, 300 + i, point, rng, seen, fmt="netcdf" if i % 2 == 0 else "zarr")
    assert len(goalstore.history("rec", home=home)) == len(seen)


@pytest.mark.slow
def test_randomised_kills(seeded):
    """≥ 20 kills at random points (named points and random moments inside ``datalad save``)."""
    home, seen = seeded
    rng = random.Random(2026)
    outcomes = []
    for trial in range(26):
        fault = rng.choice([*POINTS, None, None, None])
        fmt = rng.choice(["zarr", "zarr", "netcdf"])
        outcomes.append(_trial(home, 1000 + trial, fault, rng, seen, fmt=fmt))
    killed = len(outcomes) - outcomes.count("completed")
    print(f"\n{len(outcomes)} trials: {killed} killed ({outcomes.count('finished')} finished, "
          f"{outcomes.count('rolled back')} rolled back), {outcomes.count('completed')} completed first")
    assert killed >= 20, outcomes
