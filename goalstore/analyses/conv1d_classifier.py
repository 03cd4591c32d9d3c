"""A 1-D convolutional classifier over the checkpoint axis, as a scikit-learn estimator.

Input rows are flattened ``statistic × checkpoint`` trajectories (the classifier
view's column order); the network treats statistics as channels and convolves
along checkpoints: conv1d → ReLU → conv1d → ReLU → global average → linear.
Features are standardised with the training set's mean and standard deviation.
Parameters live in ``__init__`` (scikit-learn conventions), so it works with
``GridSearchCV`` and ``clone``; training is deterministic given ``random_state``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Conv1DTrajectoryClassifier(ClassifierMixin, BaseEstimator):
    """1-D CNN over checkpoints for ``n_checkpoints``-long trajectories of each statistic."""

    def __init__(self, n_checkpoints: int = 21, channels: int = 32, kernel_size: int = 3,
                 epochs: int = 60, lr: float = 1e-2, weight_decay: float = 1e-4, batch_size: int = 128,
                 random_state: int = 0):
        self.n_checkpoints = n_checkpoints
        self.channels = channels
        self.kernel_size = kernel_size
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.random_state = random_state

    def _shape(self, x: np.ndarray):
        import torch

        x = (np.asarray(x, dtype=np.float32) - self.mean_) / self.scale_
        n_stats = x.shape[1] // self.n_checkpoints
        extra = x.shape[1] - n_stats * self.n_checkpoints  # e.g. layer-position one-hot columns
        series = x[:, : n_stats * self.n_checkpoints].reshape(len(x), n_stats, self.n_checkpoints)
        if extra:  # constant extra features become extra channels
            series = np.concatenate([series, np.repeat(x[:, -extra:, None], self.n_checkpoints, 2)], 1)
        return torch.from_numpy(np.ascontiguousarray(series))

    def fit(self, x: np.ndarray, y: np.ndarray) -> Conv1DTrajectoryClassifier:
        import torch
        from torch import nn

        x = np.asarray(x, dtype=np.float32)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.mean_ = np.nanmean(x, axis=0)
        self.scale_ = np.nanstd(x, axis=0) + 1e-8
        series = torch.nan_to_num(self._shape(x))
        generator = torch.Generator().manual_seed(self.random_state)
        torch.manual_seed(self.random_state)
        pad = self.kernel_size // 2
        self.model_ = nn.Sequential(
            nn.Conv1d(series.shape[1], self.channels, self.kernel_size, padding=pad), nn.ReLU(),
            nn.Conv1d(self.channels, self.channels, self.kernel_size, padding=pad), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(self.channels, len(self.classes_)))
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        targets = torch.from_numpy(codes.astype(np.int64))
        for _ in range(self.epochs):
            order = torch.randperm(len(targets), generator=generator)
            for start in range(0, len(order), self.batch_size):
                index = order[start: start + self.batch_size]
                loss = nn.functional.cross_entropy(self.model_(series[index]), targets[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = self.model_(torch.nan_to_num(self._shape(x)))
        return self.classes_[logits.argmax(1).numpy()]
