import json

import numpy as np
import pytest

from finesim import FinesimError, Preset
from finesim.docsim import Doc, score_candidates
from finesim.docsim.lexical import Bm25
from finesim.fusion import Candidates, Query, hybrid_scores, load_preset, preset_names, term_scores
from finesim.fusion.fuse import fuse, normalise, ranks, standardise


def _docs(seed=0):
    rng = np.random.default_rng(seed)
    query = Doc(rng.normal(size=(3, 4)), ["background", "method", "method"], rng.normal(size=4))
    cands = [Doc(rng.normal(size=(n, 4)), None, rng.normal(size=4)) for n in (2, 3, 1, 4)]
    return query, cands


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_normalise_and_ranks():
    assert normalise(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert normalise(np.array([1.0, 1.0])).tolist() == [0.0, 0.0]
    assert ranks(np.array([0.1, 0.9, 0.5])).tolist() == [3.0, 1.0, 2.0]


def test_weights_are_respected():
    terms = {"abstract": np.array([0.0, 1.0, 0.5]), "bm25": np.array([10.0, 0.0, 20.0])}
    alone = fuse(terms, Preset({"abstract": 1.0, "bm25": 0.0}))
    assert alone.tolist() == [0.0, 1.0, 0.5]  # weight 0: the term is ignored
    mixed = fuse(terms, Preset({"abstract": 1.0, "bm25": 3.0}))
    assert mixed.tolist() == pytest.approx([0.0 + 1.5, 1.0, 0.5 + 3.0])
    assert np.argmax(fuse(terms, Preset({"abstract": 1.0, "bm25": 0.1}))) == 1
    assert np.argmax(fuse(terms, Preset({"abstract": 1.0, "bm25": 10.0}))) == 2
    rrf = fuse(terms, Preset({"abstract": 2.0, "bm25": 1.0}, "rrf", rrf_k=1.0))
    assert rrf.tolist() == pytest.approx([2 / 4 + 1 / 3, 2 / 2 + 1 / 4, 2 / 3 + 1 / 2])
    with pytest.raises(ValueError, match="no scores for term 'ot'"):
        fuse(terms, Preset({"ot": 1.0}))


def test_presets_are_validated():
    with pytest.raises(ValueError, match="unknown term"):
        Preset({"cosine": 1.0})
    with pytest.raises(ValueError, match="positive weight"):
        Preset({"abstract": 0.0})
    with pytest.raises(ValueError, match="unknown fusion"):
        Preset({"abstract": 1.0}, "max")


def test_a_single_term_preset_ranks_like_its_scorer():
    query, cands = _docs()
    for term in ("min-l2", "max-sim", "ot", "abstract"):
        fused, _ = hybrid_scores(
            Query(query), Candidates(cands), Preset({term: 1.0}), facet="method"
        )
        plain, _ = score_candidates(query, cands, term, facet="method")
        assert np.argsort(-fused).tolist() == np.argsort(-plain).tolist()


def test_explanations_name_sentences_and_text_terms_need_their_inputs():
    query, cands = _docs()
    preset = Preset({"abstract": 1.0, "min-l2": 0.5, "bm25": 0.3})
    texts = {"a": "graph parsing", "b": "neural parsing of graphs", "c": "parsing", "d": "cats"}
    bm25 = Bm25(texts)
    asked = Query(query, text="neural parsing")
    found = Candidates(cands, list(texts), bm25)
    scores, why = hybrid_scores(asked, found, preset, facet="method", explain=2)
    assert len(scores) == 4 and why is not None
    assert all(m.query in (1, 2) for matches in why for m in matches)  # method sentences only
    assert len(why[0]) == 2
    with pytest.raises(ValueError, match="needs a BM25 index"):
        hybrid_scores(asked, Candidates(cands), preset, facet="method")
    with pytest.raises(ValueError, match="facet text encoded"):
        term_scores(asked, found, ["facet-text"])
    facet_abstract = term_scores(Query(query), found, ["facet-abstract"], facet="method")
    q = query.vectors[1:] / np.linalg.norm(query.vectors[1:], axis=1, keepdims=True)
    c = cands[0].whole / np.linalg.norm(cands[0].whole)
    assert facet_abstract["facet-abstract"][0] == pytest.approx((q @ c).mean())


def test_shipped_and_file_presets_load(tmp_path):
    assert "default" in preset_names()
    default = load_preset(None)
    assert default.terms and default.name == "default"
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"weights": {"abstract": 1, "bm25": 0.5}, "fusion": "rrf"}))
    loaded = load_preset(str(path))
    assert loaded.fusion == "rrf" and loaded.weights["bm25"] == 0.5
    path.write_text(json.dumps({"weights": {"cosine": 1}}))
    with pytest.raises(FinesimError, match="bad preset"):
        load_preset(str(path))
    with pytest.raises(FinesimError, match="unknown preset"):
        load_preset("no-such-preset")


def test_facet_mean_uses_the_candidates_facet_sentences():
    q = Doc(np.array([[1.0, 0.0], [0.0, 1.0]]), ["background", "method"])
    # candidate 0: its method sentence points like the query's; candidate 1: the reverse
    c0 = Doc(np.array([[1.0, 0.0], [0.0, 2.0]]), ["background", "method"])
    c1 = Doc(np.array([[0.0, 1.0], [3.0, 0.0]]), ["background", "method"])
    unlabelled = Doc(np.array([[1.0, 1.0], [1.0, 1.0]]))  # no labels: all sentences
    found = Candidates([c0, c1, unlabelled])
    scores = term_scores(Query(q), found, ["facet-mean"], facet="method")["facet-mean"]
    assert scores.tolist() == pytest.approx([1.0, 0.0, np.sqrt(0.5)])
    found = Candidates([c0, c1])
    on_background = term_scores(Query(q), found, ["facet-mean"], facet="background")["facet-mean"]
    assert on_background.tolist() == pytest.approx([1.0, 0.0])


