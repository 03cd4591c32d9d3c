"""Tasks of the learning-rule grid and their data.

* ``cifar10`` — CIFAR-10 python batches (``data_batch_1..5``, ``test_batch``) at
  ``path``; 10-way cross-entropy.
* ``imagenet`` — class-per-folder images ``path/train/<class>/*``, ``path/val/<class>/*``;
  cross-entropy over the classes.
* ``simclr`` — the ImageNet folders, labels unused; NT-Xent on two augmented views.
* ``wsn`` — Word-Speaker-Noise cochleagrams ``path/{train,val}_cochleagrams.npy``
  (n × freq × time) with ``path/{train,val}_labels.npy``; word classification.
* ``digits`` — scikit-learn's bundled 8×8 handwritten digits (offline); 10-way cross-entropy.
* ``digits-contrastive`` — the same digits; NT-Xent on two augmented views.

A task whose data are absent fails with a message naming the files it expects.
Every random choice (split, order, augmentation) takes a ``torch.Generator``.  The contrastive tasks'
views and loss are :func:`builders.augment.random_views` (:data:`builders.augment.CORPUS_VIEWS`) and
:func:`builders.objectives.nt_xent`, shared with the mouse models' objectives (:mod:`builders.training`).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TASKS = ("cifar10", "imagenet", "simclr", "wsn", "digits", "digits-contrastive")


class MissingDataError(FileNotFoundError):
    """A task's data set is not at the given path."""


@dataclass
class TaskData:
    """Training and validation data of a task, loaded lazily for image folders."""

    name: str
    contrastive: bool
    in_channels: int
    input_size: int
    n_classes: int
    train: TensorOrFolder
    val: TensorOrFolder
    schedule: str  #: "constant" or "imagenet" (warm-up and step decays)
    #: ``x = (image/255 − mean)/std`` of image tasks, as (mean, std) per channel (None: not images in [0, 1])
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None = None


class TensorOrFolder:
    """Examples addressable by index: in-memory tensors or image files decoded on demand."""

    def __init__(self, x: torch.Tensor | list[Path], y: torch.Tensor, input_size: int = 0):
        self.x, self.y, self.input_size = x, y, input_size

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.x, torch.Tensor):
            return self.x[index], self.y[index]
        from PIL import Image

        images = []
        for i in index.tolist():
            with Image.open(self.x[i]) as image:
                image = image.convert("RGB").resize((self.input_size, self.input_size))
                images.append(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1))
        return (torch.stack(images) - 0.45) / 0.25, self.y[index]


def _require(path: Path | None, files: list[str], task: str) -> Path:
    if path is None:
        raise MissingDataError(f"task {task!r} needs its data set: pass data_path with {', '.join(files)}")
    path = Path(path)
    missing = [f for f in files if not (path / f).exists()]
    if missing:
        raise MissingDataError(f"task {task!r}: {path} lacks {', '.join(missing)} (expected "
                               f"{', '.join(files)})")
    return path


def _split(n: int, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(12345))
    n_val = round(n * val_fraction)
    return order[n_val:], order[:n_val]


def load_task(name: str, data_path: str | Path | None = None, input_size: int | None = None) -> TaskData:
    """Load task ``name`` (see :data:`TASKS`)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    if name.startswith("digits"):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
        mean, std = float(x.mean()), float(x.std())
        x = (x - mean) / std
        y = torch.tensor(digits.target, dtype=torch.long)
        train, val = _split(len(y), 0.2)
        return TaskData(name, name.endswith("contrastive"), 1, 8, 10, TensorOrFolder(x[train], y[train]),
                        TensorOrFolder(x[val], y[val]), "constant", ((mean,), (std,)))
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        path = _require(data_path, files, name)

        def read(file: str) -> tuple[torch.Tensor, torch.Tensor]:
            with open(path / file, "rb") as handle:  # the standard CIFAR-10 python format is a pickle
                batch = pickle.load(handle, encoding="bytes")
            data = torch.tensor(np.asarray(batch[b"data"]), dtype=torch.float32).reshape(-1, 3, 32, 32) / 255
            return (data - 0.47) / 0.25, torch.tensor(batch[b"labels"], dtype=torch.long)

        parts = [read(f) for f in files[:5]]
        vx, vy = read("test_batch")
        return TaskData(name, False, 3, 32, 10, TensorOrFolder(torch.cat([p[0] for p in parts]),
                        torch.cat([p[1] for p in parts])), TensorOrFolder(vx, vy), "constant",
                        ((0.47,) * 3, (0.25,) * 3))
    if name in ("imagenet", "simclr"):
        path = _require(data_path, ["train", "val"], name)
        size = input_size or 224
        classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir())
        if not classes:
            raise MissingDataError(f"task {name!r}: {path / 'train'} has no class folders")

        def index(split: str) -> TensorOrFolder:
            files, labels = [], []
            for label, cls in enumerate(classes):
                for file in sorted((path / split / cls).glob("*")):
                    files.append(file)
                    labels.append(label)
            return TensorOrFolder(files, torch.tensor(labels, dtype=torch.long), size)

        return TaskData(name, name == "simclr", 3, size, len(classes), index("train"), index("val"),
                        "imagenet", ((0.45,) * 3, (0.25,) * 3))
    files = ["train_cochleagrams.npy", "train_labels.npy", "val_cochleagrams.npy", "val_labels.npy"]
    path = _require(data_path, files, name)
    tx = torch.tensor(np.load(path / files[0]), dtype=torch.float32)[:, None]
    vx = torch.tensor(np.load(path / files[2]), dtype=torch.float32)[:, None]
    ty = torch.tensor(np.load(path / files[1]), dtype=torch.long)
    vy = torch.tensor(np.load(path / files[3]), dtype=torch.long)
    size = int(tx.shape[-1])
    if tx.shape[-2] != size:
        tx = F.interpolate(tx, size=(size, size))
        vx = F.interpolate(vx, size=(size, size))
    return TaskData(name, False, 1, size, max(int(ty.max()), int(vy.max())) + 1, TensorOrFolder(tx, ty),
                    TensorOrFolder(vx, vy), "imagenet")
