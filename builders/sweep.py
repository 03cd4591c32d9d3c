"""Running a grid: resumable, atomic per run, optionally on dask.distributed.

Each finished run is written into ``work_dir/<run_id>/`` (``observables.parquet``,
``run.json``, when raw matrices are kept, ``raw.npz``, and when the final weights are kept
(``RunConfig.keep_final_weights``) ``weights.safetensors`` (safetensors, never a pickle) with
``network.json`` (architecture, its arguments and input shape)) by writing to a hidden
temporary directory and renaming it, so a half-written run never appears.
Runs whose directory exists are skipped, so a killed sweep resumes where it
stopped; leftovers of a killed run are removed and the run restarts cleanly.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from builders.corpus_format import RAW_FILE, raw_key
from builders.dask_client import run_tasks
from builders.training import RunConfig, train_run

WEIGHTS_FILE = "weights.safetensors"  #: a run's final weights (kept when the grid asks for them)
NETWORK_FILE = "network.json"  #: what rebuilds the network of those weights


def completed(work_dir: Path) -> set[str]:
    return {p.name for p in Path(work_dir).iterdir() if p.is_dir() and not p.name.startswith(".")} \
        if Path(work_dir).exists() else set()


def run_and_save(config: RunConfig, work_dir: str | Path, device: str = "cpu",
                 threads: int | None = None, progress: bool = False) -> str:
    """Train ``config`` and write its results atomically into ``work_dir/<run_id>``."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    work_dir = Path(work_dir)
    final = work_dir / config.run_id
    if final.exists():
        return config.run_id
    result = train_run(config, device, progress=progress) if progress else train_run(config, device)
    tmp = work_dir / f".{config.run_id}.{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    try:
        pq.write_table(pa.Table.from_pylist(result.rows), tmp / "observables.parquet")
        (tmp / "run.json").write_text(json.dumps(result.record, default=str))
        if result.raw:
            arrays = {raw_key(epoch, layer, kind): tensor.numpy()
                      for epoch, layers in result.raw.items()
                      for layer, kinds in layers.items() for kind, tensor in kinds.items()}
            np.savez(tmp / RAW_FILE, **arrays)
        if result.state is not None:
            from safetensors.torch import save_file

            save_file(result.state, str(tmp / WEIGHTS_FILE))
            (tmp / NETWORK_FILE).write_text(json.dumps(result.network, sort_keys=True))
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return config.run_id


def run_sweep(configs: list[RunConfig], work_dir: str | Path, device: str = "cpu",
              workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> list[str]:
    """Run every config not yet completed in ``work_dir``; return all run ids in order.

    ``workers`` > 1 starts a local dask.distributed cluster with that many
    single-threaded workers; ``scheduler`` connects to an existing cluster
    (whose workers must see ``work_dir``).  Otherwise runs go one after another.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    for leftover in work_dir.glob(".*"):
        shutil.rmtree(leftover, ignore_errors=True)
    done = completed(work_dir)
    pending = [c for c in configs if c.run_id not in done]
    run_tasks(run_and_save, pending, len(configs), workers, scheduler, progress, "runs",
              work_dir=str(work_dir), device=device)
    return [c.run_id for c in configs]


def load_runs(work_dir: str | Path, run_ids: list[str]) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The observables of the given runs (one table) and their run records."""
    work_dir = Path(work_dir)
    tables = [pq.read_table(work_dir / r / "observables.parquet") for r in run_ids]
    records = [json.loads((work_dir / r / "run.json").read_text()) for r in run_ids]
    return pa.concat_tables(tables), records
