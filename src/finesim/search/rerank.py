"""The rerank stage of search: a cross-encoder reorders the top of the first stage's hits.

Why a stage after the others: a cross-encoder reads the query and a paper together, which is
more accurate than any vector or lexical score but costs one forward pass per pair, so it
only sees the ``rerank_top`` best hits of the first stage (the exact rescoring of
``Index.search``, or hybrid fusion), never the collection.

Its pairs are those of the fusion term ``rerank`` (``finesim.fusion.terms``, defined there
once): the query's facet sentences as one text when the query is faceted, else its whole
text (an indexed paper's title + abstract, a text query's sentences); the paper's title +
abstract. A query given as vectors alone has no text for it to read.

The reranked hits come first, by the cross-encoder's score (ties keep the first-stage
order); hits below ``rerank_top`` follow in first-stage order. Every hit then carries its
first-stage score (``first_stage_score``); the reranked ones also the cross-encoder's
(``rerank_score``), which is their ``score`` (what they are ordered by).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.documents import whole_text
from finesim.docsim.docs import facet_text
from finesim.fusion.terms import Reranker, rerank_scores, rerank_text
from finesim.search.hits import Hit
from finesim.search.query import SearchQuery, whole_query_text

if TYPE_CHECKING:
    from finesim.search.index import Index

RERANK_TOP = 100  # hits the cross-encoder reorders when the caller does not say


def rerank_depth(rerank: Reranker | None, rerank_top: int | None, default: int = RERANK_TOP) -> int:
    """How many first-stage hits the cross-encoder reorders (0: no rerank stage)."""
    if rerank_top is not None and rerank_top < 0:
        raise FinesimError(f"rerank_top must be >= 0, not {rerank_top}")
    if rerank is None:
        if rerank_top:
            raise FinesimError("rerank_top needs a cross-encoder to rerank with (rerank=...)")
        return 0
    if rerank.num_labels != 1:
        raise FinesimError(
            f"a reranker needs a model with one score per pair; this one has {rerank.num_labels}"
        )
    return default if rerank_top is None else rerank_top


def document_text(index: Index, position: int) -> str:
    """What the cross-encoder reads of an indexed paper: its title + abstract."""
    record = index.docs.get(position)
    return whole_text(str(record.get("title") or ""), record["sentences"])


def query_text(index: Index, asked: SearchQuery) -> str:
    """What the cross-encoder reads of the query (``finesim.fusion.terms.rerank_text``)."""
    if not any(t.strip() for t in asked.texts):
        raise FinesimError(
            "a query given as vectors has no text for the cross-encoder to read: rerank a "
            "text query or an indexed paper (query_doc)"
        )
    joined = facet_text(asked.texts, asked.doc.labels, asked.facet)
    return rerank_text(whole_query_text(index, asked), joined, asked.facet)


def rerank_hits(
    index: Index,
    asked: SearchQuery,
    hits: Sequence[Hit],
    reranker: Reranker | None,
    top: int,
    k: int,
) -> list[Hit]:
    """The best ``k`` of ``hits`` (first-stage order) once the first ``top`` are reordered
    by ``reranker``; ranks renumbered from 1 (``top`` 0: the first ``k`` as they are)."""
    if top <= 0 or reranker is None or not hits:
        return list(hits[:k])
    text = query_text(index, asked)
    head = list(hits[:top])
    texts = [document_text(index, index.position(h.id)) for h in head]
    try:
        scores = rerank_scores(reranker, text, texts)
    except ValueError as e:
        raise FinesimError(f"rerank: {e}") from None
    order = np.argsort(-scores, kind="stable")
    reordered = []
    for i in order:
        score = float(scores[i])
        first = head[i].score
        reordered.append(
            dataclasses.replace(head[i], score=score, first_stage_score=first, rerank_score=score)
        )
    rest = [dataclasses.replace(h, first_stage_score=h.score) for h in hits[top:]]
    return [dataclasses.replace(h, rank=r) for r, h in enumerate([*reordered, *rest][:k], start=1)]
