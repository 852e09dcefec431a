"""Hybrid scoring in the index: its two stages agree with scoring every paper, its whole
vectors are stored like the rest, and indexes saved before it still open."""

import json

import numpy as np
import pytest

from finesim import Encoder, FinesimError, HybridSearcher, Index, Preset
from finesim.data.documents import Document, whole_text
from finesim.docsim import Doc
from finesim.docsim.docs import facet_text
from finesim.docsim.lexical import Bm25
from finesim.fusion import Candidates, Query, load_preset, term_scores
from finesim.fusion.fuse import fuse
from tests.helpers import corpus, index_of, papers, wholes_of

VECTOR_AND_LEXICAL = Preset(
    {"abstract": 1.0, "max-sim": 0.3, "facet-mean": 0.5, "bm25": 0.2, "bm25-facet": 0.2}
)
RRF = Preset({"abstract": 1.0, "min-l2": 0.5, "facet-abstract": 0.5}, fusion="rrf")


def synthetic(n_docs=60):
    docs, blocks = corpus(n_docs=n_docs)
    wholes = wholes_of(docs)
    return docs, blocks, wholes, index_of(docs, blocks, wholes)


def exhaustive(documents, docs, qid, facet, preset, extra_of):
    """Fused scores of every other paper, best first (ties by position), as ids and scores."""
    others = [i for i, d in enumerate(documents) if d.id != qid]
    query = docs[next(i for i, d in enumerate(documents) if d.id == qid)]
    # the text terms from this test's own formulas (``extra_of``), the rest by fusion
    extra = extra_of([documents[i] for i in others])
    vector_terms = [t for t in preset.terms if t not in extra]
    candidates = Candidates([docs[i] for i in others])
    terms = term_scores(Query(query), candidates, vector_terms, facet=facet)
    scores = fuse({**terms, **extra}, preset)
    order = np.lexsort((others, -scores))
    return [documents[others[i]].id for i in order], scores[order]


def lexical(documents, query, facet):
    """``extra`` for the BM25 terms, from the texts the way CSFCube computes them."""
    texts = {d.id: whole_text(d.title, d.sentences) for d in documents}
    bm25 = Bm25(texts)
    q = next(d for d in documents if d.id == query)
    qdoc = Doc(np.zeros((len(q.sentences), 1)), q.labels)

    def extra_of(others):
        ids = [d.id for d in others]
        return {
            "bm25": bm25.scores(texts[query], ids),
            "bm25-facet": bm25.scores(facet_text(q.sentences, qdoc.labels, facet), ids),
        }

    return extra_of


@pytest.mark.parametrize("preset", [VECTOR_AND_LEXICAL, RRF], ids=["weighted", "rrf"])
@pytest.mark.parametrize("facet", [None, "method"])
def test_hybrid_equals_exhaustive_when_budget_covers_corpus(preset, facet):
    documents, blocks, wholes, index = synthetic()
    docs = [Doc(b, d.labels, w) for d, b, w in zip(documents, blocks, wholes, strict=True)]
    for qid in ["d1", "d7", "d30"]:
        hits = HybridSearcher(index).search(
            query_doc=qid,
            facet=facet,
            scoring="hybrid",
            preset=preset,
            k=len(index),
            candidates=len(index),
            explain=0,
        )
        extra_of = lexical(documents, qid, facet)
        ids, scores = exhaustive(documents, docs, qid, facet, preset, extra_of)
        assert [h.id for h in hits] == ids
        np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-6, atol=1e-9)


