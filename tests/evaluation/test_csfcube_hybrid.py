import numpy as np
import pytest

from finesim import Preset
from finesim.data.csfcube import Paper
from finesim.docsim import Doc
from finesim.evaluation.csfcube_hybrid import facet_text, rank_fused, whiten_docs
from finesim.fusion.grid import standard_grid


class _Pool:
    def __init__(self, key, candidates):
        self.key, self.candidates = key, candidates


def test_facet_text_keeps_the_facet_sentences_or_all():
    paper = Paper("p", "t", ["a.", "b.", "c."], ["objective_label", "method_label", "result_label"])
    assert facet_text(paper, "background") == "a."  # objective counts as background
    assert facet_text(paper, "method") == "b."
    unlabelled = Paper("q", "t", ["a.", "b."], [])
    assert facet_text(unlabelled, "result") == "a. b."


def test_whitened_docs_are_unit_length_and_decorrelated():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(5, 5))
    docs = {
        str(i): Doc(rng.normal(size=(4, 5)) @ mix + 2, None, rng.normal(size=5) @ mix + 2)
        for i in range(60)
    }
    white, apply = whiten_docs(docs, None)
    assert all(np.allclose(np.linalg.norm(d.vectors, axis=1), 1) for d in white.values())
    raw = np.concatenate([d.vectors for d in docs.values()])
    cos = np.corrcoef(apply(raw), rowvar=False)
    assert np.abs(cos - np.eye(5)).max() < 0.2  # far from the raw vectors' strong correlation
    assert np.abs(np.corrcoef(raw, rowvar=False) - np.eye(5)).max() > 0.5


def test_rank_fused_orders_by_the_fused_score_and_grid_is_valid():
    tables = {"q_method": {"abstract": np.array([0.1, 0.9, 0.5]), "bm25": np.array([9.0, 0, 1])}}
    pool = _Pool("q_method", ["a", "b", "c"])
    ranked = rank_fused(tables, [pool], Preset({"abstract": 1.0}))  # type: ignore[list-item]
    assert [c for c, _ in ranked["q_method"]] == ["b", "c", "a"]
    ranked = rank_fused(tables, [pool], Preset({"abstract": 1.0, "bm25": 5.0}))  # type: ignore[list-item]
    assert [c for c, _ in ranked["q_method"]][0] == "a"
    grid = standard_grid()
    assert "abstract" in grid and all(p.terms for p in grid.values())
    assert {p.fusion for p in grid.values()} == {"weighted", "zscore", "rrf"}


def test_title_cosines_are_per_pool_and_whitened_like_the_rest():
    from finesim.data.csfcube import Pool
    from finesim.evaluation.csfcube_hybrid import _pool_titles
    from finesim.fusion import Candidates, Query, term_scores

    titles = {"q": np.array([1.0, 0.0]), "a": np.array([2.0, 0.0]), "b": np.array([1.0, 1.0])}
    pool = Pool("q", "method", ["b", "a"], [0, 2])
    docs = [Doc(np.ones((1, 2)), None, np.ones(2)) for _ in range(2)]

    def cosines(white):
        query_title, candidate_titles = _pool_titles(titles, pool, white)
        asked = Query(Doc(np.ones((1, 2))), title=query_title)
        return term_scores(asked, Candidates(docs, titles=candidate_titles), ["title"])["title"]

    assert cosines(None).tolist() == pytest.approx([np.sqrt(0.5), 1.0])
    swap = cosines(lambda x: x[:, ::-1] * [1.0, 3.0])
    assert swap.tolist() == pytest.approx([3 / np.sqrt(10.0), 1.0])
