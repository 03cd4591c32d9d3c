"""Benchmarks of the learning-rule corpus.

1. Observable-recording overhead: train digits/KNet4 (tiny-preset scale) for 20
   epochs recording at the paper's cadence (every 5 epochs → 5 checkpoints) and,
   as the baseline in the same run, with recording only at epoch 0; the overhead
   is the extra time relative to the training epochs (target ≤ 10%).
2. Classifier view of a full-size corpus: a synthetic long table of 20,736
   examples (run × layer) × 24 statistics × 21 checkpoints (10.45 M rows, 504
   features per example) is pivoted once, and its classifier view is written
   through goalstore as the corpus' ``lr_view`` table store (Parquet, as a corpus
   build does).  Loading that view (``goalstore.lr_corpus.load_view``) is timed
   (target < 1 s); the baseline in the same run is pivoting the long table again
   (``classifier_view``), which is what a corpus without its stored view costs.

Usage: python benchmarks/bench_lr_corpus.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import torch


def _epoch_and_recording(task, arch: str, width: float, batch: int, val_size: int,
                         rule: str = "sgdm") -> tuple[float, float]:
    """Seconds for one training epoch (the loop of builders.training) and for one recording."""
    from builders.architectures import build_architecture
    from builders.observables import record_layers
    from builders.rules import RuleTrainer, get_rule
    from builders.training import _batches, _loss

    torch.manual_seed(0)
    model = build_architecture(arch, task.in_channels, task.input_size, task.n_classes, width)
    trainer = RuleTrainer(model, get_rule(rule), 0.01)
    generator = torch.Generator().manual_seed(0)
    stimuli = task.val.batch(torch.arange(val_size))[0]
    record_layers(model, model.observed, stimuli)  # warm-up
    t0 = time.perf_counter()
    for index in _batches(len(task.train), batch, generator):
        x, y = task.train.batch(index)
        trainer.step(_loss(model, task, x, y, generator)[0])
    t_epoch = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):
        record_layers(model, model.observed, stimuli)
    return t_epoch, (time.perf_counter() - t0) / 3


def recording_overhead() -> float:
    from builders.training_tasks import TaskData, TensorOrFolder, load_task

    # CIFAR-10 proportions (50,000 training images, 512 validation stimuli, a checkpoint every
    # 5 epochs as in the paper grid); the pixel values are random: only the timing matters here
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50000, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (50000,), generator=g)
    cifar_shaped = TaskData("cifar10-shaped", False, 3, 32, 10, TensorOrFolder(x, y),
                            TensorOrFolder(x[:512], y[:512]), "constant")
    t_epoch, t_record = _epoch_and_recording(cifar_shaped, "knet4", 0.25, 256, 512)
    overhead = t_record / (5 * t_epoch)
    print(f"  CIFAR-10-sized epoch (KNet4 ×0.25, batch 256): {t_epoch:.2f} s; one recording of 4 layers "
          f"on 512 stimuli: {t_record * 1000:.0f} ms → overhead at the paper cadence (every 5 epochs): "
          f"{100 * overhead:.2f}% (target ≤ 10%)")
    digits = load_task("digits")
    t_epoch, t_record = _epoch_and_recording(digits, "knet4", 0.25, 128, 128)
    print(f"  for reference, the tiny preset (digits: 1,437 training images, a recording every epoch): "
          f"epoch {t_epoch * 1000:.0f} ms, recording {t_record * 1000:.0f} ms "
          f"({100 * t_record / t_epoch:.0f}%: its epochs are tiny)")
    return overhead


def classifier_view_time() -> float:
    from goalstore.lr_corpus import FINITE_24, classifier_view

    rng = np.random.default_rng(0)
    n_runs, n_layers, n_epochs = 1056, 19, 21  # 1,056 runs × 19.6 layers ≈ 20,736 examples
    n_examples = 20736
    runs = np.repeat(np.arange(n_runs), n_layers + 1)[:n_examples]
    layers = np.concatenate([np.arange(n_layers + 1)] * n_runs)[:n_examples]
    rules = np.array(["sgdm", "adam", "fa", "ia"])[runs % 4]
    n_stats = len(FINITE_24)
    rows = n_examples * n_stats * n_epochs
    ex = np.repeat(np.arange(n_examples), n_stats * n_epochs)
    st = np.tile(np.repeat(np.arange(n_stats), n_epochs), n_examples)
    table = pa.table({
        "run_id": pa.array(np.char.add("run", runs[ex].astype(str))).dictionary_encode(),
        "task": pa.array(np.full(rows, "imagenet")).dictionary_encode(),
        "architecture": pa.array(np.full(rows, "resnet18")).dictionary_encode(),
        "learning_rule": pa.array(rules[ex]),
        "batch_size": pa.array(np.full(rows, 256, dtype=np.int32)),
        "model_seed": pa.array(np.zeros(rows, dtype=np.int32)),
        "data_seed": pa.array(np.zeros(rows, dtype=np.int32)),
        "layer": pa.array(np.char.add("layer", layers[ex].astype(str))).dictionary_encode(),
        "layer_index": pa.array(layers[ex].astype(np.int32)),
        "layer_position": pa.array(np.full(rows, "early")).dictionary_encode(),
        "epoch": pa.array((np.tile(np.arange(n_epochs), n_examples * n_stats) * 5).astype(np.int32)),
        "observable": pa.array(np.array([s[0] for s in FINITE_24])[st]).dictionary_encode(),
        "function": pa.array(np.array([s[1] for s in FINITE_24])[st]).dictionary_encode(),
        "statistic": pa.array(np.array([s[2] for s in FINITE_24])[st]).dictionary_encode(),
        "value": pa.array(rng.standard_normal(rows)),
    })
    import goalstore
    from goalstore.lr_corpus import load_view, view_frame

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.parquet"
        pads.write_dataset(table, path, format="parquet", partitioning=["learning_rule"],
                           partitioning_flavor="hive")
        del table
        t0 = time.perf_counter()
        pivoted = classifier_view(path)
        t_pivot = time.perf_counter() - t0
        home = Path(tmp) / "store"
        meta = goalstore.write("lr-corpus-synthetic-view", view_frame(pivoted), kind="lr_view", home=home)
        stored = home / meta["path"]
        t0 = time.perf_counter()
        view = load_view(stored)
        t_view = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in stored.rglob("*.parquet")) / 1e6
    assert view.features.shape == (n_examples, 504), view.features.shape
    np.testing.assert_array_equal(view.cube, pivoted.cube)
    print(f"  stored view ({size:.0f} MB Parquet) → {view.features.shape[0]} × {view.features.shape[1]} "
          f"features in {t_view:.2f} s (target < 1 s); baseline, pivoting the {rows / 1e6:.2f} M-row "
          f"long table: {t_pivot:.2f} s ({t_pivot / t_view:.0f}× slower)")
    return t_view


def main() -> int:
    print("observable-recording overhead:")
    overhead = recording_overhead()
    print("classifier view of a full-size synthetic corpus:")
    t_view = classifier_view_time()
    ok = overhead <= 0.10 and t_view < 1.0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
