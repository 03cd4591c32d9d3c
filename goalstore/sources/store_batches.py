"""A stimuli store's images read minibatch by minibatch for training (a
:class:`builders.stimulus_training.BatchSource`), so a set larger than memory trains without being loaded.

:class:`StoreBatches` holds the positions (store indices) of one split.  ``source[index]`` reads the stored
chunks holding those images (decompressed once each, kept in a small cache of :data:`CACHE_CHUNKS`
chunks), and preprocesses the batch exactly as the in-memory path does
(:func:`goalstore.activations.preprocess.preprocess`: per image, so a batch's floats equal the rows of the
whole set's).  Its epoch order is chunk-local: with at most :data:`CACHE_CHUNKS` chunks, a plain
``torch.randperm`` (the in-memory order); with more, the chunks are permuted, taken in windows of
:data:`CACHE_CHUNKS`, and the images of each window permuted, so every chunk is read about once an epoch.
(A class-folder import stores its images in a random order, so each chunk already mixes the classes.)

:func:`normalisation_stats` is the per-channel mean and std of the training images in [0, 1].
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

#: stored chunks a :class:`StoreBatches` keeps decompressed (and so the window of its epoch order)
CACHE_CHUNKS = 16

#: training images the normalisation statistics are computed on at most (a seeded sample beyond)
NORM_SAMPLE = 2048


class StoreBatches:
    """The images at ``positions`` of ``images`` (a lazy stimulus × channel × height × width uint8 array,
    chunked along ``stimulus``), preprocessed to ``input_shape`` with ``mean`` / ``std``."""

    def __init__(self, images: Any, positions: np.ndarray, input_shape: Sequence[int],
                 mean: Sequence[float], std: Sequence[float], cache_chunks: int = CACHE_CHUNKS):
        self.images, self.positions = images, np.asarray(positions, dtype=np.int64)
        self.input_shape, self.mean, self.std = [int(v) for v in input_shape], list(mean), list(std)
        sizes = images.chunks[0] if getattr(images, "chunks", None) else (int(images.shape[0]),)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.chunk_of = np.searchsorted(self.bounds, self.positions, side="right") - 1
        self.cache_chunks = max(1, int(cache_chunks))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.shape = (len(self.positions), *self.input_shape)

    def __len__(self) -> int:
        return len(self.positions)

    def _chunk(self, k: int) -> np.ndarray:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        data = self.images[int(self.bounds[k]): int(self.bounds[k + 1])]
        data = data.data if hasattr(data, "dims") else data  # an xarray DataArray's (dask) array
        block = np.asarray(data.compute(scheduler="synchronous") if hasattr(data, "compute") else data)
        self._cache[k] = block
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return block

    def uint8(self, index: Any) -> np.ndarray:
        """The stored images of training positions ``index`` (uint8), in that order."""
        where = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index, dtype=np.int64)
        positions, chunks = self.positions[where], self.chunk_of[where]
        out = np.empty((len(where), *self.images.shape[1:]), dtype=np.uint8)
        for k in np.unique(chunks):
            rows = np.flatnonzero(chunks == k)
            out[rows] = self._chunk(int(k))[positions[rows] - self.bounds[k]]
        return out

    def __getitem__(self, index: Any) -> Any:
        from goalstore.activations.preprocess import preprocess

        if not isinstance(index, slice):
            index = np.asarray(index.numpy() if hasattr(index, "numpy") else index, dtype=np.int64)
        return preprocess(self.uint8(index), self.input_shape, self.mean, self.std)

    def epoch_order(self, generator: Any) -> Any:
        """One epoch's permutation (see the module docstring): chunk-local beyond :data:`CACHE_CHUNKS`."""
        import torch

        by_chunk = np.argsort(self.chunk_of, kind="stable")  # positions grouped by chunk, each group sorted
        groups = np.split(by_chunk, np.flatnonzero(np.diff(self.chunk_of[by_chunk])) + 1)
        if len(groups) <= self.cache_chunks:
            return torch.randperm(len(self), generator=generator)
        chunk_order = torch.randperm(len(groups), generator=generator).numpy()
        parts = []
        for a in range(0, len(groups), self.cache_chunks):
            window = np.concatenate([groups[k] for k in chunk_order[a: a + self.cache_chunks]])
            parts.append(torch.from_numpy(window)[torch.randperm(len(window), generator=generator)])
        return torch.cat(parts)


def normalisation_stats(source: StoreBatches, seed: int, limit: int = NORM_SAMPLE
                        ) -> tuple[list[float], list[float], int]:
    """``(mean, std, n)``: per-channel mean and (unbiased) standard deviation of the training images in
    [0, 1] after resizing, over all ``n`` of them when at most ``limit``, else over a seeded sample of
    ``limit`` (sorted positions; the estimate of a pixel mean from thousands of images is far finer than
    the network can tell).  With all images it is exactly the in-memory computation."""
    from goalstore.activations.preprocess import preprocess

    n = len(source)
    index = np.arange(n) if n <= limit else np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
    unit = preprocess(source.uint8(index), source.input_shape, 0.0, 1.0).double()
    mean = [float(v) for v in unit.mean((0, 2, 3))]
    std = [max(float(v), 1e-6) for v in unit.std((0, 2, 3))]
    return mean, std, len(index)