def test_zscore_fusion_standardises_each_term():
    terms = {"abstract": np.array([0.0, 1.0, 2.0]), "bm25": np.array([0.0, 0.0, 30.0])}
    z = fuse(terms, Preset({"abstract": 1.0, "bm25": 0.5}, fusion="zscore"))
    expected = standardise(terms["abstract"]) + 0.5 * standardise(terms["bm25"])
    assert z.tolist() == pytest.approx(expected.tolist())
    assert standardise(np.array([1.0, 3.0])).tolist() == [-1.0, 1.0]
    assert standardise(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


def test_text_terms_are_computed_from_what_the_sides_supply():
    query, cands = _docs()
    rng = np.random.default_rng(5)
    facet_vector, title = rng.normal(size=4), rng.normal(size=4)
    titles = rng.normal(size=(4, 4))
    texts = {"a": "graph parsing", "b": "neural parsing of graphs", "c": "parsing", "d": "cats"}
    bm25 = Bm25(texts)
    asked = Query(query, "neural parsing", "graphs", facet_vector, title)
    found = Candidates(cands, list(texts), bm25, titles)
    scores = term_scores(asked, found, ["facet-text", "title", "bm25", "bm25-facet"])
    wholes = _unit(np.stack([c.whole for c in cands]))
    assert scores["facet-text"] == pytest.approx(wholes @ _unit(facet_vector))
    assert scores["title"] == pytest.approx(_unit(titles) @ _unit(title))
    assert scores["bm25"].tolist() == bm25.scores("neural parsing", list(texts)).tolist()
    assert scores["bm25-facet"].tolist() == bm25.scores("graphs", list(texts)).tolist()
    assert scores["bm25-facet"][3] == 0.0 and scores["bm25-facet"][1] > 0


def test_without_titles_the_whole_text_vectors_stand_in():
    query, cands = _docs()
    untitled = term_scores(Query(query), Candidates(cands), ["title", "abstract"])
    assert untitled["title"] == pytest.approx(untitled["abstract"])
    with pytest.raises(ValueError, match="unknown term"):
        term_scores(Query(query), Candidates(cands), ["cosine"])


@pytest.fixture(scope="module")
def cross(tiny_cross):
    """(the reranker the terms use, a second instance for the expected scores)."""
    from finesim import CrossEncoder

    return CrossEncoder(tiny_cross), CrossEncoder(tiny_cross)


def test_the_rerank_term_is_predict_on_the_pool(cross):
    reranker, reference = cross
    query, cands = _docs()
    texts = ["a man plays the guitar", "the woman sings", "a cat sleeps", "bank rates rise"]
    asked = Query(query, text="a dog runs in the kitchen", facet_text="we propose a model")
    found = Candidates(cands, texts=texts)
    on_facet = term_scores(asked, found, ["rerank"], facet="method", reranker=reranker)
    expected = reference.predict([("we propose a model", t) for t in texts])
    np.testing.assert_allclose(on_facet["rerank"], expected, atol=1e-6)
    whole = term_scores(asked, found, ["rerank"], reranker=reranker)["rerank"]  # no facet
    np.testing.assert_allclose(
        whole, reference.predict([(asked.text, t) for t in texts]), atol=1e-6
    )
    assert not np.allclose(whole, on_facet["rerank"])
    # fused like any other term
    preset = Preset({"abstract": 1.0, "rerank": 0.7}, fusion="zscore")
    fused, _ = hybrid_scores(asked, found, preset, facet="method", reranker=reranker)
    abstract = term_scores(asked, found, ["abstract"])["abstract"]
    # float32 scores z-scored: their last-bit differences grow by 1 / std (1.6e-6 on AVX2)
    assert fused == pytest.approx(standardise(abstract) + 0.7 * standardise(expected), abs=1e-5)
    with pytest.raises(ValueError, match="needs a cross-encoder"):
        term_scores(asked, found, ["rerank"])
    with pytest.raises(ValueError, match="title \\+ abstract of every candidate"):
        term_scores(asked, Candidates(cands), ["rerank"], reranker=reranker)


def test_weight_zero_leaves_the_rerank_term_out_and_the_grid_as_it_was():
    from finesim.fusion import ALL_TERMS, TERMS
    from finesim.fusion.grid import standard_grid

    query, cands = _docs()
    zero = Preset({"abstract": 1.0, "max-sim": 0.3, "rerank": 0.0})
    assert zero.terms == ["abstract", "max-sim"] and not zero.reranks
    plain, _ = hybrid_scores(
        Query(query), Candidates(cands), Preset({"abstract": 1, "max-sim": 0.3})
    )
    same, _ = hybrid_scores(Query(query), Candidates(cands), zero)  # no reranker needed
    assert same.tolist() == plain.tolist()
    assert "rerank" not in TERMS and ALL_TERMS[-1] == "rerank"
    assert Preset({"rerank": 1.0}).reranks
    grid, with_rerank = standard_grid(), standard_grid(rerank=True)
    assert not any(p.reranks for p in grid.values())
    assert all(with_rerank[name] == preset for name, preset in grid.items())
    added = [p for name, p in with_rerank.items() if name not in grid]
    assert added and all(p.reranks for p in added)
    assert with_rerank["rerank"].terms == ["rerank"]
