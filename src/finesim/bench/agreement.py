"""Does the two-stage index search find what exhaustive scoring finds? Measured on CSFCube.

For each of the 50 query-facets, exhaustive scoring scores all 4,204 other papers of the
corpus with ``finesim.docsim.score_candidates`` (query restricted to its facet, as in the
CSFCube evaluator) and keeps the top ``top``; the index search (stage 1 faiss candidates,
stage 2 exact re-rank) returns its own top ``top``. Recall is the share of the exhaustive top
that the index finds, per query-facet; the figure to watch is its minimum over the 50.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from finesim.data.csfcube import load_papers, load_pools
from finesim.docsim import FACETS, Doc, score_candidates
from finesim.evaluation.csfcube import embed_papers
from finesim.models.encoder import Encoder
from finesim.search.index import Index


def corpus_index(
    encoder: Encoder, *, kind: str = "auto", precision: str = "float32"
) -> tuple[Index, dict[str, Doc]]:
    """The CSFCube corpus as an index (vectors from the embedding cache) and as ``Doc``s."""
    papers = load_papers()
    docs = embed_papers(encoder, papers, whole=False)
    documents = [p.document() for p in papers.values()]
    index = Index.new(
        encoder.dim,
        model=encoder.source,
        fingerprint=encoder.fingerprint(),
        precision=precision,
        kind=kind,
        expected=sum(len(d.sentences) for d in documents),
    )
    index.add_vectors(documents, np.concatenate([docs[d.id].vectors for d in documents]))
    return index, docs


def exhaustive_top(
    docs: dict[str, Doc], qpid: str, facet: str, scoring: str, top: int
) -> list[str]:
    """The best ``top`` papers (the query paper left out) by scoring every paper."""
    others = [pid for pid in docs if pid != qpid]
    scores, _ = score_candidates(docs[qpid], [docs[p] for p in others], scoring, facet=facet)
    order = np.lexsort((np.arange(len(others)), -scores))[:top]
    return [others[i] for i in order]


def agreement(
    encoder: Encoder,
    *,
    scorings: Sequence[str] = ("min-l2",),
    budgets: Sequence[int] = (100, 200, 500),
    kind: str = "auto",
    precision: str = "float32",
    top: int = 100,
) -> dict[str, Any]:
    """Recall@``top`` of the index search against exhaustive scoring, per scoring and budget."""
    index, docs = corpus_index(encoder, kind=kind, precision=precision)
    queries = [(p.qpid, p.facet) for f in FACETS for p in load_pools(f)]
    result: dict[str, Any] = {
        "corpus_papers": len(index),
        "sentence_vectors": index.ann.size,
        "query_facets": len(queries),
        "kind": index.ann.kind,
        "precision": precision,
        "top": top,
        "model": encoder.source,
        "scorings": {},
    }
    for scoring in scorings:
        start = time.perf_counter()
        truth = {q: exhaustive_top(docs, q[0], q[1], scoring, top) for q in queries}
        per_scoring: dict[str, Any] = {
            "exhaustive_seconds_per_query": (time.perf_counter() - start) / len(queries)
        }
        for budget in budgets:
            recalls, seconds = [], []
            for qpid, facet in queries:
                start = time.perf_counter()
                hits = index.search(
                    query_doc=qpid,
                    facet=facet,
                    scoring=scoring,
                    k=top,
                    candidates=budget,
                    explain=0,
                )
                seconds.append(time.perf_counter() - start)
                found = {h.id for h in hits}
                recalls.append(len(found & set(truth[qpid, facet])) / len(truth[qpid, facet]))
            per_scoring[f"candidates={budget}"] = {
                "mean_recall": float(np.mean(recalls)),
                "min_recall": float(np.min(recalls)),
                "query_facets_at_or_above_0.98": int(sum(r >= 0.98 for r in recalls)),
                "median_seconds_per_query": float(np.median(seconds)),
            }
        result["scorings"][scoring] = per_scoring
    return result
