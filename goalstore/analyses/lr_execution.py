"""Execution of learning-rule identification tasks: in process, or on dask.distributed workers.

Work is a list of independent tasks run through an ``executor`` — a
``dask.distributed.Client``, or ``None`` for in-process (:class:`LocalExecutor`, the part of the
Client API used here) — so splits, folds and grid points spread over workers.  Large
arrays shared by every task are scattered once.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LocalExecutor:
    """In-process executor with the part of the dask.distributed Client API used here."""

    def scatter(self, data, **_):  # same call as Client.scatter
        return data

    def map(self, fn, *iterables, **kwargs):
        return [fn(*args, **kwargs) for args in zip(*iterables, strict=True)]

    def gather(self, futures):
        return futures


def run_tasks(executor, fn, tasks: list[tuple], shared: dict[str, Any]) -> list[Any]:
    """``fn(*task, **shared)`` for each task, in order; no tasks: nothing is sent (``Client.map`` refuses
    to map over no iterables)."""
    if not tasks:
        return []
    executor = executor or LocalExecutor()
    # hash=False: a fresh key per call, so releasing an earlier call's copy cannot lose this one
    shared = {k: executor.scatter(v, broadcast=True, hash=False) if isinstance(v, np.ndarray) else v
              for k, v in shared.items()}
    columns = list(zip(*tasks, strict=True)) if tasks else []
    futures = executor.map(fn, *columns, **shared, pure=False) if not isinstance(executor, LocalExecutor) \
        else executor.map(fn, *columns, **shared)
    return executor.gather(futures)
