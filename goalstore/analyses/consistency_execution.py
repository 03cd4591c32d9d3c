"""Inter-animal consistency and model predictivity on dask.distributed workers (issue 16).

A unit's score is a mean over split-half draws × stimulus splits × sources of independent terms;
the in-process functions of :mod:`~goalstore.analyses.consistency` add them into running
``(sum, count)`` arrays.  Here that work is cut into independent *work items* — a chunk of draws
(rows of the split-half weights ``w1, w2``) × a group of mapping problems (consistency) or of model
layers (predictivity) — and each item runs the very same in-process function on its slice of the
weights and its group, with fresh zero sums.  The caller adds the partial sums in item order::

    sum(u) = Σ_items sum_item(u),   count(u) = Σ_items count_item(u),   score(u) = sum(u) / count(u)

so the result equals the in-process one up to the order of the additions (≤ 1e-12).  Draws are
cut first (no work is repeated); mapping problems only where there are fewer draws than items
(no repeated trials: one draw).

What travels: an in-memory recording is scattered once (one copy per worker); a lazily opened one
travels as its lazy graph (kilobytes), and each worker reads its unit blocks from the store root,
which must be on storage the workers see at the same path.  Every item runs with one BLAS thread
(the workers are single-threaded processes; ``GOALSTORE_BLAS_THREADS=1`` for
:mod:`~goalstore.analyses.blas`) and reads lazy blocks with dask's synchronous scheduler, not
through the worker's own client.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["consistency_sums", "n_workers", "predictivity_sums"]

#: work items per worker: one (each item reads the recording once, so more items cost more reads;
#: 160 × 472, 20 draws on 2 workers: 1.80× over 1 worker with one item each, 1.51× with two)
ITEMS_PER_WORKER = 1


class _Shipped:
    """A recording (or feature array) sent to the workers as one object: scattering a plain holder
    keeps dask from treating a lazily opened (dask-backed) array as a graph to compute first."""

    def __init__(self, value: Any) -> None:
        self.value = value


def n_workers(executor: Any) -> int:
    """The task slots (worker threads, all workers) of a ``dask.distributed.Client``, at least 1
    (``nthreads`` lists every worker; ``scheduler_info`` only the first few)."""
    return max(1, sum(executor.nthreads().values()))


@contextmanager
def single_threaded() -> Iterator[None]:
    """One BLAS thread and dask's synchronous scheduler for the duration of a work item."""
    import dask
    from threadpoolctl import threadpool_limits

    before = os.environ.get("GOALSTORE_BLAS_THREADS")
    os.environ["GOALSTORE_BLAS_THREADS"] = "1"
    try:
        with threadpool_limits(limits=1, user_api="blas"), dask.config.set(scheduler="synchronous"):
            yield
    finally:
        if before is None:
            os.environ.pop("GOALSTORE_BLAS_THREADS", None)
        else:
            os.environ["GOALSTORE_BLAS_THREADS"] = before


