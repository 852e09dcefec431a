"""Ranking metrics computed exactly as trec_eval (and so pytrec_eval and BEIR) computes them.

Written out here so that finesim needs no compiled trec_eval at run time; the tests check every
figure against pytrec_eval. The conventions that matter for equal numbers:

- A run is ranked by score descending, ties broken by document id descending, with scores
  compared in single precision (trec_eval stores them as C ``float``).
- A document is relevant when its grade is >= 1; unjudged documents are not relevant.
- nDCG@k: gain is the raw grade (negative grades count 0), discount log2(rank + 1); the ideal
  ranking is made of all positively graded documents of the query, not only the retrieved ones.
- MAP@k (trec_eval ``map_cut``) and Recall@k divide by all relevant documents in the qrels.
- MRR@k is BEIR's: 1 / rank of the first relevant document within the top k, else 0.
- Every query in the qrels counts; one the run lacks scores 0 (trec_eval ``-c``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from finesim._util.errors import FinesimError

Run = Mapping[str, Mapping[str, float]]  # query id -> document id -> score
Qrels = Mapping[str, Mapping[str, int]]  # query id -> document id -> grade
Metric = Callable[[Sequence[str], Mapping[str, int], int], float]

RELEVANT = 1  # trec_eval's default relevance_level


def trec_order(scores: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval's order: score descending (as float32), then id descending."""
    return sorted(scores, key=lambda d: (float(np.float32(scores[d])), d), reverse=True)


def ndcg(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with raw grades as gains (trec_eval ``ndcg_cut``)."""
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    best = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(best))
    return dcg / ideal if ideal > 0 else 0.0


def _num_relevant(rels: Mapping[str, int]) -> int:
    return sum(g >= RELEVANT for g in rels.values())


def average_precision(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """AP over the top k, divided by all relevant documents (trec_eval ``map_cut``)."""
    hits, total = 0, 0.0
    for i, d in enumerate(ranking[:k]):
        if rels.get(d, 0) >= RELEVANT:
            hits += 1
            total += hits / (i + 1)
    n = _num_relevant(rels)
    return total / n if n else 0.0


def recall(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over all relevant documents (trec_eval ``recall``)."""
    n = _num_relevant(rels)
    return sum(rels.get(d, 0) >= RELEVANT for d in ranking[:k]) / n if n else 0.0


def precision(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over k, even if fewer were retrieved (trec_eval ``P``)."""
    return sum(rels.get(d, 0) >= RELEVANT for d in ranking[:k]) / k


def reciprocal_rank(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document within the top k, else 0 (BEIR's MRR@k)."""
    for i, d in enumerate(ranking[:k]):
        if rels.get(d, 0) >= RELEVANT:
            return 1.0 / (i + 1)
    return 0.0


METRICS: dict[str, Metric] = {
    "ndcg": ndcg,
    "map": average_precision,
    "recall": recall,
    "p": precision,
    "mrr": reciprocal_rank,
}
DEFAULT_MEASURES = ("ndcg@10", "map@100", "recall@100", "mrr@10")


def parse_measure(name: str) -> tuple[Metric, int]:
    """``"ndcg@10"`` -> (ndcg, 10); a clear error for anything else."""
    metric, _, cut = name.lower().partition("@")
    if metric not in METRICS or not cut.isdigit() or int(cut) < 1:
        known = ", ".join(f"{m}@K" for m in METRICS)
        raise FinesimError(f"unknown measure {name!r}; use one of {known}")
    return METRICS[metric], int(cut)


def evaluate(
    qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES
) -> dict[str, dict[str, float]]:
    """Per-query figures (fractions, 0-1) for every query in ``qrels``, in qrels order."""
    parsed = [(name, *parse_measure(name)) for name in measures]
    result: dict[str, dict[str, float]] = {}
    for query_id, rels in qrels.items():
        ranking = trec_order(run.get(query_id, {}))
        result[query_id] = {name: fn(ranking, rels, k) for name, fn, k in parsed}
    return result


def mean_scores(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean of each measure over the queries, x100 (as BEIR and papers report them)."""
    if not per_query:
        return {}
    names = next(iter(per_query.values())).keys()
    return {n: 100.0 * sum(q[n] for q in per_query.values()) / len(per_query) for n in names}
