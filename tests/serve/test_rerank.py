"""``/v1/rerank`` and ``/v2/rerank`` against the official ``cohere`` client: the same scores
and order as ``CrossEncoder.rank``, documents, top_n, bad inputs, auth, limits, metrics."""

import threading

import numpy as np
import pytest

from finesim import CrossEncoder, FinesimError
from tests.helpers import SENTENCES, assert_error, call, require_module, start

cohere = require_module("cohere", "the cohere client is a test requirement")

QUERY = "a man plays the guitar"
DOCS = SENTENCES[:10]
KEY = "k-rerank"


@pytest.fixture(scope="module")
def reranker(tiny_cross):
    return CrossEncoder(tiny_cross)


@pytest.fixture(scope="module")
def live(tiny_encoder, reranker):
    """(url, service): the tiny encoder, the tiny reranker named 'tiny-rerank', an API key."""
    service, server = start(
        tiny_encoder, "tiny", reranker=reranker, reranker_name="tiny-rerank", api_key=KEY
    )
    with server as url:
        yield url, service
    service.close()


def client(url, key=KEY):
    return cohere.ClientV2(api_key=key, base_url=url, timeout=60)


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def test_cohere_client_gets_crossencoder_rank(live, reranker):
    url, _ = live
    expected = reranker.rank(QUERY, DOCS)
    answer = client(url).rerank(model="tiny-rerank", query=QUERY, documents=DOCS)
    assert [r.index for r in answer.results] == [h["corpus_id"] for h in expected]
    got = [r.relevance_score for r in answer.results]
    np.testing.assert_allclose(got, [h["score"] for h in expected], atol=1e-6)
    assert answer.meta.billed_units.search_units == 1 and answer.id
    top = client(url).rerank(model="tiny-rerank", query=QUERY, documents=DOCS, top_n=3)
    assert [r.index for r in top.results] == [h["corpus_id"] for h in expected[:3]]


def test_return_documents_objects_and_texts(live, reranker):
    url, _ = live
    expected = reranker.rank(QUERY, DOCS, top_k=4, return_documents=True)
    body = {
        "model": "tiny-rerank",
        "query": QUERY,
        "documents": [{"text": d} for d in DOCS],
        "top_n": 4,
        "return_documents": True,
    }
    status, _, answer = call(url, "/v1/rerank", body, headers=auth())
    assert status == 200, answer
    assert [r["document"]["text"] for r in answer["results"]] == [h["text"] for h in expected]
    assert answer["usage"]["total_tokens"] == answer["meta"]["tokens"]["input_tokens"] > 0
    plain = {"query": QUERY, "texts": DOCS}  # text-embeddings-inference's field name
    status, _, answer = call(url, "/v1/rerank", plain, headers=auth())
    assert status == 200 and len(answer["results"]) == len(DOCS)
    assert "document" not in answer["results"][0]


