"""Stage 1: from the query's nearest sentence vectors to a short list of candidate papers.

- ``min-l2``: a paper's score is its smallest distance to any query sentence, so papers are
  taken in the order of their nearest retrieved sentence. With exact neighbours every paper
  whose best distance is within the smallest of the query sentences' search radii is placed
  exactly; the search widens (doubling) until ``budget`` papers are placed so, or the
  whole index has been searched.
- ``max-sim`` and ``ot`` use every query sentence: a paper is ranked by the mean over query
  sentences of its nearest retrieved squared distance (for unit vectors, exactly max-sim's
  mean best cosine, rescaled). A query sentence that retrieved nothing from the paper counts
  with its farthest retrieved distance, the most optimistic guess, so a paper close to only
  some query sentences is not ruled out early.
- ``ot`` must also match every sentence of the paper, which the query side cannot see: twice
  the budget is gathered as for max-sim, and a cheap symmetric Chamfer distance on the stored
  vectors keeps the budget for the (costly) Sinkhorn of stage 2.
- ``mean-vec`` needs no neighbours: the cosine of the mean vectors is computed for every paper
  from one stored mean per paper, which is exact and cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

START_FACTOR = 2  # nearest sentences fetched per query sentence, per candidate paper wanted
Skip = int | np.ndarray | None  # document positions a ranking leaves out


def owners(sentence_ids: np.ndarray, doc_start: np.ndarray) -> np.ndarray:
    """The document position of each sentence id (-1 stays -1: faiss's 'nothing found')."""
    docs = np.searchsorted(doc_start, sentence_ids, side="right") - 1
    return np.where(sentence_ids < 0, -1, docs)


def by_nearest(
    distances: np.ndarray, docs: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Documents in the order of their nearest retrieved sentence, and that distance."""
    d, owner = distances[valid], docs[valid]
    order = np.argsort(d, kind="stable")
    unique, first = np.unique(owner[order], return_index=True)
    ranked = np.argsort(first, kind="stable")
    return unique[ranked].astype(np.int64), d[order][first[ranked]]


def by_mean_nearest(distances: np.ndarray, docs: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Documents by the mean over query sentences of their nearest retrieved distance."""
    universe, inverse = np.unique(docs[valid], return_inverse=True)
    rows = np.nonzero(valid)[0]
    farthest = np.array(
        [distances[i][valid[i]].max() if valid[i].any() else 0.0 for i in range(len(distances))]
    )
    table = np.repeat(farthest[:, None], len(universe), axis=1)
    np.minimum.at(table, (rows, inverse), distances[valid])
    return universe[np.argsort(table.mean(axis=0), kind="stable")].astype(np.int64)


def top_cosine(unit_rows: np.ndarray, query: np.ndarray, budget: int, exclude: Skip) -> np.ndarray:
    """The ``budget`` rows of ``unit_rows`` closest in cosine to ``query``, best first (ties
    by position), leaving out the row(s) ``exclude``."""
    scores = unit_rows @ (query / max(float(np.linalg.norm(query)), 1e-12))
    skipped = np.unique(np.asarray([] if exclude is None else exclude, dtype=np.int64))
    scores[skipped] = -np.inf
    budget = min(budget, len(scores) - len(skipped))
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, budget - 1)[:budget]
    return top[np.lexsort((top, -scores[top]))].astype(np.int64)


def by_mean_vector(means: np.ndarray, query: np.ndarray, budget: int, exclude: Skip) -> np.ndarray:
    """The ``budget`` documents whose unit mean vector is closest in cosine to the query's."""
    return top_cosine(means, query.mean(axis=0), budget, exclude)


def by_chamfer(
    ann: Any, doc_start: np.ndarray, query: np.ndarray, pool: np.ndarray, budget: int
) -> np.ndarray:
    """The ``budget`` documents of ``pool`` with the smallest symmetric Chamfer distance:
    mean nearest distance from the query's sentences plus from the document's."""
    if len(pool) <= budget:
        return pool
    starts, ends = doc_start[pool], doc_start[pool + 1]
    rows = [np.arange(a, b) for a, b in zip(starts, ends, strict=True)]
    vectors = ann.reconstruct(np.concatenate(rows))
    q = query.astype(np.float32)
    squared = (q * q).sum(1)[:, None] + (vectors * vectors).sum(1)[None, :] - 2 * q @ vectors.T
    distances = np.sqrt(np.maximum(squared, 0.0))
    offsets = np.r_[0, np.cumsum(ends - starts)[:-1]]
    from_query = np.minimum.reduceat(distances, offsets, axis=1).mean(axis=0)
    from_doc = np.add.reduceat(distances.min(axis=0), offsets) / (ends - starts)
    return pool[np.argsort(from_query + from_doc, kind="stable")[:budget]]


def stage_one(
    ann: Any,
    doc_start: np.ndarray,
    means: np.ndarray,
    query: np.ndarray,
    scoring: str,
    budget: int,
    exclude: Skip = None,
    **search: Any,
) -> np.ndarray:
    """Up to ``budget`` candidate document positions for the (facet) query sentence vectors.

    ``ann`` is a ``finesim.search.ann.Ann``; ``search`` its knobs (``ef_search``, ``nprobe``,
    ``sel``: a faiss filter of the sentences it may return); ``exclude`` the position(s) left
    out (the query paper, deleted papers).
    """
    if scoring == "mean-vec":
        return by_mean_vector(means, query, budget, exclude)
    wanted = 2 * budget if scoring == "ot" else budget
    per_sentence = min(ann.size, START_FACTOR * wanted)
    while True:
        distances, ids = ann.search(query, per_sentence, **search)
        docs = owners(ids, doc_start)
        valid = docs >= 0
        if isinstance(exclude, int):
            valid &= docs != exclude
        elif exclude is not None:
            valid &= ~np.isin(docs, exclude)
        if not valid.any():
            return np.zeros(0, dtype=np.int64)
        if scoring == "min-l2":
            found, best = by_nearest(distances, docs, valid)
            radius = distances[:, -1].min() if ids.shape[1] and (ids >= 0).all() else np.inf
            placed = int((best <= radius).sum())
        else:
            found = by_mean_nearest(distances, docs, valid)
            placed = len(found)
        if placed >= wanted or per_sentence >= ann.size:
            break
        per_sentence = min(ann.size, per_sentence * 2)
    if scoring == "ot":
        return by_chamfer(ann, doc_start, query, found[:wanted], budget)
    return found[:budget]
