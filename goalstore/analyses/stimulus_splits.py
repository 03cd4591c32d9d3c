"""Train/test splits of stimuli for fitting and evaluating mappings (notes §1 dataset defaults:
primate 75/25 within object category; mouse 50/50, 10 splits; MEC 20/80 of position bins)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalstore.errors import AnalysisInputError


@dataclass(frozen=True)
class SplitScheme:
    """How stimuli are split: ``n_splits`` random splits with ``train_fraction`` of the stimuli
    in training, stratified by the stimulus coordinate ``stratify`` when given; seeded."""

    n_splits: int = 10
    train_fraction: float = 0.5
    stratify: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_splits < 1:
            raise AnalysisInputError(f"n_splits must be at least 1; got {self.n_splits}")
        if not 0.0 < self.train_fraction < 1.0:
            raise AnalysisInputError(f"train_fraction must lie in (0, 1); got {self.train_fraction}")


def stimulus_splits(
    n_stimuli: int, scheme: SplitScheme, categories: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test stimulus indices, each (split × stimuli in that part), sorted per split.

    With ``categories`` (one label per stimulus), each category contributes
    ``round(train_fraction · n_c)`` stimuli to training (at least one, and at least one
    left for testing when it has two or more), so every split has the same sizes.
    """
    labels = (
        np.zeros(n_stimuli, dtype=int) if categories is None else np.unique(categories, return_inverse=True)[1]
    )
    if len(labels) != n_stimuli:
        raise AnalysisInputError(f"stratification coordinate has {len(labels)} values for {n_stimuli} stimuli")
    rng = np.random.default_rng(scheme.seed)
    trains, tests = [], []
    for _ in range(scheme.n_splits):
        train = []
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            k = round(scheme.train_fraction * len(members))
            k = min(max(k, 1), len(members) - 1) if len(members) > 1 else k
            train.append(rng.permutation(members)[:k])
        train_idx = np.sort(np.concatenate(train))
        trains.append(train_idx)
        tests.append(np.setdiff1d(np.arange(n_stimuli), train_idx))
    train_arr, test_arr = np.stack(trains), np.stack(tests)
    if train_arr.shape[1] < 2 or test_arr.shape[1] < 3:
        raise AnalysisInputError(
            f"dim 'stimulus': a split of {n_stimuli} stimuli gives {train_arr.shape[1]} "
            f"training and {test_arr.shape[1]} test stimuli; need at least 2 and 3"
        )
    return train_arr, test_arr
