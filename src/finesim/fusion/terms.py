"""The hybrid terms: what each one means, and the one place where each is computed.

Why hybrid at all: each scorer sees something the others miss (the whole abstract's topic,
the best matching facet sentences, exact technical words). Search, CSFCube and BEIR hand
``term_scores`` a query and its candidates as ``Query`` and ``Candidates``; none of them
computes a term itself, so a term means the same everywhere.

Terms (higher = more similar):

- ``abstract``: cosine of the whole-document vectors (title + abstract);
- ``min-l2``, ``max-sim``, ``mean-vec``, ``ot``: the facet-sentence scorers of
  ``finesim.docsim.scoring``;
- ``facet-abstract``: mean cosine of the query's facet sentences with the candidate's whole
  vector;
- ``facet-mean``: cosine of the mean of the query's facet sentences with the mean of the
  candidate's sentences *of the same facet* (all of them if it has none): the one term that
  uses the candidate's facet labels too;
- ``facet-text``: cosine of the query's facet sentences encoded as one text with the
  candidate's whole vector;
- ``title``: cosine of the query's title vector with the candidate's title vector (titles
  name a paper's topic and method tersely);
- ``bm25``: BM25 of the query's whole text against the candidate's title + abstract;
- ``bm25-facet``: BM25 of the query's facet sentences against the candidate's text;
- ``rerank``: a cross-encoder's score of (the query's rerank text, the candidate's title +
  abstract), on the candidates the hybrid scorer already scores (each query's first-stage
  pool), never on the whole collection. The query's rerank text is its facet sentences as one
  text when the query is faceted (what a facet judgment is about), else its whole text; the
  candidate side is always its title + abstract (its own facet labels are a tagger's guess,
  and a match on the query's facet may sit in any of its sentences). It needs a cross-encoder
  (``term_scores(..., reranker=)``), an input like the encoder; without one the term is
  absent, which is why it is not in ``TERMS`` (the terms an encoder alone gives) but in
  ``ALL_TERMS``. The rerank stage of search (``finesim.search.rerank``) scores the same pairs.

Where a side has no title (a text query; BEIR, whose documents and queries have none), its
whole-text vector stands in for ``title``. Where documents have no facets (BEIR), a document
is its whole text as one sentence, so the facet text is the whole text: ``max-sim`` and
``facet-text`` are then the whole-text cosine, ``min-l2`` and ``ot`` minus the L2 distance,
and ``bm25-facet`` is ``bm25``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from finesim.docsim.docs import Doc
from finesim.docsim.lexical import Bm25
from finesim.docsim.scoring import score_candidates, unit

SENTENCE_TERMS = ("min-l2", "max-sim", "mean-vec", "ot")
VECTOR_TERMS = ("abstract", *SENTENCE_TERMS, "facet-abstract", "facet-mean")
TEXT_TERMS = ("facet-text", "title", "bm25", "bm25-facet")  # need texts or text vectors
LEXICAL_TERMS = ("bm25", "bm25-facet")
TERMS = (*VECTOR_TERMS, *TEXT_TERMS)  # what an encoder alone gives
RERANK = "rerank"
ALL_TERMS = (*TERMS, RERANK)  # with a cross-encoder too


class Reranker(Protocol):
    """What the ``rerank`` term and the rerank stage read of a cross-encoder: a
    ``finesim.CrossEncoder``, or a server's one whose calls queue in its batcher."""

    @property
    def num_labels(self) -> int: ...

    def predict(self, pairs: Sequence[tuple[str, str]]) -> Any: ...


@dataclass
class Query:
    """What the terms read of a query.

    ``doc``: its sentence vectors, facet labels and whole-text vector; ``text`` its whole text
    and ``facet_text`` its facet sentences as one text (BM25); ``facet_vector`` that facet
    text encoded (``facet-text``); ``title`` its title vector (None: it has no title, and its
    whole-text vector stands in). A field a preset's terms do not read may stay empty (the
    text terms ``bm25``, ``bm25-facet`` and ``rerank`` read no vectors).
    """

    doc: Doc = field(default_factory=lambda: Doc(np.zeros((0, 0), dtype=np.float32)))
    text: str = ""
    facet_text: str = ""
    facet_vector: np.ndarray | None = None
    title: np.ndarray | None = None


@dataclass
class Candidates:
    """What the terms read of the candidates of one query.

    ``docs``: sentence vectors, labels and whole vector of each; ``ids`` their ids in
    ``bm25`` (a BM25 index over the collection's title + abstract texts); ``titles`` one
    title vector per candidate (None: they have none, their whole vectors stand in);
    ``texts`` their title + abstract texts (``rerank``). ``docs`` may stay empty when only
    text terms are scored.
    """

    docs: Sequence[Doc] = ()
    ids: Sequence[str] = ()
    bm25: Bm25 | None = None
    titles: np.ndarray | None = None
    texts: Sequence[str] = ()


