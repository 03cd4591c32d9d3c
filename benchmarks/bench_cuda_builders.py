"""CUDA path of the builders: a few epochs of ResNet-18 under IA, observables recorded and written.

Skips cleanly (exit 0) without a GPU.  With one, it trains ResNet-18 (full width,
small-image stem) on scikit-learn's digits under information alignment for a few
epochs with every epoch checkpointed, on CUDA and, as the baseline in the same
run, for one epoch on the CPU; writes the run directory (observables Parquet and
run record) through the builders' atomic writer; validates the observables
against goalstore's ``lr_observables`` schema and writes them as Parquet; and
prints the time per epoch on each device.

Usage: python benchmarks/bench_cuda_builders.py [EPOCHS] [OUT_DIR]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch


def main(epochs: int = 3, out: str | None = None) -> int:
    if not torch.cuda.is_available():
        print("SKIP: no CUDA device (this benchmark needs a GPU)")
        return 0
    import pyarrow.parquet as pq

    from builders.sweep import load_runs, run_and_save
    from builders.training import RunConfig, train_run
    from goalstore.schema import validate_table

    out_dir = Path(out or tempfile.mkdtemp(prefix="goalstore-cuda-"))
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    config = RunConfig("digits", "resnet18", "ia", 256, 0, 0, epochs=epochs, checkpoint_every=1,
                       width=1.0, val_size=256)
    warm = RunConfig("digits", "resnet18", "ia", 256, 0, 0, epochs=1, checkpoint_every=1, width=1.0,
                     val_size=256)
    train_run(warm, "cuda")  # CUDA context, kernels, allocator
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    run_id = run_and_save(config, out_dir / "runs", device="cuda")
    torch.cuda.synchronize()
    cuda_total = time.perf_counter() - t0
    table, records = load_runs(out_dir / "runs", [run_id])
    table = validate_table(table, "lr_observables")
    pq.write_table(table, out_dir / "observables.parquet")
    record = records[0]
    t0 = time.perf_counter()
    train_run(warm, "cpu")
    cpu_total = time.perf_counter() - t0
    layers = len({r for r in table.column("layer").to_pylist()})
    print(f"run {run_id}: status {record['status']}, device {record['device']}, "
          f"{table.num_rows} observable rows ({layers} layers × 45 statistics × {epochs + 1} checkpoints)")
    print(f"validation accuracy per epoch: {[round(a, 3) for a in record['val_accuracy']]}")
    print(f"CUDA: {cuda_total / epochs:.2f} s per epoch (recording every epoch included; "
          f"{cuda_total:.1f} s for {epochs} epochs)")
    print(f"CPU baseline, same machine: {cpu_total:.2f} s for 1 epoch with its 2 checkpoints "
          f"(CUDA {cpu_total / (cuda_total / epochs):.1f}× faster per epoch)")
    print(f"written: {out_dir / 'runs' / run_id}, {out_dir / 'observables.parquet'}")
    ok = record["status"] == "completed" and record["device"].startswith("cuda")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, sys.argv[2] if len(sys.argv) > 2 else None))
