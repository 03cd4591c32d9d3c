"""Benchmark: memory of importing a published-size lr-identify pickle.

A synthetic pickle in the published layout (1,000 examples × 21 checkpoints × the 45
published observables, float64: a 7.6 MB ``X``, 945,000 long-table rows) is imported
into a scratch store root twice, each in its own process:

* **streamed** (what ``goalstore import lr-identify`` runs): the long table goes to the
  table store in bounded record batches, the classifier view straight from the array;
* **baseline, in memory** (the importer before): the whole long table built as one
  pandas DataFrame, then written.

Printed: each process' peak resident memory (``wait4`` rusage) and wall time, the same for
a process that only imports goalstore (``startup``), and the ratio of the memory above
that.  Both stores must hold the same rows (checked).

Usage: python benchmarks/bench_lr_import.py [N_EXAMPLES]   (default 1000; 4000 shows the
streamed import's memory does not grow with the corpus)
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r'''
import sys
from pathlib import Path
from goalstore.store import StoreRoot
mode, pickle_path, home = sys.argv[1:4]
root = StoreRoot(home)
if mode == "startup":
    from goalstore.api import produce
    from goalstore.sources.lr_identify import load_lr_identify
    print(0)
    raise SystemExit(0)
if mode == "streamed":
    from goalstore.api import produce
    produce("lr-identify", home, path=pickle_path, trust_pickle=True, name="lr-corpus-bench")
else:
    from goalstore.sources.lr_identify import load_lr_identify
    frame = load_lr_identify(pickle_path, trust_pickle=True)
    root.write("lr-corpus-bench", frame, kind="lr_observables", save=False)
print(root.metadata("lr-corpus-bench")["sizes"]["row"])
'''


def _published_pickle(path: Path, n: int = 1000, seed: int = 0) -> int:
    names = ([f"{m}{f}_{s}" for m in ("weight", "act") for f in ("abs", "raw", "sq")
              for s in ("kurtosis", "mean", "median", "norm", "skew", "thirdquartile", "var")]
             + [f"gradavg{f}_id" for f in ("abs", "raw", "sq")])
    rng = np.random.default_rng(seed)
    rules = np.array(["sgdm", "adam", "fa", "ia"])[np.arange(n) % 4]
    meta = np.array(list(zip(rules, ["resnet18"] * n, ["imagenet"] * n, strict=True)),
                    dtype=[("learning_rule", "U8"), ("model", "U16"), ("dataset", "U16")])
    data = {"X": rng.standard_normal((n, 21, len(names))), "Y": np.arange(n) % 4, "meta": meta,
            "obs_keys": np.array(names), "X_cat": np.eye(3)[np.arange(n) % 3][:, None].repeat(21, 1)}
    path.write_bytes(pickle.dumps(data))
    return n * 21 * len(names)


def _measure(mode: str, pickle_path: Path, home: Path) -> tuple[float, float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(pickle_path), str(home)],
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{mode} import failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - started, int(out.strip().splitlines()[-1])


def main(n: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = _published_pickle(tmp / "dataset.pkl", n)
        size = (tmp / "dataset.pkl").stat().st_size / 1e6
        print(f"pickle: {size:.1f} MB, {rows:,} long-table rows")
        results = {}
        for mode in ("startup", "streamed", "in-memory"):
            results[mode] = _measure(mode, tmp / "dataset.pkl", tmp / f"store-{mode}")
            rss, wall, stored = results[mode]
            assert stored == (0 if mode == "startup" else rows), (mode, stored, rows)
            print(f"{mode:>10}: peak RSS {rss:7.0f} MiB, {wall:6.1f} s, {stored:,} rows stored")
        base = results["startup"][0]
        net = {m: results[m][0] - base for m in ("streamed", "in-memory")}
        print(f"above the {base:.0f} MiB of imports alone: streamed {net['streamed']:.0f} MiB, "
              f"in-memory {net['in-memory']:.0f} MiB ({net['in-memory'] / net['streamed']:.1f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
