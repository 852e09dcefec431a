"""Search results: the top of a scored pool as ``Hit``s, each explained by sentence pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim.data.documents import LABELS, facet_of
from finesim.docsim import Doc, Match, score_candidates
from finesim.search.query import SearchQuery

if TYPE_CHECKING:
    from finesim.search.index import Index

NO_LABEL = -1  # a sentence without a facet label (labels.npy)


@dataclass(frozen=True)
class Pair:
    """Why a hit matched: one query sentence, one of the hit's sentences, and how close."""

    query: str
    query_facet: str | None
    candidate: str
    candidate_facet: str | None
    distance: float
    similarity: float
    weight: float | None = None  # transport mass (ot only)


@dataclass
class Hit:
    """One result: ``score`` is what the hits are ordered by. After a rerank stage
    (``finesim.search.rerank``) ``first_stage_score`` is the score before it and
    ``rerank_score`` the cross-encoder's (None: below the reranked top, or no stage)."""

    rank: int
    id: str
    title: str
    score: float
    pairs: list[Pair]
    fields: dict[str, Any] = field(default_factory=dict)  # other fields of the document
    first_stage_score: float | None = None
    rerank_score: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["pairs"] = [{k: v for k, v in p.items() if v is not None} for p in out["pairs"]]
        if not self.fields:
            out.pop("fields")
        for name in ("first_stage_score", "rerank_score"):
            if out[name] is None:
                out.pop(name)
        return out


def top_hits(
    index: Index,
    query: SearchQuery,
    pool: np.ndarray,
    docs: Sequence[Doc],
    scores: np.ndarray,
    *,
    why: str,
    k: int,
    explain: int,
) -> list[Hit]:
    """The top ``k`` of the scored pool (ties by position), explained by scorer ``why``."""
    order = np.lexsort((pool, -scores))[:k]
    matches: list[list[Match]] = [[] for _ in order]
    if explain > 0:
        chosen = [docs[i] for i in order]
        explained = score_candidates(query.doc, chosen, why, facet=query.facet, explain=explain)
        matches = explained[1] or matches
    return [
        _hit(index, rank, int(pool[i]), float(scores[i]), query, found)
        for rank, (i, found) in enumerate(zip(order, matches, strict=True), start=1)
    ]


def _hit(
    index: Index,
    rank: int,
    position: int,
    score: float,
    query: SearchQuery,
    matches: Sequence[Match],
) -> Hit:
    record = index.docs.get(position)
    first = int(index.doc_start[position])
    labels = query.doc.labels
    pairs = []
    for m in matches:
        code = int(index.labels[first + m.candidate])
        pairs.append(
            Pair(
                query.texts[m.query],
                facet_of(labels[m.query]) if labels is not None else None,
                record["sentences"][m.candidate],
                facet_of(LABELS[code]) if code != NO_LABEL else None,
                m.distance,
                m.similarity,
                m.weight,
            )
        )
    fields = {k: v for k, v in record.items() if k not in ("id", "title", "sentences")}
    return Hit(rank, index.ids[position], str(record.get("title", "")), score, pairs, fields)
