import itertools

import numpy as np
import pytest

from finesim.docsim import Doc, facet_of, score_candidates


def _docs(seed=0, sizes=(2, 5, 1, 3), dim=8):
    rng = np.random.default_rng(seed)
    labels = ["background_label", "objective_label", "method_label", "result_label"]
    query = Doc(rng.normal(size=(4, dim)), labels, rng.normal(size=dim))
    cands = [Doc(rng.normal(size=(n, dim)), None, rng.normal(size=dim)) for n in sizes]
    return query, cands


def _cos(a, b):
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def test_facets_follow_aspire():
    assert facet_of("objective_label") == "background"
    assert facet_of("method_label") == "method"
    query, _ = _docs()
    restricted, index = query.restrict("background")
    assert list(index) == [0, 1] and len(restricted.vectors) == 2
    assert len(query.restrict("other")[0].vectors) == 4  # nothing of that facet: keep all


def test_each_scorer_against_a_loop():
    query, cands = _docs()
    q = query.vectors[:2]  # the background sentences
    expected = {
        "min-l2": [-min(np.linalg.norm(a - b) for a in q for b in c.vectors) for c in cands],
        "max-sim": [np.mean([max(_cos(a, b) for b in c.vectors) for a in q]) for c in cands],
        "mean-vec": [_cos(q.mean(0), c.vectors.mean(0)) for c in cands],
        "abstract": [_cos(query.whole, c.whole) for c in cands],
    }
    for scoring, want in expected.items():
        got, _ = score_candidates(query, cands, scoring, facet="background")
        assert np.allclose(got, want, atol=1e-10), scoring


def test_ot_equals_exact_assignment_for_small_epsilon():
    """Uniform weights and equal sizes: optimal transport is the best one-to-one matching."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        query = Doc(rng.normal(size=(4, 6)))
        cand = Doc(rng.normal(size=(4, 6)))
        d = np.linalg.norm(query.vectors[:, None] - cand.vectors[None], axis=2)
        best = min(np.mean(d[np.arange(4), list(p)]) for p in itertools.permutations(range(4)))
        got, ex = score_candidates(query, [cand], "ot", ot_epsilon=0.002, explain=16)
        assert abs(-got[0] - best) < 1e-3 * best
        weights = np.zeros((4, 4))
        for m in ex[0]:
            weights[m.query, m.candidate] = m.weight
        assert np.allclose(weights.sum(1), 0.25, atol=1e-6)  # marginals: uniform
        assert np.allclose(weights.sum(0), 0.25, atol=1e-6)


def test_ot_batched_equals_one_by_one_and_marginals_hold():
    query, cands = _docs(seed=2)
    batched, explanations = score_candidates(query, cands, "ot", explain=100)
    for i, cand in enumerate(cands):
        alone, _ = score_candidates(query, [cand], "ot")
        assert abs(alone[0] - batched[i]) < 1e-6
        w = np.zeros((4, len(cand.vectors)))
        for m in explanations[i]:
            w[m.query, m.candidate] = m.weight
        assert np.allclose(w.sum(1), 1 / 4, atol=1e-7)
        assert np.allclose(w.sum(0), 1 / len(cand.vectors), atol=1e-7)
        assert abs(-batched[i] - sum(m.weight * m.distance for m in explanations[i])) < 1e-6


def test_explanations_name_the_best_pairs():
    query, cands = _docs()
    _, ex = score_candidates(query, cands, "min-l2", facet="method", explain=2)
    first = ex[1][0]
    assert first.query == 2  # index in the full query document, not the restricted one
    d = np.linalg.norm(query.vectors[2] - cands[1].vectors, axis=1)
    assert first.candidate == int(d.argmin()) and abs(first.distance - d.min()) < 1e-9
    assert ex[1][0].distance <= ex[1][1].distance
    _, ex = score_candidates(query, cands, "max-sim", explain=3)
    assert all(len(e) == min(3, 4) for e in ex)
    with pytest.raises(ValueError, match="unknown scoring"):
        score_candidates(query, cands, "bm25")
