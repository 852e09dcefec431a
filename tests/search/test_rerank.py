"""The rerank stage of search: the cross-encoder reorders the top of the first stage's hits,
exactly as sorting them by an independent ``CrossEncoder.predict`` would, and nothing else."""

import numpy as np
import pytest

from finesim import CrossEncoder, Encoder, FinesimError, HybridSearcher, Index, Preset
from finesim.docsim import Doc
from finesim.search.query import SearchQuery
from finesim.search.rerank import RERANK_TOP, rerank_hits
from tests.helpers import build_tiny_cross, papers

DOCS = papers(16)
BY_ID = {d.id: d for d in DOCS}
TEXT = "we propose a contrastive model. a dog runs in the kitchen."


@pytest.fixture(scope="module")
def index(tiny_st):
    return Index.build(Encoder(tiny_st), DOCS, kind="flat", cache=False)


@pytest.fixture(scope="module")
def reranker(tiny_cross):
    return CrossEncoder(tiny_cross)


@pytest.fixture(scope="module")
def reference(tiny_cross):
    """A second instance of the same model: the expected scores come from its own calls."""
    return CrossEncoder(tiny_cross)


def paper_text(ident):
    doc = BY_ID[ident]
    return " ".join([doc.title, *doc.sentences])


def facet_sentences(ident, facet):
    doc = BY_ID[ident]
    return " ".join(s for s, label in zip(doc.sentences, doc.labels, strict=True) if label == facet)


def by_predict(reference, query, hits):
    """The hits' ids sorted by the reference's scores (ties: first-stage order), and them."""
    scores = reference.predict([(query, paper_text(h.id)) for h in hits])
    order = np.argsort(-scores, kind="stable")
    return [hits[i].id for i in order], scores[order]


@pytest.mark.parametrize("facet", [None, "method"])
def test_reranked_order_is_the_pool_sorted_by_predict(index, reranker, reference, facet):
    options = {"query_doc": "p1", "facet": facet, "scoring": "max-sim", "explain": 0}
    first = index.search(**options, k=10)
    hits = index.search(**options, k=10, rerank=reranker, rerank_top=10)
    query = facet_sentences("p1", facet) if facet else paper_text("p1")
    ids, scores = by_predict(reference, query, first)
    assert [h.id for h in hits] == ids
    assert {h.id for h in hits} == {h.id for h in first}  # the first-stage pool, reordered
    np.testing.assert_allclose([h.rerank_score for h in hits], scores, atol=1e-6)
    assert [h.score for h in hits] == [h.rerank_score for h in hits]
    firsts = {h.id: h.score for h in first}
    assert [h.first_stage_score for h in hits] == [firsts[h.id] for h in hits]
    assert [h.rank for h in hits] == list(range(1, 11))
    assert ids != [h.id for h in first]  # the stage changed something (a test that can fail)
    again = index.search(**options, k=10)
    assert [(h.id, h.score) for h in again] == [(h.id, h.score) for h in first]
    # by default the best RERANK_TOP (here: all 15 candidates) are reranked, k returned
    every = index.search(**options, k=len(index))
    deep = index.search(**options, k=10, rerank=reranker)
    assert [h.id for h in deep] == by_predict(reference, query, every)[0][:10]


def test_rerank_top_bounds_what_is_reordered(index, reranker, reference):
    first = index.search(query_doc="p2", scoring="min-l2", k=12, explain=0)
    query = paper_text("p2")
    # the top 4 reordered, the other 8 as they were, without a rerank score
    hits = index.search(query_doc="p2", k=12, explain=0, rerank=reranker, rerank_top=4)
    assert [h.id for h in hits[:4]] == by_predict(reference, query, first[:4])[0]
    assert [(h.id, h.score) for h in hits[4:]] == [(h.id, h.score) for h in first[4:]]
    assert all(h.rerank_score is None and h.first_stage_score == h.score for h in hits[4:])
    # a deeper rerank than k: the best k of the top 12 by the cross-encoder
    top = index.search(query_doc="p2", k=3, explain=0, rerank=reranker, rerank_top=12)
    assert [h.id for h in top] == by_predict(reference, query, first)[0][:3]
    # deeper than the pool: every candidate is reranked
    every = index.search(query_doc="p2", k=15, candidates=15, rerank=reranker, rerank_top=500)
    assert len(every) == 15 and all(h.rerank_score is not None for h in every)
    # 0: no stage at all
    none = index.search(query_doc="p2", k=12, explain=0, rerank=reranker, rerank_top=0)
    assert [h.to_json() for h in none] == [h.to_json() for h in first]
    assert "rerank_score" not in first[0].to_json() and "first_stage_score" not in none[0].to_json()
    assert RERANK_TOP >= 100


