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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.documents import whole_text
from finesim.docsim import Doc
from finesim.docsim.docs import facet_text
from finesim.docsim.hybrid import SENTENCE_TERMS, Preset, hybrid_scores, load_preset
from finesim.docsim.lexical import Bm25
from finesim.docsim.scoring import unit
from finesim.search.candidates import top_cosine

if TYPE_CHECKING:
    from finesim.search.index import Index

HYBRID = "hybrid"
POOLED_BY_SENTENCES = (*SENTENCE_TERMS, "facet-mean")
LEXICAL = ("bm25", "bm25-facet")


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
    bm25: Bm25, text: str, budget: int, position: Callable[[str], int], exclude: int | None
) -> np.ndarray:
    """Positions of the ``budget`` best BM25 papers for ``text`` (positive scores only)."""
    found = [position(i) for i in bm25.top(text, budget + 1)]
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


# ---- the two stages over an Index ------------------------------------------------------


@dataclass
class Cache:
    """What hybrid search builds over an index's documents on first use; an index replaces
    it when documents are added (positions stay valid, the BM25 vocabulary does not)."""

    units: np.ndarray | None = None  # unit whole vectors (stage 1)
    bm25: Bm25 | None = None  # over every title + abstract
    titles: dict[int, np.ndarray] = field(default_factory=dict)  # position -> title vector


def check_preset(index: Index, preset: str | Preset | None) -> Preset:
    """The preset to use, once the index is known to have what hybrid scoring needs."""
    if index.wholes is None:
        where = f" {index.path}" if index.path is not None else ""
        raise FinesimError(
            f"the index{where} has no whole-document vectors (it predates hybrid scoring "
            "or was built from vectors without them): rebuild it with `finesim index "
            "build` to search with scoring 'hybrid'"
        )
    return preset if isinstance(preset, Preset) else load_preset(preset)


def _encode(index: Index, texts: list[str], why: str) -> dict[str, np.ndarray]:
    """Each distinct text's vector, from one encoder call."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    if index.encoder is None:
        raise FinesimError(f"{why} needs the index's model (Index.use(encoder))")
    vectors = np.asarray(index.encoder.encode(unique), dtype=np.float32)
    return dict(zip(unique, vectors, strict=True))


def hybrid_query(
    index: Index,
    qdoc: Doc,
    qtexts: Sequence[str],
    query_doc: str | None,
    facet: str | None,
    preset: Preset,
) -> HybridQuery:
    """The query's whole vector and texts: stored for an indexed paper, else encoded (the
    whole text and the facet text in one encoder call, once if they are the same text)."""
    assert index.wholes is not None
    joined = facet_text(qtexts, qdoc.labels, facet)
    if query_doc is not None:
        position = index.position(query_doc)
        text = whole_text(str(index.docs.get(position).get("title") or ""), qtexts)
    else:
        text = " ".join(qtexts)
    wanted = ([] if query_doc is not None else [text]) + (
        [joined] if "facet-text" in preset.terms else []
    )
    encoded = _encode(index, wanted, "a text query or hybrid term 'facet-text'")
    if query_doc is not None:
        whole = index.wholes[position]
        title_vector = titles_of(index, [position])[0] if "title" in preset.terms else None
    else:
        whole = encoded[text]
        title_vector = whole  # a text query has no title: its whole-text vector stands in
    query = Doc(qdoc.vectors, qdoc.labels, whole)
    return HybridQuery(query, text, joined, encoded.get(joined), title_vector)


def titles_of(index: Index, positions: Sequence[int] | np.ndarray) -> np.ndarray:
    """Title vectors of documents (term ``title``): the index's own, or (an index built
    without them) encoded once and kept in the cache."""
    if index.titles is not None:
        return index.titles[np.asarray(positions, dtype=np.int64)]
    cached = index.hybrid_cache.titles
    missing = [int(p) for p in positions if int(p) not in cached]
    if missing:
        if index.encoder is None:
            raise FinesimError("hybrid term 'title' needs the index's model (Index.use)")
        titles = [str(index.docs.get(p).get("title") or "") for p in missing]
        vectors = index.encoder.encode(titles)
        cached.update(zip(missing, np.asarray(vectors, np.float32), strict=True))
    return np.stack([cached[int(p)] for p in positions])


def unit_wholes(index: Index) -> np.ndarray:
    assert index.wholes is not None
    if index.hybrid_cache.units is None:
        index.hybrid_cache.units = unit(index.wholes)
    return index.hybrid_cache.units


def lexical_index(index: Index) -> Bm25:
    """BM25 over every document's title + abstract, built on first use, kept in memory."""
    if index.hybrid_cache.bm25 is None:
        texts = {
            ident: whole_text(str(record.get("title") or ""), record["sentences"])
            for ident, record in zip(index.ids, index.docs.records(), strict=True)
        }
        index.hybrid_cache.bm25 = Bm25(texts)
    return index.hybrid_cache.bm25


def pool_of(
    index: Index,
    query: HybridQuery,
    facet: str | None,
    preset: Preset,
    budget: int,
    exclude: int | None,
) -> np.ndarray:
    """Stage 1: the union of each signal's top papers, in index order."""
    assert query.doc.whole is not None
    parts = [top_by_whole(unit_wholes(index), query.doc.whole, budget, exclude)]
    if set(LEXICAL) & set(preset.terms):
        bm25 = lexical_index(index)
        for text in lexical_queries(preset, query):
            parts.append(top_by_bm25(bm25, text, budget, index.position, exclude))
    if set(POOLED_BY_SENTENCES) & set(preset.terms):
        vectors = query.doc.restrict(facet)[0].vectors
        parts.append(index.stage_one_pool(vectors, "max-sim", budget, exclude))
    return np.unique(np.concatenate(parts)).astype(np.int64)


def scored_pool(
    index: Index,
    query: HybridQuery,
    facet: str | None,
    preset: Preset,
    budget: int,
    exclude: int | None,
) -> tuple[np.ndarray, list[Doc], np.ndarray] | None:
    """Stage 2: the pool's documents and their fused scores (None: an empty pool)."""
    assert index.wholes is not None
    pool = pool_of(index, query, facet, preset, budget, exclude)
    if len(pool) == 0:
        return None
    docs = [
        Doc(d.vectors, d.labels, index.wholes[p])
        for d, p in zip(index.docs_at(pool), pool, strict=True)
    ]
    bm25 = lexical_index(index) if set(LEXICAL) & set(preset.terms) else None
    ids = [index.ids[p] for p in pool]
    titles = titles_of(index, pool) if "title" in preset.terms else None
    extra = external_scores(preset, query, ids, index.wholes[pool], bm25, titles)
    scores, _ = hybrid_scores(query.doc, docs, preset, facet=facet, extra=extra)
    return pool, docs, scores
