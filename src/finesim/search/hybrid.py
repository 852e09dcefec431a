"""Hybrid search: the fused scores of ``finesim.fusion`` over an index, in two stages.

``HybridSearcher(index)`` is a layer over an ``Index``: it asks the index through its public
methods (queries, stage-1 candidates, stored documents and vectors, hits) and owns what it
builds from them; the index never imports it. Data flows one way: query -> candidates ->
scored pool -> hits.

Stage 1 pools candidates from each signal a preset can reward, so no strong term is starved:

- always the ``budget`` papers whose whole-document vector (title + abstract, one per paper,
  stored as ``wholes.npy``) is closest in cosine to the query's, exactly, from one product;
- with ``bm25`` / ``bm25-facet`` terms, the ``budget`` best papers by BM25 of the query's whole
  text / its facet sentences (papers sharing no word are not added);
- with sentence terms (``min-l2``, ``max-sim``, ``mean-vec``, ``ot``, ``facet-mean``), the
  ``max-sim`` stage-1 candidates of the facet sentences (the cheap proxy of them all).

Stage 2 hands the union (in index order) to ``finesim.fusion.hybrid_scores``; min-max
normalisation and RRF ranks are per pool, so with a budget that covers the corpus the result
is exactly the exhaustive one. The searcher supplies what the terms read: the query's facet
sentences encoded as one text, title vectors (the index's own, or encoded on first use and
kept), and a BM25 index of the stored documents (built on first use and kept). A cross-encoder
(``rerank=``) scores the term ``rerank`` on the pool when the preset weighs it, and reorders
the best fused hits afterwards (the rerank stage, ``finesim.search.rerank``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.threads import one_thread
from finesim.data.documents import FACETS, whole_text
from finesim.docsim import Doc
from finesim.docsim.docs import facet_text
from finesim.docsim.lexical import Bm25
from finesim.docsim.scoring import unit
from finesim.fusion.fuse import hybrid_scores
from finesim.fusion.preset import Preset, explaining_term, load_preset
from finesim.fusion.terms import LEXICAL_TERMS, SENTENCE_TERMS, Candidates, Query, Reranker
from finesim.search.candidates import top_cosine
from finesim.search.hits import Hit, top_hits
from finesim.search.index import SCORINGS, default_budget
from finesim.search.query import SearchQuery, whole_query_text
from finesim.search.rerank import RERANK_TOP, document_text, query_text, rerank_depth, rerank_hits

if TYPE_CHECKING:
    from finesim.search.index import Index

HYBRID = "hybrid"
POOLED_BY_SENTENCES = (*SENTENCE_TERMS, "facet-mean")


class HybridSearcher:
    """Search one index with scoring ``hybrid`` (other scorings pass through to the index).

    What it builds over the index's documents (unit whole vectors, BM25, encoded titles) is
    kept here and rebuilt when documents are added to the index.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self._generation = -1
        self._units: np.ndarray | None = None
        self._bm25: Bm25 | None = None
        self._titles: dict[int, np.ndarray] = {}

    def search(
        self,
        query: str | Sequence[str] | None = None,
        *,
        query_doc: str | None = None,
        facet: str | None = None,
        scoring: str = HYBRID,
        k: int = 10,
        candidates: int | None = None,
        explain: int = 3,
        include_self: bool = False,
        preset: str | Preset | None = None,
        rerank: Reranker | None = None,
        rerank_top: int | None = None,
    ) -> list[Hit]:
        """``Index.search`` with scoring ``hybrid`` too: ``preset`` is a shipped preset name, a
        JSON file or a ``Preset`` (default: ``default``); hits carry its fused scores.

        ``rerank``: a cross-encoder. It scores the term ``rerank`` of a preset that weighs
        it, on the fused pool; and it reorders the best ``rerank_top`` fused hits (the rerank
        stage, ``finesim.search.rerank``): by default ``RERANK_TOP`` of them, none when the
        preset weighs ``rerank`` already (fusion has used the cross-encoder)."""
        index = self.index
        if scoring not in (*SCORINGS, HYBRID):
            known = ", ".join((*SCORINGS, HYBRID))
            raise FinesimError(f"unknown scoring {scoring!r}; one of {known}")
        if scoring != HYBRID:
            if preset is not None:
                raise FinesimError(f"a preset applies to scoring {HYBRID!r} only, not {scoring!r}")
            return index.search(
                query,
                query_doc=query_doc,
                facet=facet,
                scoring=scoring,
                k=k,
                candidates=candidates,
                explain=explain,
                include_self=include_self,
                rerank=rerank,
                rerank_top=rerank_top,
            )
        if facet is not None and facet not in FACETS:
            raise FinesimError(f"unknown facet {facet!r}; one of {', '.join(FACETS)}")
        if k < 1:
            raise FinesimError("k must be at least 1")
        chosen = self.preset(preset)
        if chosen.reranks and rerank is None:
            raise FinesimError(
                f"preset {chosen.name or 'given'!r} weighs the term 'rerank': give a "
                "cross-encoder to score it (rerank=, --rerank MODEL)"
            )
        top = rerank_depth(rerank, rerank_top, 0 if chosen.reranks else RERANK_TOP)
        asked = index.query(query, query_doc=query_doc, facet=facet, include_self=include_self)
        if top or chosen.reranks:
            query_text(index, asked)  # a query without text cannot be reranked: say so first
        terms_query = self.fusion_query(asked, chosen)
        with one_thread():
            budget = min(candidates or default_budget(HYBRID, k), len(index))
            found = self.scored_pool(asked, terms_query, chosen, budget, rerank)
            if found is None:
                return []
            pool, docs, scores = found
            why = explaining_term(chosen)
            wanted = max(k, top)
            hits = top_hits(index, asked, pool, docs, scores, why=why, k=wanted, explain=explain)
        return rerank_hits(index, asked, hits, rerank, top, k)

    def preset(self, preset: str | Preset | None) -> Preset:
        """The preset to use, once the index is known to have what hybrid scoring needs."""
        if self.index.wholes is None:
            path = self.index.path
            where = f" {path}" if path is not None else ""
            raise FinesimError(
                f"the index{where} has no whole-document vectors (it predates hybrid scoring "
                "or was built from vectors without them): rebuild it with `finesim index "
                "build` to search with scoring 'hybrid'"
            )
        return preset if isinstance(preset, Preset) else load_preset(preset)

    # ---- the query and the two stages -------------------------------------------------

    def fusion_query(self, asked: SearchQuery, preset: Preset) -> Query:
        """What the terms read of the query: stored for an indexed paper, else encoded (the
        whole text and the facet text in one encoder call, once if they are the same text)."""
        index = self.index
        assert index.wholes is not None
        joined = facet_text(asked.texts, asked.doc.labels, asked.facet)
        text = whole_query_text(index, asked)
        wanted = ([] if asked.paper is not None else [text]) + (
            [joined] if "facet-text" in preset.terms else []
        )
        encoded = self._encode(wanted, "a text query or hybrid term 'facet-text'")
        title = None  # a text query has no title: its whole-text vector stands in
        if asked.paper is not None:
            position = index.position(asked.paper)
            whole = index.wholes[position]
            if "title" in preset.terms:
                title = self.titles([position])[0]
        else:
            whole = encoded[text]
        doc = Doc(asked.doc.vectors, asked.doc.labels, whole)
        return Query(doc, text, joined, encoded.get(joined), title)

    def pool(
        self, query: Query, facet: str | None, preset: Preset, budget: int, exclude: int | None
    ) -> np.ndarray:
        """Stage 1: the union of each signal's top papers, in index order."""
        assert query.doc.whole is not None
        wholes = self._unit_wholes()
        skip = self.index.tombstones.left_out(exclude)  # and deleted papers
        parts = [top_cosine(wholes, query.doc.whole.astype(np.float32), budget, skip)]
        if set(LEXICAL_TERMS) & set(preset.terms):
            bm25 = self.bm25()
            texts = {"bm25": query.text, "bm25-facet": query.facet_text}
            for term in LEXICAL_TERMS:
                if term in preset.terms:
                    found = [self.index.position(i) for i in bm25.top(texts[term], budget + 1)]
                    best = [p for p in found if p != exclude][:budget]
                    parts.append(np.array(best, dtype=np.int64))
        if set(POOLED_BY_SENTENCES) & set(preset.terms):
            vectors = query.doc.restrict(facet)[0].vectors
            parts.append(self.index.stage_one_pool(vectors, "max-sim", budget, exclude))
        return np.unique(np.concatenate(parts)).astype(np.int64)

    def scored_pool(
        self,
        asked: SearchQuery,
        query: Query,
        preset: Preset,
        budget: int,
        reranker: Reranker | None = None,
    ) -> tuple[np.ndarray, list[Doc], np.ndarray] | None:
        """Stage 2: the pool's documents and their fused scores (None: an empty pool);
        ``reranker`` scores the term ``rerank`` on the pool."""
        index = self.index
        assert index.wholes is not None
        pool = self.pool(query, asked.facet, preset, budget, asked.exclude)
        if len(pool) == 0:
            return None
        docs = [
            Doc(d.vectors, d.labels, index.wholes[p])
            for d, p in zip(index.docs_at(pool), pool, strict=True)
        ]
        bm25 = self.bm25() if set(LEXICAL_TERMS) & set(preset.terms) else None
        titles = self.titles(pool) if "title" in preset.terms else None
        texts = [document_text(index, int(p)) for p in pool] if preset.reranks else []
        found = Candidates(docs, [index.ids[p] for p in pool], bm25, titles, texts)
        try:
            scores, _ = hybrid_scores(query, found, preset, facet=asked.facet, reranker=reranker)
        except ValueError as e:  # a reranker with more than one score
            raise FinesimError(f"hybrid scoring: {e}") from None
        return pool, docs, scores

    # ---- what the searcher builds over the index (kept until documents are added) ------

    def _fresh(self) -> None:
        if self._generation != self.index.generation:
            self._units, self._bm25, self._titles = None, None, {}
            self._generation = self.index.generation

    def _unit_wholes(self) -> np.ndarray:
        self._fresh()
        if self._units is None:
            assert self.index.wholes is not None
            self._units = unit(self.index.wholes)
        return self._units

    def bm25(self) -> Bm25:
        """BM25 over every live document's title + abstract, built on first use, kept."""
        self._fresh()
        if self._bm25 is None:
            index = self.index
            deleted = set(index.tombstones.positions.tolist())
            texts = {
                ident: whole_text(str(record.get("title") or ""), record["sentences"])
                for position, (ident, record) in enumerate(
                    zip(index.ids, index.docs.records(), strict=True)
                )
                if position not in deleted
            }
            self._bm25 = Bm25(texts)
        return self._bm25

    def titles(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """Title vectors of documents (term ``title``): the index's own, or (an index built
        without them) encoded once and kept."""
        index = self.index
        if index.titles is not None:
            return index.titles[np.asarray(positions, dtype=np.int64)]
        self._fresh()
        missing = [int(p) for p in positions if int(p) not in self._titles]
        if missing:
            if index.encoder is None:
                raise FinesimError("hybrid term 'title' needs the index's model (Index.use)")
            texts = [str(index.docs.get(p).get("title") or "") for p in missing]
            from finesim.models.cache import task_options

            vectors = index.encoder.encode(texts, **task_options(index.encoder, "document"))
            self._titles.update(zip(missing, np.asarray(vectors, np.float32), strict=True))
        return np.stack([self._titles[int(p)] for p in positions])

    def _encode(self, texts: list[str], why: str) -> dict[str, np.ndarray]:
        """Each distinct text's vector, from one encoder call."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return {}
        if self.index.encoder is None:
            raise FinesimError(f"{why} needs the index's model (Index.use(encoder))")
        from finesim.models.cache import task_options

        options = task_options(self.index.encoder, "query")  # query texts and facets
        vectors = np.asarray(self.index.encoder.encode(unique, **options), dtype=np.float32)
        return dict(zip(unique, vectors, strict=True))
