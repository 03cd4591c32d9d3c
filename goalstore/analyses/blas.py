"""BLAS thread count chosen from the size of each matrix product (issue 16).

Batched analyses issue many matrix products; OpenBLAS splits every product over all its
threads.  For a small product the split costs more than it saves, and when another process
holds a core each product waits for its slowest thread (measured: 7–12× slower under load
for 40 units × 118 stimuli, 1 thread ≈ unloaded speed).  The rule:

    threads = 1            if one product has fewer than 2**24 multiply-adds (≈ 1 ms on one core)
    threads = all cores    otherwise (a product long enough to amortise the split)

where "one product" is a single (n × k) @ (k × m) call, ``n·k·m`` multiply-adds (for a batched
``matmul`` each batch element is one call).  ``GOALSTORE_BLAS_THREADS`` overrides it: an integer
fixes the count, ``off`` leaves the BLAS settings untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

#: Multiply-adds of one matrix product below which it runs on one BLAS thread.
SMALL_PRODUCT = 2**24


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def blas_threads(macs_per_product: float) -> int | None:
    """Threads for products of ``macs_per_product`` multiply-adds each (``None``: leave BLAS as is)."""
    setting = os.environ.get("GOALSTORE_BLAS_THREADS", "auto").strip().lower()
    if setting == "off":
        return None
    if setting != "auto":
        return max(1, int(setting))
    return 1 if macs_per_product < SMALL_PRODUCT else _cores()


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def blas_limit(macs_per_product: float) -> Iterator[None]:
    """Run the block with the BLAS thread count :func:`blas_threads` chooses for this product size."""
    threads = blas_threads(macs_per_product)
    if threads is None:
        yield
        return
    with _controller().limit(limits=threads, user_api="blas"):
        yield
