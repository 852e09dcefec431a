"""Hybrid search over an index: the fused scores of ``finesim.docsim.hybrid`` in two stages.

Stage 1 pools candidates from each signal a preset can reward, so no strong term is starved:

- always the ``budget`` papers whose whole-document vector (title + abstract, one per paper,
  stored as ``wholes.npy``) is closest in cosine to the query's, exactly, from one product;
- with ``bm25`` / ``bm25-facet`` terms, the ``budget`` best papers by BM25 of the query's whole
  text / its facet sentences (papers sharing no word are not added);
- with sentence terms (``min-l2``, ``max-sim``, ``mean-vec``, ``ot``, ``facet-mean``), the
  ``max-sim`` stage-1 candidates of the facet sentences (the cheap proxy of them all).

The union (in index order) is scored by ``hybrid_scores``; min-max normalisation and RRF ranks
are per pool, so with a budget that covers the corpus the result is exactly the exhaustive one.
The text terms are computed here for the pool: ``facet-text`` from the query's facet sentences
encoded as one text, ``title`` from title vectors (encoded on first use and kept in memory; a
text query has no title, so its whole-text vector stands in), ``bm25`` and ``bm25-facet``
from a BM25 index of the stored documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from finesim.docsim import Doc
from finesim.docsim.hybrid import SENTENCE_TERMS, Preset
from finesim.docsim.lexical import Bm25
from finesim.search.candidates import top_cosine

HYBRID = "hybrid"
POOLED_BY_SENTENCES = (*SENTENCE_TERMS, "facet-mean")
LEXICAL = ("bm25", "bm25-facet")


def whole_text(title: str, sentences: Sequence[str]) -> str:
    """Title and abstract as one text, as ``Paper.text`` makes it for CSFCube."""
    return " ".join([title, *sentences]).strip()


def facet_text(sentences: Sequence[str], doc: Doc, facet: str | None) -> str:
    """The query's sentences of ``facet`` as one text (all of them if it has none)."""
    return " ".join(sentences[i] for i in doc.restrict(facet)[1])


def unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


@dataclass
class HybridQuery:
    """What the terms need of a query besides its sentence vectors."""

    doc: Doc  # sentence vectors, labels and the whole-text vector
    text: str  # whole text (BM25)
    facet_text: str  # facet sentences joined (bm25-facet)
    facet_vector: np.ndarray | None  # facet_text encoded (facet-text), if the preset uses it
    title_vector: np.ndarray | None = None  # its title encoded (title), if the preset uses it


def top_by_whole(
    unit_wholes: np.ndarray, query: np.ndarray, budget: int, exclude: int | None
) -> np.ndarray:
    """The ``budget`` positions with the closest whole vector (cosine), best first."""
    return top_cosine(unit_wholes, query.astype(np.float32), budget, exclude)


def top_by_bm25(
    bm25: Bm25, text: str, budget: int, position: dict[str, int], exclude: int | None
) -> np.ndarray:
    """Positions of the ``budget`` best BM25 papers for ``text`` (positive scores only)."""
    found = [position[i] for i in bm25.top(text, budget + 1)]
    return np.array([p for p in found if p != exclude][:budget], dtype=np.int64)


def lexical_queries(preset: Preset, query: HybridQuery) -> list[str]:
    """The texts whose BM25 top papers join the pool."""
    texts = {"bm25": query.text, "bm25-facet": query.facet_text}
    return [texts[t] for t in LEXICAL if t in preset.terms]


def external_scores(
    preset: Preset,
    query: HybridQuery,
    pool_ids: Sequence[str],
    pool_wholes: np.ndarray,
    bm25: Bm25 | None,
    pool_titles: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The text-based terms of the preset for the pool (``extra`` of ``hybrid_scores``)."""
    extra: dict[str, np.ndarray] = {}
    if "facet-text" in preset.terms:
        assert query.facet_vector is not None
        extra["facet-text"] = unit(pool_wholes) @ unit(query.facet_vector)
    if "title" in preset.terms:
        assert query.title_vector is not None and pool_titles is not None
        extra["title"] = unit(pool_titles) @ unit(query.title_vector)
    if bm25 is not None:
        if "bm25" in preset.terms:
            extra["bm25"] = bm25.scores(query.text, pool_ids)
        if "bm25-facet" in preset.terms:
            extra["bm25-facet"] = bm25.scores(query.facet_text, pool_ids)
    return extra
