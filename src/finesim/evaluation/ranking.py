"""Per-query ranking metrics as CSFCube's ``rank_metrics.py`` defines them.

Input: graded relevances in the model's rank order. Binary metrics threshold the grades
(>= 2 for CSFCube). DCG uses the raw grade as gain with ``rank_metrics`` method 0: ranks 1 and
2 both have weight 1, rank i > 1 has 1/log2(i).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dcg_at_k(grades: Sequence[float], k: int) -> float:
    r = np.asarray(grades, dtype=np.float64)[:k]
    if not r.size:
        return 0.0
    return float(r[0] + np.sum(r[1:] / np.log2(np.arange(2, r.size + 1))))


def ndcg_at_k(grades: Sequence[float], k: int) -> float:
    best = dcg_at_k(sorted(grades, reverse=True), k)
    return dcg_at_k(grades, k) / best if best else 0.0


def average_precision(binary: np.ndarray) -> float:
    hits = np.flatnonzero(binary)
    if not hits.size:
        return 0.0
    return float(np.mean(np.arange(1, hits.size + 1) / (hits + 1)))


def r_precision(binary: np.ndarray) -> float:
    """rank_metrics' definition: precision up to the last relevant document."""
    hits = np.flatnonzero(binary)
    return float(np.mean(binary[: hits[-1] + 1])) if hits.size else 0.0


def query_metrics(grades: Sequence[int], threshold: int = 2, at: int = 20) -> dict[str, float]:
    """All figures of one query: map (AP), ndcg, ndcg%20, ndcg@20, r_precision, p@20, r@20,
    f1@20, mrr (not x100)."""
    graded = [float(g) for g in grades]
    binary = (np.asarray(graded) >= threshold).astype(np.float64)
    total = binary.sum()
    hits = np.flatnonzero(binary)
    precision = float(binary[:at].mean()) if len(binary) else 0.0
    recall = float(binary[:at].sum() / total) if total else 0.0
    return {
        "map": average_precision(binary),
        "ndcg%20": ndcg_at_k(graded, int(0.20 * len(graded))),
        "ndcg": ndcg_at_k(graded, len(graded)),
        "ndcg@20": ndcg_at_k(graded, 20),
        "r_precision": r_precision(binary),
        "p@20": precision,
        "r@20": recall,
        "f1@20": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "mrr": 1.0 / (hits[0] + 1) if hits.size else 0.0,
    }