def test_hybrid_hits_are_sorted_fused_scores_with_explanations():
    index = synthetic()[3]
    hits = HybridSearcher(index).search(
        query_doc="d3", facet="method", scoring="hybrid", preset=VECTOR_AND_LEXICAL, k=5
    )
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5] and all(h.id != "d3" for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert 0 <= scores[-1] <= scores[0] <= sum(VECTOR_AND_LEXICAL.weights.values())
    assert all(len(h.pairs) >= 1 for h in hits)  # max-sim pairs, up to 3
    assert hits[0].pairs[0].candidate.startswith(f"{hits[0].id} sentence ")
    small = HybridSearcher(index).search(
        query_doc="d3", scoring="hybrid", preset=RRF, k=3, candidates=5
    )
    assert len(small) == 3


@pytest.fixture(scope="module")
def model_index(tiny_st):
    encoder = Encoder(tiny_st)
    return encoder, Index.build(encoder, papers(16), kind="flat", cache=False)


def test_default_preset_with_the_model_equals_exhaustive(model_index):
    encoder, index = model_index
    documents = papers(16)
    preset = load_preset()
    assert {"facet-text", "bm25", "bm25-facet", "title"} <= set(preset.terms)
    wholes = encoder.encode([whole_text(d.title, d.sentences) for d in documents])
    np.testing.assert_allclose(index.wholes, wholes, atol=1e-5)
    vectors = [encoder.encode(d.sentences) for d in documents]
    docs = [Doc(v, d.labels, w) for d, v, w in zip(documents, vectors, wholes, strict=True)]
    query = documents[1]
    qdoc = Doc(vectors[1], query.labels)
    facet_vector = encoder.encode([facet_text(query.sentences, qdoc.labels, "method")])[0]
    bm25_of = lexical(documents, query.id, "method")

    titles = encoder.encode([d.title for d in documents])
    titles = titles / np.linalg.norm(titles, axis=1, keepdims=True)

    def extra_of(others):
        rows = np.stack([wholes[documents.index(d)] for d in others])
        rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        unit = facet_vector / np.linalg.norm(facet_vector)
        title = np.stack([titles[documents.index(d)] for d in others]) @ titles[1]
        return {**bm25_of(others), "facet-text": rows @ unit, "title": title}

    hits = HybridSearcher(index).search(
        query_doc=query.id, facet="method", scoring="hybrid", k=10, candidates=99, explain=1
    )
    ids, scores = exhaustive(documents, docs, query.id, "method", preset, extra_of)
    assert [h.id for h in hits] == ids[:10]
    np.testing.assert_allclose([h.score for h in hits], scores[:10], rtol=1e-4, atol=1e-5)
    assert all(len(h.pairs) == 1 for h in hits)
    by_text = HybridSearcher(index).search(
        "we propose a contrastive model. a dog runs.", scoring="hybrid", k=4
    )
    assert len(by_text) == 4 and by_text[0].score >= by_text[-1].score


def test_title_term_uses_title_vectors(model_index):
    encoder, index = model_index
    documents = papers(16)
    preset = Preset({"abstract": 1.0, "title": 0.7, "facet-mean": 0.3})
    wholes = encoder.encode([whole_text(d.title, d.sentences) for d in documents])
    titles = encoder.encode([d.title for d in documents])
    titles = titles / np.linalg.norm(titles, axis=1, keepdims=True)
    docs = [
        Doc(encoder.encode(d.sentences), d.labels, w)
        for d, w in zip(documents, wholes, strict=True)
    ]
    query = 2

    def extra_of(others):
        return {"title": np.stack([titles[documents.index(d)] for d in others]) @ titles[query]}

    hits = HybridSearcher(index).search(
        query_doc=documents[query].id, scoring="hybrid", preset=preset, k=15, candidates=99
    )
    ids, scores = exhaustive(documents, docs, documents[query].id, None, preset, extra_of)
    assert [h.id for h in hits] == ids
    np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-4, atol=1e-5)
    by_text = HybridSearcher(index).search(
        "a contrastive model of dogs.", scoring="hybrid", preset=preset, k=3
    )
    assert len(by_text) == 3


def test_wholes_survive_save_open_and_add(tmp_path, model_index):
    encoder, built = model_index
    built.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["wholes"] == "wholes.npy" and "wholes.npy" in manifest["files"]
    opened = Index.open(tmp_path / "idx", encoder)
    np.testing.assert_array_equal(opened.wholes, built.wholes)
    before = [
        (h.id, h.score) for h in HybridSearcher(built).search(query_doc="p2", scoring="hybrid", k=5)
    ]
    assert [
        (h.id, h.score)
        for h in HybridSearcher(opened).search(query_doc="p2", scoring="hybrid", k=5)
    ] == (before)
    more = [Document(f"n{i}", d.sentences, d.labels, d.title) for i, d in enumerate(papers(3))]
    opened.add(more, cache=False)
    opened.save()
    again = Index.open(tmp_path / "idx", encoder)
    assert again.wholes is not None and again.wholes.shape == (19, encoder.dim)
    np.testing.assert_allclose(again.wholes[16:], built.wholes[:3], atol=1e-6)
    assert (
        HybridSearcher(again).search(query_doc="n0", scoring="hybrid", k=1)[0].id == "p0"
    )  # same text
    assert manifest["titles"] == "titles.npy" and again.titles is not None
    titles = encoder.encode([d.title for d in papers(16)] + [d.title for d in more])
    np.testing.assert_allclose(again.titles, titles, atol=1e-5)


