"""The dask.distributed client of a sweep or an analysis, set up and torn down in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def wants_dask(workers: int | None = None, scheduler: str | None = None) -> bool:
    """Whether ``workers`` / ``scheduler`` ask for dask.distributed (a scheduler, or more than one worker)."""
    return bool(scheduler) or (workers or 1) > 1


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``workers`` / ``scheduler``, or ``None`` to run in process.

    ``scheduler`` connects to an existing cluster; otherwise ``workers`` > 1 starts a local
    cluster of that many single-threaded worker processes (no dashboard).  The client, and a
    cluster started here, are closed on exit.
    """
    if not wants_dask(workers, scheduler):
        yield None
        return
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        client = Client(str(scheduler))
    else:
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