def rerank_text(text: str, facet_text: str, facet: str | None) -> str:
    """The query side of the cross-encoder's pairs: the facet sentences of a faceted query,
    else the whole text."""
    return facet_text if facet is not None and facet_text.strip() else text


def rerank_scores(reranker: Reranker, query: str, texts: Sequence[str]) -> np.ndarray:
    """The cross-encoder's score of (``query``, each of ``texts``), one float each (its
    ``predict`` batches the pairs by length)."""
    if reranker.num_labels != 1:
        raise ValueError(f"a reranker gives one score per pair, not {reranker.num_labels}")
    if not texts:
        return np.zeros(0, dtype=np.float64)
    scores = np.asarray(reranker.predict([(query, t) for t in texts]), dtype=np.float64)
    return scores.reshape(len(texts))


def term_scores(
    query: Query,
    candidates: Candidates,
    terms: Sequence[str],
    *,
    facet: str | None = None,
    reranker: Reranker | None = None,
) -> dict[str, np.ndarray]:
    """Raw scores of each of ``terms`` for every candidate (in ``candidates`` order);
    ``reranker`` scores the ``rerank`` term."""
    unknown = [t for t in terms if t not in ALL_TERMS]
    if unknown:
        raise ValueError(f"unknown term {unknown[0]!r}; terms: {', '.join(ALL_TERMS)}")
    docs = candidates.docs
    out: dict[str, np.ndarray] = {}
    for term in terms:
        if term == RERANK:
            out[term] = _rerank_term(query, candidates, facet, reranker)
        elif term == "facet-text":
            if query.facet_vector is None:
                raise ValueError("term 'facet-text' needs the query's facet text encoded")
            out[term] = _wholes(docs, term) @ unit(query.facet_vector)
        elif term == "title":
            out[term] = _titles(candidates, term) @ unit(_query_title(query))
        elif term in LEXICAL_TERMS:
            if candidates.bm25 is None:
                raise ValueError(f"term {term!r} needs a BM25 index of the candidates")
            text = query.text if term == "bm25" else query.facet_text
            out[term] = candidates.bm25.scores(text, candidates.ids)
        elif term == "facet-abstract":
            q = unit(query.doc.restrict(facet)[0].vectors.astype(np.float64))
            out[term] = (q @ _wholes(docs, term, np.float64).T).mean(axis=0)
        elif term == "facet-mean":
            c = np.stack([_mean_unit(d, facet) for d in docs])
            out[term] = c @ _mean_unit(query.doc, facet)
        else:
            out[term] = score_candidates(query.doc, docs, term, facet=facet)[0]
        out[term] = np.asarray(out[term], dtype=np.float64)
    return out


def _rerank_term(
    query: Query, candidates: Candidates, facet: str | None, reranker: Reranker | None
) -> np.ndarray:
    if reranker is None:
        raise ValueError("term 'rerank' needs a cross-encoder (a reranker)")
    docs, texts = candidates.docs, candidates.texts
    if not texts or (docs and len(texts) != len(docs)):
        raise ValueError("term 'rerank' needs the title + abstract of every candidate")
    text = rerank_text(query.text, query.facet_text, facet)
    return rerank_scores(reranker, text, candidates.texts)


def _wholes(docs: Sequence[Doc], term: str, dtype: type | None = None) -> np.ndarray:
    """The candidates' unit whole-document vectors (normalised in ``dtype`` if given)."""
    if any(d.whole is None for d in docs):
        raise ValueError(f"term {term!r} needs a whole-document vector for every candidate")
    stacked = np.stack([d.whole for d in docs])  # type: ignore[misc]
    return unit(stacked if dtype is None else stacked.astype(dtype))


def _titles(candidates: Candidates, term: str) -> np.ndarray:
    if candidates.titles is None:  # no titles: the whole-text vectors stand in
        return _wholes(candidates.docs, term)
    return unit(candidates.titles)


def _query_title(query: Query) -> np.ndarray:
    if query.title is not None:
        return query.title
    if query.doc.whole is None:
        raise ValueError("term 'title' needs the query's title or whole-text vector")
    return query.doc.whole


def _mean_unit(doc: Doc, facet: str | None) -> np.ndarray:
    return unit(unit(doc.restrict(facet)[0].vectors.astype(np.float64)).mean(axis=0))