def test_text_queries_and_hybrid_scoring_are_reranked(index, reranker, reference):
    first = index.search(TEXT, scoring="max-sim", k=8, explain=0)
    hits = index.search(TEXT, scoring="max-sim", k=8, explain=0, rerank=reranker, rerank_top=8)
    assert [h.id for h in hits] == by_predict(reference, TEXT, first)[0]
    searcher = HybridSearcher(index)
    fused = searcher.search(query_doc="p3", facet="result", k=8, explain=1)
    hybrid = searcher.search(
        query_doc="p3", facet="result", k=8, explain=1, rerank=reranker, rerank_top=8
    )
    ids, scores = by_predict(reference, facet_sentences("p3", "result"), fused)
    assert [h.id for h in hybrid] == ids
    np.testing.assert_allclose([h.score for h in hybrid], scores, atol=1e-6)
    assert all(len(h.pairs) == 1 for h in hybrid)  # explained as before


def test_rerank_errors_are_one_line(index, reranker, tiny_bert, tmp_path):
    with pytest.raises(FinesimError, match="rerank_top needs a cross-encoder"):
        index.search(query_doc="p1", rerank_top=5)
    with pytest.raises(FinesimError, match="rerank_top must be >= 0"):
        index.search(query_doc="p1", rerank=reranker, rerank_top=-1)
    with pytest.raises(FinesimError, match="rerank_top needs a cross-encoder"):
        HybridSearcher(index).search(query_doc="p1", rerank_top=5)
    vectors = SearchQuery(Doc(np.ones((2, index.ann.dim), np.float32)), ())
    hits = index.search(query_doc="p1", k=3, explain=0)
    with pytest.raises(FinesimError, match="query given as vectors has no text"):
        rerank_hits(index, vectors, hits, reranker, 3, 3)
    assert rerank_hits(index, vectors, hits, None, 0, 2) == hits[:2]  # no stage: nothing read
    three = CrossEncoder(build_tiny_cross(tmp_path / "nli", tiny_bert, num_labels=3))
    with pytest.raises(FinesimError, match="one score per pair; this one has 3"):
        index.search(query_doc="p1", rerank=three)
    with pytest.raises(FinesimError, match="weighs the term 'rerank'"):
        HybridSearcher(index).search(query_doc="p1", preset=Preset({"abstract": 1, "rerank": 1}))


def test_a_preset_weighing_rerank_fuses_predict_on_the_hybrid_pool(index, reranker, reference):
    from finesim.fusion.fuse import standardise

    searcher = HybridSearcher(index)
    base = {"abstract": 1.0, "facet-mean": 0.5}
    options = {"query_doc": "p5", "facet": "method", "k": len(index), "candidates": len(index)}
    plain = searcher.search(**options, preset=Preset(base, "zscore"), explain=0)
    mixed = Preset({**base, "rerank": 2.0}, "zscore")
    hits = searcher.search(**options, preset=mixed, rerank=reranker, explain=0)
    # the pool covers the corpus: every other paper, scored by the fused terms
    ids = sorted(h.id for h in plain)
    assert sorted(h.id for h in hits) == ids
    expected_plain = {h.id: h.score for h in plain}
    rerank = reference.predict([(facet_sentences("p5", "method"), paper_text(i)) for i in ids])
    # zscore fusion is a sum over terms: the plain preset's score plus the z-scored rerank's
    expected = 2.0 * standardise(rerank.astype(np.float64))
    want = {i: expected_plain[i] + e for i, e in zip(ids, expected, strict=True)}
    np.testing.assert_allclose([h.score for h in hits], [want[h.id] for h in hits], atol=1e-6)
    assert all(h.rerank_score is None for h in hits)  # the term, not the stage
    # weight 0: the ranking without the cross-encoder, and none is needed
    zero = searcher.search(**options, preset=Preset({**base, "rerank": 0.0}, "zscore"), explain=0)
    assert [(h.id, h.score) for h in zero] == [(h.id, h.score) for h in plain]


def test_deleted_papers_are_never_reranked_back(tiny_st, reranker):
    index = Index.build(Encoder(tiny_st), DOCS, kind="flat", cache=False)
    before = index.search(query_doc="p1", k=15, rerank=reranker)
    gone = [before[0].id, before[3].id]
    index.delete(gone)
    for searcher in (index, HybridSearcher(index)):
        after = searcher.search(query_doc="p1", k=15, rerank=reranker)
        assert not set(gone) & {h.id for h in after}
        assert len(after) == len(index) - 1 == 13  # every other live paper
