"""``finesim bench search --part quality``: CSFCube figures through each index precision.

Why: a compressed index (binary codes, PQ) changes two things, the first stage (approximate
candidates) and the vectors stage 2 scores (int8 rows instead of float32). Both are measured
on CSFCube's 50 query-facets, two test folds, against the exact index (float32, flat):

- ``pool``: each judged pool ranked as CSFCube's evaluator ranks it, on the index's stored
  vectors (what stage 2 reads back): the effect of the stored precision alone;
- ``search``: the index's own two-stage search (top ``SEARCH_K``, default candidate budget):
  pool candidates in the order the search returned them, then the ones it did not return in
  their ``pool`` order; plus the recall of the exact index's top ``SEARCH_K``.

CSFCube has 4,205 papers (about 36,000 sentence vectors), where ``kind='auto'`` would pick exact
structures; so the structures are forced (``binary`` flat is an exact Hamming scan, ``ivf``
kinds probe ``NPROBE`` of their lists), and the JSON says which.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from finesim.bench.machine import machine_summary
from finesim.data.csfcube import load_papers, load_pools
from finesim.docsim import FACETS, Doc, score_candidates
from finesim.evaluation.csfcube import embed_papers, paired, score_rankings
from finesim.fusion.fuse import hybrid_scores
from finesim.fusion.terms import Candidates
from finesim.models.cache import encode_cached
from finesim.models.encoder import Encoder
from finesim.search.hybrid import HybridSearcher
from finesim.search.index import Index
from finesim.search.rows import dequantize, quantize

SETTINGS = (
    ("float32", "flat"),
    ("float16", "flat"),
    ("int8", "flat"),
    ("binary", "flat"),
    ("binary", "ivf"),
    ("pq", "ivf"),
)
SCORINGS = ("min-l2", "max-sim", "hybrid")
SEARCH_K = 100
NPROBE = 8  # of about 750 lists at this size: 1%, as at millions of papers


def csfcube_index(
    encoder: Encoder, precision: str, kind: str, hybrid: bool = True, nprobe: int = NPROBE
) -> Index:
    """All CSFCube papers (sentence vectors, and for ``hybrid`` whole-text and title vectors,
    from the embedding cache) in an index."""
    papers = load_papers()
    docs = embed_papers(encoder, papers, whole=hybrid)
    documents = [p.document() for p in papers.values()]
    index = Index.new(
        encoder.dim,
        model=encoder.source,
        fingerprint=encoder.fingerprint(),
        precision=precision,
        kind=kind,
        expected=sum(len(d.sentences) for d in documents),
        spec=encoder.spec,
    )
    vectors = np.concatenate([docs[d.id].vectors for d in documents])
    if hybrid:
        wholes = np.stack([np.asarray(docs[d.id].whole) for d in documents])
        titles = encode_cached(encoder, [d.title for d in documents], task="document")
        index.add_vectors(documents, vectors, wholes, np.asarray(titles, np.float32))
    else:
        index.add_vectors(documents, vectors)
    index.search_params["nprobe"] = nprobe
    index.use(encoder)
    return index


def pool_scores(
    searcher: HybridSearcher, qpid: str, facet: str, pool: Sequence[str], scoring: str
) -> np.ndarray:
    """Scores of the judged ``pool`` on the index's stored vectors (stage 2's view)."""
    index = searcher.index
    asked = index.query(query_doc=qpid, facet=facet)
    positions = [index.position(c) for c in pool]
    docs = index.docs_at(positions)
    if scoring != "hybrid":
        return score_candidates(asked.doc, docs, scoring, facet=facet)[0]
    preset = searcher.preset("default")
    query = searcher.fusion_query(asked, preset)
    assert index.wholes is not None
    whole = [
        Doc(d.vectors, d.labels, index.wholes[p]) for d, p in zip(docs, positions, strict=True)
    ]
    found = Candidates(whole, list(pool), searcher.bm25(), searcher.titles(positions))
    return hybrid_scores(query, found, preset, facet=facet)[0]


def rankings(searcher: HybridSearcher, scoring: str) -> tuple[dict[str, Any], dict[str, Any], dict]:
    """Pool rankings (stored vectors), search rankings, and each query's search top ids."""
    pooled, searched, tops = {}, {}, {}
    for facet in FACETS:
        for pool in load_pools(facet):
            scores = pool_scores(searcher, pool.qpid, facet, pool.candidates, scoring)
            order = [pool.candidates[i] for i in np.argsort(-np.asarray(scores), kind="stable")]
            pooled[pool.key] = [(c, -float(r)) for r, c in enumerate(order)]
            hits = searcher.search(
                query_doc=pool.qpid,
                facet=facet,
                scoring=scoring,
                k=SEARCH_K,
                explain=0,
                preset="default" if scoring == "hybrid" else None,
            )
            tops[pool.key] = [h.id for h in hits]
            judged = set(pool.candidates)
            first = [h for h in tops[pool.key] if h in judged]
            rest = [c for c in order if c not in set(first)]
            searched[pool.key] = [(c, -float(r)) for r, c in enumerate(first + rest)]
    return pooled, searched, tops


