"""Hybrid scoring on a BEIR-format folder: dense and BM25 candidates, fused by a preset.

BEIR supplies each query and its candidates as ``finesim.fusion.terms`` expects them: a
document is its whole text as one sentence, with no facets and no title (what the terms then
mean is said there, once). Candidates are the union of the ``depth`` best by cosine and by
BM25; the fused top 100 are scored as ``finesim eval beir`` scores dense retrieval.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.data.beir import judged_queries, read_corpus, read_qrels
from finesim.docsim import Doc
from finesim.docsim.lexical import Bm25
from finesim.evaluation.retrieval import MIN_TOP_K, retrieve, summarize
from finesim.fusion.fuse import hybrid_scores
from finesim.fusion.preset import Preset
from finesim.fusion.terms import Candidates, Query
from finesim.models.cache import encode_cached
from finesim.models.encoder import Encoder


def run_beir_hybrid(
    encoder: Encoder,
    data_dir: str | os.PathLike[str],
    preset: Preset,
    split: str = "test",
    *,
    depth: int = 1000,
    batch_size: int = 32,
    cache: bool = True,
) -> dict[str, Any]:
    """What ``finesim eval beir --scoring hybrid`` prints (nDCG@10, MAP@100, ...)."""
    if preset.reranks:
        raise FinesimError(
            f"preset {preset.name!r} weighs the term 'rerank': BEIR hybrid scoring takes no "
            "cross-encoder (yet); leave the term out"
        )
    folder = Path(data_dir)
    qrels = read_qrels(folder, split)
    queries = judged_queries(folder, qrels)
    corpus = dict(read_corpus(folder))
    lexical = Bm25(corpus)
    dense = retrieve(encoder, queries, corpus.items(), depth, batch_size=batch_size, cache=cache)
    query_vectors = encode_cached(
        encoder, list(queries.values()), batch_size=batch_size, cache=cache, task="query"
    )
    pools = {  # as BEIR: a query never retrieves itself
        qid: [d for d in dict.fromkeys([*dense[qid], *lexical.top(text, depth)]) if d != qid]
        for qid, text in queries.items()
    }
    # every candidate encoded (or read from the cache) once, not once per query that has it
    wanted = list(dict.fromkeys(d for ids in pools.values() for d in ids))
    encoded = encode_cached(
        encoder, [corpus[d] for d in wanted], batch_size=batch_size, cache=cache, task="document"
    )
    row = {d: i for i, d in enumerate(wanted)}
    run: dict[str, dict[str, float]] = {}
    with progress_bar(True, len(queries), "queries") as advance:
        for (qid, text), qvec in zip(queries.items(), query_vectors, strict=True):
            if advance is not None:
                advance(1)
            ids = pools[qid]
            if not ids:
                run[qid] = {}
                continue
            vectors = encoded[[row[d] for d in ids]]
            # no facets: the facet text is the whole text; no titles: left out (None)
            query = Query(Doc(qvec[None, :], None, qvec), text, text, facet_vector=qvec)
            docs = Candidates([Doc(v[None, :], None, v) for v in vectors], ids, lexical)
            scores, _ = hybrid_scores(query, docs, preset)
            order = np.argsort(-scores, kind="stable")[:MIN_TOP_K]
            run[qid] = {ids[i]: float(scores[i]) for i in order}
    return {"preset": preset.to_json(), "depth": depth, **summarize(qrels, run)}