def draw_pieces(n_draws: int, pieces: int) -> list[slice]:
    """``n_draws`` rows cut into ``pieces`` contiguous slices of near-equal size (none empty)."""
    pieces = max(1, min(n_draws, pieces))
    edges = np.linspace(0, n_draws, pieces + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _groups(n: int, pieces: int) -> list[np.ndarray]:
    """Indices ``0 … n-1`` in ``pieces`` contiguous groups (none empty)."""
    return [g for g in np.array_split(np.arange(n), max(1, min(n, pieces))) if len(g)]


def _plan(executor: Any, n_draws: int, n_groups: int) -> tuple[list[slice], list[np.ndarray]]:
    """Draw pieces × groups: draws cut first, groups only as far as draws do not make enough items."""
    wanted = ITEMS_PER_WORKER * n_workers(executor)
    draws = draw_pieces(n_draws, wanted)
    return draws, _groups(n_groups, -(-wanted // len(draws)))


def _weights(weights: tuple[Any, Any], draws: slice, repeated: bool) -> tuple[Any, Any]:
    w1, w2 = weights
    return (w1[draws], w2[draws]) if repeated else (None, None)


def _gather(executor: Any, futures: list[Any], progress: bool, desc: str) -> list[Any]:
    """The items' results in submission order, with a bar advancing as items finish."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    with tqdm(total=len(futures), disable=not progress, desc=desc, unit="item") as bar:
        for _ in as_completed(futures):
            bar.update(1)
    return executor.gather(futures)


# --------------------------------------------------------------------------- consistency
def _consistency_item(recording: _Shipped, run: Callable[..., None], tasks: list, mapping: Any,
                      train: np.ndarray, test: np.ndarray, temporal: str, weights: tuple[Any, Any],
                      repeated: bool, shape: tuple[int, int],
                      internal: tuple[Callable[..., None], tuple[int, int]] | None = None) -> tuple:
    """One work item: ``run`` on ``tasks`` and a slice of the draw weights, from zero sums; with
    ``internal = (run_internal, shape)`` also the units' internal consistency summed over the slice's
    draws (``None`` in its place otherwise)."""
    sums = (np.zeros(shape), np.zeros(shape))
    extra = None
    with single_threaded():
        run(recording.value, tasks, mapping, train, test, temporal, weights, repeated, sums, False)
        if internal is not None:
            extra = np.zeros(internal[1])
            internal[0](recording.value, *weights, extra)
    return (*sums, extra)


def consistency_sums(executor: Any, run: Callable[..., None], responses: Any, tasks: list, mapping: Any,
                     train: np.ndarray, test: np.ndarray, temporal: str, weights: tuple[Any, Any],
                     repeated: bool, sums: tuple[np.ndarray, np.ndarray], progress: bool = False,
                     internal: tuple[Callable[..., None], np.ndarray] | None = None) -> None:
    """What ``run(responses, tasks, …, sums, progress)`` adds to ``sums`` (``(T × unit)`` score sums and
    counts), computed as work items on ``executor``'s workers: chunks of draws × groups of the
    (source units, target units) mapping problems ``tasks``.  ``internal = (run_internal, total)``: also
    what ``run_internal(responses, w1, w2, total)`` adds to ``total`` (the units' internal consistency
    summed over draws), computed by the first item of each chunk of draws, so that no part of the
    analysis is left serial in the caller's process and the items stay one per worker."""
    n_draws = len(weights[0]) if repeated else 1
    draws, groups = _plan(executor, n_draws, len(tasks))
    recording = executor.scatter(_Shipped(responses), broadcast=True, hash=False)
    futures = [executor.submit(_consistency_item, recording, run, [tasks[i] for i in group], mapping, train,
                               test, temporal, _weights(weights, piece, repeated), repeated, sums[0].shape,
                               (internal[0], internal[1].shape) if internal is not None and g == 0 else None,
                               pure=False)
               for piece in draws for g, group in enumerate(groups)]
    for total, count, extra in _gather(executor, futures, progress, "consistency"):
        np.add(sums[0], total, out=sums[0])
        np.add(sums[1], count, out=sums[1])
        if extra is not None:
            np.add(internal[1], extra, out=internal[1])


# --------------------------------------------------------------------------- predictivity
def _predictivity_item(recording: _Shipped, run: Callable[..., None], features: list[_Shipped],
                       blocks: list[np.ndarray], mapping: Any, train: np.ndarray, test: np.ndarray,
                       temporal: str, weights: tuple[Any, Any], repeated: bool,
                       shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One work item: ``run`` on a group of layers' features and a slice of the draw weights, from
    zero sums."""
    sums = (np.zeros(shape), np.zeros(shape))
    with single_threaded():
        run(recording.value, [f.value for f in features], blocks, mapping, train, test, temporal, weights,
            repeated, sums, False)
    return sums


def predictivity_sums(executor: Any, run: Callable[..., None], responses: Any, features: list[np.ndarray],
                      blocks: list[np.ndarray], mapping: Any, train: np.ndarray, test: np.ndarray,
                      temporal: str, weights: tuple[Any, Any], repeated: bool,
                      sums: tuple[np.ndarray, np.ndarray], progress: bool = False) -> None:
    """What ``run(responses, features, blocks, …, sums, progress)`` adds to ``sums`` (``layer × T × unit``
    score sums and counts, one layer per entry of ``features``), computed as work items on
    ``executor``'s workers: chunks of draws × groups of layers.  Each layer's features are scattered
    once and shared by the items that need them."""
    n_draws = len(weights[0]) if repeated else 1
    draws, groups = _plan(executor, n_draws, len(features))
    recording = executor.scatter(_Shipped(responses), broadcast=True, hash=False)
    shipped = [executor.scatter(_Shipped(x), hash=False) for x in features]
    futures = [executor.submit(_predictivity_item, recording, run, [shipped[i] for i in group], blocks, mapping,
                               train, test, temporal, _weights(weights, piece, repeated), repeated,
                               (len(group), *sums[0].shape[1:]), pure=False)
               for piece in draws for group in groups]
    items = [group for _ in draws for group in groups]
    for group, (total, count) in zip(items, _gather(executor, futures, progress, "predictivity"), strict=True):
        sums[0][group] += total
        sums[1][group] += count
