"""Paraphrase mining: the most similar pairs among many texts, in bounded memory.

Cosine similarity of all pairs, one block of ``chunk`` x ``chunk`` texts at a time, keeping each
text's ``top_k`` most similar others (as sentence-transformers' ``paraphrase_mining`` does).
Memory is the vectors plus one block plus the kept pairs, never the full N x N matrix.
"""

from __future__ import annotations

import numpy as np

from finesim._util.progress import progress_bar


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mine_paraphrases(
    vectors: np.ndarray,
    *,
    top_k: int = 5,
    threshold: float | None = None,
    chunk: int = 2048,
    max_pairs: int | None = None,
) -> list[tuple[float, int, int]]:
    """``(cosine, i, j)`` with ``i < j``, best first: each text's ``top_k`` nearest others,
    at or above ``threshold``, each pair once; at most ``max_pairs``."""
    if top_k < 1 or chunk < 1:
        raise ValueError("top_k and chunk must be >= 1")
    x = _unit(np.asarray(vectors, dtype=np.float32))
    n = len(x)
    k = min(top_k, n - 1)
    if k < 1:
        return []
    best: dict[tuple[int, int], float] = {}
    with progress_bar(n > chunk, n, "mining") as advance:
        for a in range(0, n, chunk):
            _mine_rows(x, a, chunk, k, threshold, best)
            if advance is not None:
                advance(min(chunk, n - a))
    pairs = sorted(((s, i, j) for (i, j), s in best.items()), key=lambda p: (-p[0], p[1], p[2]))
    return pairs[:max_pairs] if max_pairs is not None else pairs


def _mine_rows(
    x: np.ndarray,
    a: int,
    chunk: int,
    k: int,
    threshold: float | None,
    best: dict[tuple[int, int], float],
) -> None:
    """Rows ``a`` to ``a + chunk`` against every text: their best pairs into ``best``."""
    n = len(x)
    rows = x[a : a + chunk]
    top_s = np.full((len(rows), k), -np.inf, dtype=np.float32)
    top_j = np.full((len(rows), k), -1, dtype=np.int64)
    for b in range(0, n, chunk):
        sims = rows @ x[b : b + chunk].T
        if a == b:  # a text is not its own paraphrase
            np.fill_diagonal(sims, -np.inf)
        all_s = np.concatenate([top_s, sims], axis=1)
        all_j = np.concatenate(
            [top_j, np.broadcast_to(np.arange(b, b + sims.shape[1]), sims.shape)], axis=1
        )
        keep = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        top_s = np.take_along_axis(all_s, keep, axis=1)
        top_j = np.take_along_axis(all_j, keep, axis=1)
    for r in range(len(rows)):
        for s, j in zip(top_s[r], top_j[r], strict=True):
            if j < 0 or (threshold is not None and s < threshold):
                continue
            pair = (min(a + r, int(j)), max(a + r, int(j)))
            best[pair] = max(best.get(pair, -np.inf), float(s))
