"""Thread counts: how many CPUs this process may use, and one search on one thread.

A query is a few small matrix products: splitting it across OpenMP (faiss, torch) and BLAS
threads only adds spinning threads that fight each other for the cores, which on a busy
two-core machine cost more than they give (measured at 800,000 vectors: p50 52 ms with the
default two threads each, 9 ms with one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _controller() -> Any:
    import faiss  # noqa: F401  (load its OpenMP runtime before looking for thread pools)
    import torch  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_thread() -> Iterator[None]:
    """Limit OpenMP and BLAS thread pools to one thread inside the block."""
    with _controller().limit(limits=1):
        yield


def cpu_count() -> int:
    """CPUs this process may run on (affinity and container limits included)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