def int8_error(vectors: np.ndarray) -> dict[str, float]:
    """Mean L2 error of int8 rows: a scale per vector (finesim's) and per dimension (SQ8's)."""
    codes, scales = quantize(vectors)
    per_vector = np.linalg.norm(dequantize(codes, scales) - vectors, axis=1)
    lo, hi = vectors.min(axis=0), vectors.max(axis=0)
    step = np.maximum(hi - lo, 1e-12) / 255
    sq8 = lo + (np.floor((vectors - lo) / step).clip(0, 254) + 0.5) * step
    per_dim = np.linalg.norm(sq8 - vectors, axis=1)
    return {
        "per_vector_scale": float(per_vector.mean()),
        "per_dimension_range": float(per_dim.mean()),
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    return {g: {m: result[g][m] for m in ("map", "ndcg%20")} for g in (*FACETS, "all")}


def quality(
    encoder: Encoder,
    settings: Sequence[tuple[str, str]] = SETTINGS,
    scorings: Sequence[str] = SCORINGS,
    nprobe: int = NPROBE,
) -> dict[str, Any]:
    """The figures of every scoring through every (precision, kind), against the exact index
    (the first setting)."""
    out: dict[str, Any] = {
        "benchmark": "finesim bench search --part quality",
        "model": encoder.source,
        "split": "test (fold1_test and fold2_test)",
        "search_k": SEARCH_K,
        "protocol": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        "machine": machine_summary(),
        "settings": {},
    }
    exact: dict[str, Any] = {}
    for precision, kind in settings:
        start = time.perf_counter()
        index = csfcube_index(encoder, precision, kind, "hybrid" in scorings, nprobe)
        searcher = HybridSearcher(index)
        entry: dict[str, Any] = {
            "precision": precision,
            "kind": index.ann.kind,
            "first_stage": index.ann.describe() or "faiss codec as float32/float16/int8",
            "nprobe": nprobe if index.ann.kind == "ivf" else None,
            "sentence_vectors": index.ann.size,
            "build_seconds": time.perf_counter() - start,
            "scorings": {},
        }
        for scoring in scorings:
            pooled, searched, tops = rankings(searcher, scoring)
            pool_fig, search_fig = score_rankings(pooled), score_rankings(searched)
            row: dict[str, Any] = {"pool": figures(pool_fig), "search": figures(search_fig)}
            key = f"{precision}-{kind}"
            if not exact.get(scoring):
                exact[scoring] = (key, pool_fig, search_fig, tops)
            else:
                name, base_pool, base_search, base_tops = exact[scoring]
                folds = pool_fig["folds"]
                row["against"] = name
                row["pool_minus_exact"] = paired(
                    pool_fig["per_query"], base_pool["per_query"], folds, ("all",)
                )
                row["search_minus_exact"] = paired(
                    search_fig["per_query"], base_search["per_query"], folds, ("all",)
                )
                row["search_recall_of_exact_top"] = float(
                    np.mean(
                        [
                            len(set(tops[q]) & set(base_tops[q])) / max(1, len(base_tops[q]))
                            for q in tops
                        ]
                    )
                )
            entry["scorings"][scoring] = row
        out["settings"][f"{precision}-{kind}"] = entry
    papers = load_papers()
    docs = embed_papers(encoder, papers, whole=False)
    out["int8_error_l2"] = int8_error(np.concatenate([d.vectors for d in docs.values()]))
    return out
