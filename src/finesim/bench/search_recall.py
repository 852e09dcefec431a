"""The exact multi-vector top k of a few query papers over a corpus too large for RAM.

Why: ``finesim bench search`` measures how much of the exact top k the index's two-stage
search finds. The exact answer scores every paper's every sentence in float32; at millions of
papers those vectors exist only as the synthesiser's chunks, so the corpus is scored chunk by
chunk (twice synthesised: once to take the queries' vectors, once to score) and a running
top k is kept per query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from finesim.docsim import Doc

Chunks = Callable[[], Iterator[tuple[list[Any], np.ndarray]]]


def _query_vectors(chunks: Chunks, positions: Sequence[int], facet: str | None) -> list[np.ndarray]:
    """The facet's sentence vectors (unit) of the documents at ``positions``."""
    wanted, found, at = {int(p) for p in positions}, {}, 0
    for docs, block in chunks():
        bounds = np.r_[0, np.cumsum([len(d.sentences) for d in docs])]
        for i, doc in enumerate(docs):
            if at + i in wanted:
                rows = block[bounds[i] : bounds[i + 1]]
                found[at + i] = Doc(rows, doc.labels).restrict(facet)[0].vectors
        at += len(docs)
        if len(found) == len(wanted):
            break
    return [_unit(found[int(p)]) for p in positions]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def exact_top(
    chunks: Chunks, positions: Sequence[int], facet: str | None, scoring: str, k: int
) -> list[list[str]]:
    """For each query document (its position), the ids of the ``k`` best other documents by
    ``scoring`` (``min-l2``: smallest distance of any sentence pair; ``max-sim``: mean over
    query sentences of the best cosine)."""
    queries = _query_vectors(chunks, positions, facet)
    stacked = np.concatenate(queries)
    owner = np.repeat(np.arange(len(queries)), [len(q) for q in queries])
    starts = np.r_[0, np.cumsum([len(q) for q in queries])[:-1]]
    best = [np.full(0, -np.inf, np.float32) for _ in queries]
    ids: list[list[str]] = [[] for _ in queries]
    at = 0
    for docs, block in chunks():
        rows = _unit(block)
        offsets = np.r_[0, np.cumsum([len(d.sentences) for d in docs])[:-1]]
        cosines = stacked @ rows.T  # (query sentences, chunk sentences)
        if scoring == "min-l2":  # unit vectors: the smallest distance is the largest cosine
            per_row = np.maximum.reduceat(cosines, offsets, axis=1)
            scores = np.maximum.reduceat(per_row, starts, axis=0)
        else:
            per_row = np.maximum.reduceat(cosines, offsets, axis=1)
            scores = np.add.reduceat(per_row, starts, axis=0) / np.bincount(owner)[:, None]
        names = [d.id for d in docs]
        for q, position in enumerate(positions):
            row = scores[q].copy()
            if at <= int(position) < at + len(docs):
                row[int(position) - at] = -np.inf  # the query paper itself
            merged = np.concatenate([best[q], row])
            pool = ids[q] + names
            keep = np.argsort(-merged, kind="stable")[:k]
            best[q], ids[q] = merged[keep], [pool[i] for i in keep]
        at += len(docs)
    return ids