def test_concurrent_requests_share_calls_and_get_their_own_scores(live, reranker):
    url, service = live
    queries = ["the woman sings", "a cat sleeps", "bank rates rise", QUERY]
    expected = {q: reranker.rank(q, DOCS) for q in queries}
    answers: dict[str, object] = {}

    def ask(q):
        answers[q] = client(url).rerank(model="tiny-rerank", query=q, documents=DOCS)

    calls_before = service.rerank_batcher.calls
    threads = [threading.Thread(target=ask, args=(q,)) for q in queries * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for q in queries:  # batched with other requests' pairs: other padding, ~1e-5 apart
        got = {r.index: r.relevance_score for r in answers[q].results}
        want = {h["corpus_id"]: h["score"] for h in expected[q]}
        assert got.keys() == want.keys()
        assert [got[i] for i in want] == pytest.approx(list(want.values()), abs=1e-4)
        scores = [r.relevance_score for r in answers[q].results]
        assert scores == sorted(scores, reverse=True)
    assert service.rerank_batcher.calls - calls_before <= len(threads)
    status, _, text = call(url, "/metrics", headers=auth())
    assert status == 200 and 'route="/v2/rerank",status="200"' in text
    assert "finesim_reranked_pairs_total" in text


def test_bad_inputs_and_auth(live):
    url, _ = live
    with pytest.raises(cohere.errors.UnauthorizedError):
        client(url, "wrong").rerank(model="tiny-rerank", query=QUERY, documents=DOCS)
    with pytest.raises(cohere.errors.NotFoundError, match="no reranker 'rerank-v3.5'"):
        client(url).rerank(model="rerank-v3.5", query=QUERY, documents=DOCS)
    status, _, body = call(url, "/v1/rerank", {"query": QUERY, "documents": DOCS})
    assert_error(status, body, 401)
    cases = [
        ({"query": QUERY}, 422, "documents"),
        ({"query": QUERY, "documents": []}, 422, "documents", "no texts"),
        ({"query": QUERY, "documents": ["ok", ""]}, 422, "documents", "text 1 is empty"),
        ({"query": "", "documents": DOCS}, 422, "query", "empty"),
        ({"documents": DOCS}, 422, "query"),
        ({"query": QUERY, "documents": DOCS, "top_n": 0}, 422, "top_n"),
        ({"query": QUERY, "documents": [3]}, 422, "documents"),
        ({"query": QUERY, "documents": DOCS, "texts": DOCS}, 422, "documents", "texts"),
        ({"query": QUERY, "documents": ["x"] * 300}, 413, "documents", "at most 256"),
        ({"query": QUERY, "documents": ["x" * 9000]}, 422, "documents", "characters"),
    ]
    for body, expected, *words in cases:
        status, _, answer = call(url, "/v1/rerank", body, headers=auth())
        assert_error(status, answer, expected, *words)


def test_server_without_reranker_and_a_classifier(tiny_encoder, tiny_bert):
    service, server = start(tiny_encoder, "tiny")
    with server as url:
        status, _, body = call(url, "/v1/rerank", {"query": QUERY, "documents": DOCS})
        assert_error(status, body, 404, "--reranker")
    service.close()
    three = CrossEncoder(tiny_bert, num_labels=3)
    with pytest.raises(FinesimError, match="one-score"):
        start(tiny_encoder, "tiny", reranker=three)


@pytest.fixture(scope="module")
def searching(tiny_encoder, tiny_index, reranker):
    """(url, service): the 'papers' index and the tiny reranker, rerank_top at most 6."""
    service, server = start(
        tiny_encoder, "tiny", tiny_index, reranker=reranker, reranker_name="tiny-rerank",
        max_rerank_top=6,
    )  # fmt: skip
    with server as url:
        yield url, service
    service.close()


@pytest.mark.parametrize("scoring", ["max-sim", "hybrid"])
def test_search_with_rerank_equals_the_index_with_the_reranker(
    searching, tiny_index, tiny_cross, scoring
):
    from finesim import HybridSearcher

    url, service = searching
    request = {"query_doc": "p1", "facet": "method", "scoring": scoring, "k": 4, "explain": 1}
    status, _, plain = call(url, "/v1/search", request)
    assert status == 200, plain
    status, _, body = call(url, "/v1/search", {**request, "rerank": True, "rerank_top": 5})
    assert status == 200, body
    own = CrossEncoder(tiny_cross)  # not the server's object: its own predict calls
    options = {k: v for k, v in request.items() if k != "query_doc"}
    expected = HybridSearcher(tiny_index).search(
        query_doc="p1", **options, rerank=own, rerank_top=5
    )
    assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    np.testing.assert_allclose(
        [h["rerank_score"] for h in body["hits"]], [h.rerank_score for h in expected], atol=1e-6
    )
    assert [h["first_stage_score"] for h in body["hits"]] == pytest.approx(
        [h.first_stage_score for h in expected]
    )
    assert body["rerank"] == "tiny-rerank" and plain["rerank"] is None
    assert "rerank_score" not in plain["hits"][0] and body["hits"][0]["sentences"]
    # without rerank_top: the server's limit (6) bounds the library's default (100)
    status, _, capped = call(url, "/v1/search", {**request, "rerank": True})
    deep = HybridSearcher(tiny_index).search(query_doc="p1", **options, rerank=own, rerank_top=6)
    assert status == 200 and [h["id"] for h in capped["hits"]] == [h.id for h in deep]


def test_search_rerank_errors(searching, tiny_encoder, tiny_index):
    url, _ = searching
    request = {"query_doc": "p1", "k": 3}
    for extra, words in [
        ({"rerank": True, "rerank_top": 7}, ("'rerank_top'", "at most 6")),
        ({"rerank_top": 3}, ("'rerank_top'", "'rerank': true")),
        ({"rerank": True, "rerank_top": 0}, ("'rerank_top'",)),
        ({"rerank": "yes please"}, ("'rerank'",)),
    ]:
        status, _, body = call(url, "/v1/search", {**request, **extra})
        assert_error(status, body, 422, *words)
    service, server = start(tiny_encoder, "tiny", tiny_index)  # no reranker
    with server as bare:
        status, _, body = call(bare, "/v1/search", {**request, "rerank": True})
        assert_error(status, body, 422, "'rerank'", "--reranker")
    service.close()


def test_the_reranker_runs_on_the_chosen_backend(tiny_st, tiny_cross, cli, tmp_path, monkeypatch):
    from finesim.models.spec import EncoderSpec
    from finesim.serve.service import Limits, open_service

    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    service = open_service(
        EncoderSpec(model=str(tiny_st)), {}, Limits(), None, str(tiny_cross), "onnx"
    )
    try:
        assert service.reranker is not None and service.reranker.backend == "onnx"
        pairs = [(QUERY, d) for d in DOCS]
        np.testing.assert_allclose(
            service.reranker.predict(pairs), CrossEncoder(tiny_cross).predict(pairs), atol=1e-5
        )
    finally:
        service.close()
    code, _, err = cli("serve", "-m", tiny_st, "--reranker-backend", "onnx", "--port", 0)
    assert code == 2 and "--reranker-backend needs --reranker" in err
    args = ["serve", "-m", tiny_st, "--reranker", tiny_cross, "--reranker-backend", "tpu"]
    code, _, err = cli(*args, "--port", 0)
    assert code == 2 and "unknown backend 'tpu'" in err
