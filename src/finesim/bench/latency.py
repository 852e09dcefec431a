"""Latency percentiles of timed calls: one definition for every bench that reports them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def latency_ms(
    seconds: Iterable[float], points: Sequence[int] = (50, 99), digits: int = 1
) -> dict[str, float]:
    """``count``, ``p<q>_ms`` for each of ``points`` and ``max_ms`` of call times given in
    seconds (``{"count": 0}`` for none)."""
    ms = np.asarray(list(seconds), dtype=np.float64) * 1000
    if not len(ms):
        return {"count": 0}
    out: dict[str, float] = {"count": len(ms)}
    for q in points:
        out[f"p{q}_ms"] = round(float(np.percentile(ms, q)), digits)
    out["max_ms"] = round(float(ms.max()), digits)
    return out
