"""``precision='auto'``: the most precise vectors whose index fits the memory there is.

Why: an index that does not fit in RAM swaps and every query takes seconds; one that is
compressed without need loses a little quality. The choice is made once, at build time, from
the number of sentence vectors expected and the memory available then, and comes back with
a one-line reason (the CLI prints it; the manifest records the precision chosen).
"""

from __future__ import annotations

import os
from pathlib import Path

from finesim.search.codes import HNSW_LINKS

SHARE = 0.5  # of the available memory an index may take (the process needs the rest)
ORDER = ("float32", "float16", "int8", "binary")  # most precise first


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else free physical pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 8 << 30


def index_bytes(precision: str, expected: int, dim: int) -> int:
    """What an index of ``expected`` vectors keeps in RAM: codes, plus an HNSW graph for the
    float precisions (the kind ``auto`` builds at size) or ivf ids for binary codes."""
    per_vector = {"float32": 4 * dim, "float16": 2 * dim, "int8": dim, "binary": dim // 8}
    graph = 2 * HNSW_LINKS * 4 if precision != "binary" else 8
    return expected * (per_vector[precision] + graph)


def choose_precision(
    precision: str, expected: int, dim: int, available: int | None = None
) -> tuple[str, str | None]:
    """``precision``, or for ``auto`` the first of ``ORDER`` whose index takes at most half
    the available memory, with the reason (None when nothing was chosen)."""
    if precision != "auto":
        return precision, None
    free = available if available is not None else available_bytes()
    budget = SHARE * free
    for chosen in ORDER:
        need = index_bytes(chosen, expected, dim)
        if need <= budget or chosen == ORDER[-1]:
            break
    gib = 2**30
    return chosen, (
        f"precision auto: {chosen} ({expected:,} sentence vectors of {dim} dimensions take "
        f"about {need / gib:.2f} GiB in RAM; {free / gib:.1f} GiB available, "
        f"at most {SHARE:.0%} for the index)"
    )
