import numpy as np
import pytest
import pytrec_eval

from finesim import Encoder, FinesimError
from finesim.data.beir import read_corpus
from finesim.evaluation.retrieval import (
    RetrievalEvaluator,
    TopK,
    prepare,
    retrieve,
    run_beir,
    score_block,
    search,
    write_run,
)
from tests.helpers import make_beir

MEASURES = {
    "ndcg@10": "ndcg_cut_10",
    "map@100": "map_cut_100",
    "recall@100": "recall_100",
}


@pytest.fixture
def beir(tmp_path):
    return make_beir(tmp_path / "beir")


@pytest.fixture(scope="module")
def encoder(tiny_st):
    return Encoder(tiny_st)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))


# ---- exact search ---------------------------------------------------------------------


def brute_force(queries, docs, k, score):
    scores = score_block(prepare(queries, score), prepare(docs, score))
    index = np.broadcast_to(np.arange(len(docs)), scores.shape)
    order = np.lexsort((index, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.mark.parametrize("score", ["cos", "dot"])
def test_chunked_search_equals_full_matrix(score):
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(53, 16)).astype(np.float32)
    docs[[10, 40]] = docs[3]  # identical rows tie exactly; the lower index must win
    docs[41] = 2 * docs[3]  # ties with row 3 for cos, not for dot
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    queries[0] = docs[3]
    for k in (1, 2, 5, 10, 53, 80):
        want_s, want_i = brute_force(queries, docs, k, score)
        for chunk in (1, 2, 7, 16, 53, 100):
            blocks = (docs[i : i + chunk] for i in range(0, len(docs), chunk))
            got_s, got_i = search(queries, blocks, k, score=score)
            np.testing.assert_array_equal(got_i, want_i, err_msg=f"k={k} chunk={chunk}")
            np.testing.assert_array_equal(got_s, want_s)
    top = search(queries[:1], [docs], 4, score=score)[1][0]
    assert list(top) == ([3, 10, 40, 41] if score == "cos" else [41, 3, 10, 40])


def test_top_k_ties_at_the_cut_keep_the_lowest_index():
    top = TopK(1, 2)
    top.push(np.array([[0.5, 0.9, 0.5]], dtype=np.float32), 0)
    top.push(np.array([[0.5, 0.5]], dtype=np.float32), 3)
    scores, index = top.result()
    assert index.tolist() == [[1, 0]] and scores.tolist() == [[pytest.approx(0.9), 0.5]]


# ---- BEIR end to end ------------------------------------------------------------------


def pytrec_means(qrels_path, run):
    qrels = {}
    for line in qrels_path.read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    measures = {"ndcg_cut.10", "map_cut.100", "recall.100", "recip_rank"}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    assert set(per_query) == set(qrels)
    return per_query


def test_run_beir_matches_pytrec_eval_on_its_own_run(beir, encoder, tmp_path):
    run_file = tmp_path / "run.trec"
    result = run_beir(encoder, beir, per_query=True, run_file=run_file)
    run = {}
    for line in run_file.read_text().splitlines():
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
    assert {q: len(docs) for q, docs in run.items() if len(docs) != 40} == {"doc5": 39}
    assert "doc5" not in run["doc5"]  # ignore_identical_ids, as BEIR
    expected = pytrec_means(beir / "qrels" / "test.tsv", run)
    assert result["n_queries"] == 8 and result["primary"] == "ndcg@10"
    assert result["score"] == result["ndcg@10"]
    for name, trec_name in MEASURES.items():
        mean = 100 * sum(q[trec_name] for q in expected.values()) / len(expected)
        assert result[name] == pytest.approx(mean, abs=1e-9), name
        for q, figures in expected.items():
            assert result["per_query"][q][name] == pytest.approx(figures[trec_name], abs=1e-9)
    rr = [q["recip_rank"] if q["recip_rank"] >= 0.1 else 0.0 for q in expected.values()]
    assert result["mrr@10"] == pytest.approx(100 * sum(rr) / len(rr), abs=1e-9)
    assert result["per_query"]["q7"]["ndcg@10"] == 0.0


def test_identical_ids_are_skipped_only_when_asked(beir, encoder):
    queries = {"doc5": next(t for d, t in read_corpus(beir) if d == "doc5")}
    kept = retrieve(encoder, queries, read_corpus(beir), 3, ignore_identical_ids=False)
    assert next(iter(kept["doc5"])) == "doc5"
    skipped = retrieve(encoder, queries, read_corpus(beir), 3)
    assert "doc5" not in skipped["doc5"] and len(skipped["doc5"]) == 3


def test_chunk_size_and_gzip_do_not_change_results(beir, encoder, tmp_path):
    base = run_beir(encoder, beir, per_query=True, cache=False, chunk_size=4096)
    gz = make_beir(tmp_path / "gz", gz=True)
    assert not (gz / "corpus.jsonl").exists()
    for folder, chunk in ((beir, 1), (beir, 7), (gz, 13)):
        again = run_beir(encoder, folder, per_query=True, cache=False, chunk_size=chunk)
        assert again == base


def test_second_run_encodes_nothing(beir, tiny_st, monkeypatch):
    enc = Encoder(tiny_st)
    first = run_beir(enc, beir)
    calls = []
    original = enc.encode
    monkeypatch.setattr(enc, "encode", lambda *a, **kw: calls.append(a) or original(*a, **kw))
    assert run_beir(enc, beir) == first
    assert calls == []


def test_evaluator_returns_primary_score_and_restores_training_mode(beir, encoder):
    evaluator = RetrievalEvaluator(beir)
    encoder.train()
    try:
        result = evaluator(encoder)
        assert encoder.training
    finally:
        encoder.eval()
    assert result["primary"] == "ndcg@10" and result["score"] == result["ndcg@10"]
    assert result == run_beir(encoder, beir, cache=False)


def test_user_errors(beir, encoder, tmp_path):
    with pytest.raises(FinesimError, match="top_k must be at least 100"):
        run_beir(encoder, beir, top_k=10)
    with pytest.raises(FinesimError, match="score must be 'cos' or 'dot'"):
        run_beir(encoder, beir, score="l2")
    with pytest.raises(FinesimError, match="score must be 'cos' or 'dot'"):
        RetrievalEvaluator(beir, score="l2")
    with pytest.raises(FinesimError, match=r"qrels/dev.tsv: no such file \(splits here: test\)"):
        run_beir(encoder, beir, split="dev")
    with pytest.raises(FinesimError, match=r"missing: no such folder"):
        run_beir(encoder, tmp_path / "missing")
    with pytest.raises(FinesimError, match=r"no such folder for the run file"):
        write_run(tmp_path / "no" / "run.trec", {"q": {"d": 1.0}})