def test_an_index_without_title_vectors_encodes_them_when_searching(tmp_path, model_index):
    encoder, built = model_index
    built.save(tmp_path / "idx")
    (tmp_path / "idx" / "titles.npy").unlink()  # as saved before the title term
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]["titles.npy"], manifest["titles"]
    path.write_text(json.dumps(manifest))
    old = Index.open(tmp_path / "idx", encoder)
    assert old.titles is None
    preset = Preset({"abstract": 1.0, "title": 1.0})
    hits = HybridSearcher(old).search(query_doc="p3", scoring="hybrid", preset=preset, k=8)
    expected = HybridSearcher(built).search(query_doc="p3", scoring="hybrid", preset=preset, k=8)
    assert [h.id for h in hits] == [h.id for h in expected]
    np.testing.assert_allclose([h.score for h in hits], [h.score for h in expected], atol=1e-5)


def test_old_index_without_wholes_still_searches_and_says_rebuild(tmp_path):
    docs, blocks, _, index = synthetic()
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "wholes.npy").unlink()  # as saved before hybrid scoring
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]["wholes.npy"], manifest["wholes"]
    path.write_text(json.dumps(manifest))
    old = Index.open(tmp_path / "idx")
    assert old.wholes is None
    assert [h.id for h in old.search(query_doc="d3", k=5)] == [
        h.id for h in index.search(query_doc="d3", k=5)
    ]
    with pytest.raises(FinesimError, match="rebuild it with `finesim index build`") as error:
        HybridSearcher(old).search(query_doc="d3", scoring="hybrid")
    assert "\n" not in str(error.value)
    old.add_vectors(docs[:0], np.zeros((0, 16), np.float32))  # nothing added: still fine
    with pytest.raises(FinesimError, match="keeps no whole-document vectors"):
        old.add_vectors(
            [Document("x", ["a"])], np.ones((1, 16), np.float32), np.ones((1, 16), np.float32)
        )


def test_whole_vectors_are_checked(tmp_path):
    docs, blocks, wholes, index = synthetic(20)
    with pytest.raises(FinesimError, match="pass the title\\+abstract vectors"):
        index.add_vectors([Document("x", ["a"])], np.ones((1, 16), np.float32))
    with pytest.raises(FinesimError, match="whole-document vectors of dimension 16"):
        index.add_vectors(
            [Document("x", ["a"])], np.ones((1, 16), np.float32), np.ones((2, 16), np.float32)
        )
    assert index_of(docs, blocks).wholes is None  # built without them: hybrid unavailable
    index.save(tmp_path / "idx")
    target = tmp_path / "idx" / "wholes.npy"
    target.write_bytes(target.read_bytes()[:-4])
    with pytest.raises(FinesimError, match="wholes\\.npy"):
        Index.open(tmp_path / "idx")


def test_preset_errors():
    index = synthetic(20)[3]
    with pytest.raises(FinesimError, match="preset applies to scoring 'hybrid' only"):
        HybridSearcher(index).search(query_doc="d1", scoring="min-l2", preset="default")
    with pytest.raises(FinesimError, match="runs through finesim.HybridSearcher"):
        index.search(query_doc="d1", scoring="hybrid")
    with pytest.raises(FinesimError, match="unknown preset 'nope'"):
        HybridSearcher(index).search(query_doc="d1", scoring="hybrid", preset="nope")
    with pytest.raises(FinesimError, match="needs the index's model"):  # facet-text encodes
        HybridSearcher(index).search(query_doc="d1", scoring="hybrid")


def test_the_searcher_rebuilds_what_it_keeps_when_documents_are_added():
    docs, blocks, wholes, index = synthetic(30)
    searcher = HybridSearcher(index)
    before = searcher.search(query_doc="d3", preset=VECTOR_AND_LEXICAL, k=3)
    assert searcher.bm25() is searcher.bm25()  # built once, kept
    kept = searcher.bm25()
    new, vectors = corpus(n_docs=1, seed=9, prefix="new")
    index.add_vectors(new, np.concatenate(vectors), wholes_of(new))
    assert searcher.bm25() is not kept and "new0" in searcher.bm25().row
    after = searcher.search(query_doc="d3", preset=VECTOR_AND_LEXICAL, k=len(index))
    assert {h.id for h in after} >= {h.id for h in before} | {"new0"}
