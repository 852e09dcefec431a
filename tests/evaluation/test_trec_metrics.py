import random

import pytest
import pytrec_eval

from finesim import FinesimError
from finesim.evaluation.trec_metrics import evaluate, mean_scores, parse_measure, trec_order

# finesim name -> pytrec_eval name
MEASURES = {
    "ndcg@1": "ndcg_cut_1",
    "ndcg@3": "ndcg_cut_3",
    "ndcg@10": "ndcg_cut_10",
    "ndcg@100": "ndcg_cut_100",
    "map@5": "map_cut_5",
    "map@100": "map_cut_100",
    "recall@5": "recall_5",
    "recall@100": "recall_100",
    "p@5": "P_5",
    "p@10": "P_10",
}
PYTREC = {"ndcg_cut.1,3,10,100", "map_cut.5,100", "recall.5,100", "P.5,10", "recip_rank"}


def random_case(seed: int, n_queries: int = 12, n_docs: int = 60):
    """Graded qrels (with a negative grade and an all-zero query) and a run full of ties."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]
    qrels, run = {}, {}
    for q in range(n_queries):
        judged = rng.sample(docs, rng.randint(1, 25))
        qrels[f"q{q}"] = {d: rng.choice([0, 0, 1, 1, 2, 3]) for d in judged}
        retrieved = rng.sample(docs, rng.randint(1, n_docs))
        # one decimal: many exact ties; +1e-10: differs in double, equal in float32
        run[f"q{q}"] = {d: round(rng.random(), 1) + rng.choice([0, 1e-10]) for d in retrieved}
    qrels["q0"][docs[0]] = -1
    qrels["q1"] = {d: 0 for d in qrels["q1"]}
    return qrels, run


@pytest.mark.parametrize("seed", range(6))
def test_every_measure_matches_pytrec_eval(seed):
    qrels, run = random_case(seed)
    expected = pytrec_eval.RelevanceEvaluator(qrels, PYTREC).evaluate(run)
    ours = evaluate(qrels, run, [*MEASURES, "mrr@10", "mrr@3"])
    assert set(ours) == set(expected) == set(qrels)
    for query_id, theirs in expected.items():
        for name, trec_name in MEASURES.items():
            assert ours[query_id][name] == pytest.approx(theirs[trec_name], abs=1e-9), name
        rr = theirs["recip_rank"]  # MRR@k: trec_eval's reciprocal rank cut at k
        assert ours[query_id]["mrr@10"] == pytest.approx(rr if rr >= 1 / 10 else 0.0, abs=1e-12)
        assert ours[query_id]["mrr@3"] == pytest.approx(rr if rr >= 1 / 3 else 0.0, abs=1e-12)


def test_means_are_x100_over_all_qrels_queries():
    qrels, run = random_case(7)
    del run["q3"]  # a query without results counts as 0, as with trec_eval -c
    per_query = evaluate(qrels, run, ["ndcg@10"])
    assert per_query["q3"] == {"ndcg@10": 0.0}
    means = mean_scores(per_query)
    expected = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    total = sum(v["ndcg_cut_10"] for v in expected.values())
    assert means["ndcg@10"] == pytest.approx(100 * total / len(qrels), abs=1e-9)


def test_trec_order_breaks_ties_by_id_descending_in_float32():
    scores = {"a": 0.5, "c": 0.5, "b": 0.5 + 1e-12, "z": 0.1, "y": 0.9}
    assert trec_order(scores) == ["y", "c", "b", "a", "z"]


def test_hand_computed_ndcg_and_map():
    rels = {"a": 3, "b": 0, "c": 1}
    run = {"q": {"b": 3.0, "a": 2.0, "x": 1.0, "c": 0.5}}
    got = evaluate({"q": rels}, run, ["ndcg@10", "map@100", "recall@2", "mrr@10"])["q"]
    dcg = 3 / 1.5849625007211562 + 1 / 2.321928094887362  # ranks 2 and 4
    ideal = 3 + 1 / 1.5849625007211562
    assert got["ndcg@10"] == pytest.approx(dcg / ideal)
    assert got["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert got["recall@2"] == 0.5
    assert got["mrr@10"] == 0.5


def test_unknown_measure_is_a_user_error():
    assert parse_measure("NDCG@10")[1] == 10
    for bad in ("ndcg", "ndcg@0", "bleu@4", "map@x"):
        with pytest.raises(FinesimError, match="unknown measure"):
            parse_measure(bad)
