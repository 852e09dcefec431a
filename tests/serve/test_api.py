"""The HTTP API on a live server: embeddings, similarity, search, health, metrics, errors."""

import base64

import numpy as np

from finesim import HybridSearcher
from tests.helpers import assert_error, call

TEXTS = ["a man plays the guitar", "the woman sings", "a cat sleeps on the table"]


def test_healthz(server):
    url, _ = server
    status, _, body = call(url, "/healthz")
    assert status == 200 and body["status"] == "ok"
    assert body["model"] == "tiny" and body["indexes"] == {"papers": 24}


def test_embeddings_equal_the_encoder(server, tiny_encoder):
    url, _ = server
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": TEXTS})
    assert status == 200, body
    assert body["object"] == "list" and body["model"] == "tiny"
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, tiny_encoder.encode(TEXTS), atol=1e-6)
    tokens = sum(len(t.split()) + 2 for t in TEXTS)  # one token a word, plus [CLS] [SEP]
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_embeddings_single_string_and_base64(server, tiny_encoder):
    url, _ = server
    status, _, body = call(
        url, "/v1/embeddings", {"model": "tiny", "input": TEXTS[0], "encoding_format": "base64"}
    )
    assert status == 200 and len(body["data"]) == 1
    vector = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, tiny_encoder.encode(TEXTS[0]), atol=1e-6)


def test_embeddings_errors(server):
    url, _ = server
    status, _, body = call(url, "/v1/embeddings", {"model": "gpt-4", "input": "x"})
    assert_error(status, body, 404, "'model'", "gpt-4")
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": [[1, 2, 3]]})
    assert_error(status, body, 422, "token arrays")
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny"})
    assert_error(status, body, 422, "'input'")
    assert body["error"]["param"] == "input"
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": ["ok", " "]})
    assert_error(status, body, 422, "text 1 is empty")
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": []})
    assert_error(status, body, 422, "no texts")
    status, _, body = call(
        url, "/v1/embeddings", {"model": "tiny", "input": "x", "encoding_format": "int8"}
    )
    assert_error(status, body, 422, "encoding_format")
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": "x", "dimensions": 33})
    assert_error(status, body, 422, "dimensions", "32")
    status, _, body = call(url, "/v1/embeddings", raw=b'{"model": "tiny", "input": ')
    assert_error(status, body, 422, "not valid JSON")
    status, _, body = call(url, "/v1/embeddings", raw=b"[1, 2]")
    assert_error(status, body, 422, "JSON object")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = call(url, "/v1/embeddings", raw=b'{"input": "x"}', headers=form)
    assert_error(status, body, 422, "JSON object")


def test_similarity(server, tiny_encoder):
    url, _ = server
    status, _, body = call(url, "/v1/similarity", {"texts": TEXTS})
    assert status == 200, body
    vectors = tiny_encoder.encode(TEXTS, normalize=True)
    np.testing.assert_allclose(body["cosine"], vectors @ vectors.T, atol=1e-5)
    status, _, body = call(url, "/v1/similarity", {"texts": ["only one"]})
    assert_error(status, body, 422, "at least two")
    status, _, body = call(url, "/v1/similarity", {"texts": TEXTS, "extra": 1})
    assert_error(status, body, 422, "'extra'")


def test_search_by_paper_id_equals_the_index(server, tiny_index):
    url, _ = server
    request = {"query_doc": "p1", "facet": "method", "scoring": "max-sim", "k": 5, "explain": 2}
    status, _, body = call(url, "/v1/search", request)
    assert status == 200, body
    expected = tiny_index.search(query_doc="p1", facet="method", scoring="max-sim", k=5, explain=2)
    assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    np.testing.assert_allclose([h["score"] for h in body["hits"]], [h.score for h in expected])
    assert body["index"] == "papers" and body["facet"] == "method"
    assert body["query_sentences"] == tiny_index.docs.get(tiny_index.position("p1"))["sentences"]
    hit = body["hits"][0]
    assert hit["title"].startswith("Paper ") and hit["pairs"]
    for pair in hit["pairs"]:
        assert pair["query"] in body["query_sentences"] and pair["candidate"] in hit["sentences"]
        assert pair["query_facet"] == "method"  # the facet restricts the query sentences


def test_search_by_text(server, tiny_index):
    url, _ = server
    query = "a man plays the guitar. the woman sings with music."
    status, _, body = call(url, "/v1/search", {"index": "papers", "query": query, "k": 3})
    assert status == 200, body
    assert body["query_sentences"] == ["a man plays the guitar.", "the woman sings with music."]
    assert [h["id"] for h in body["hits"]] == [h.id for h in tiny_index.search(query, k=3)]
    assert body["note"] is None and body["hits"][0]["rank"] == 1


def test_search_hybrid_by_paper_and_text(server, tiny_index):
    url, _ = server
    request = {"query_doc": "p2", "facet": "method", "scoring": "hybrid", "k": 4}
    status, _, body = call(url, "/v1/search", {**request, "preset": "default"})
    assert status == 200, body
    expected = HybridSearcher(tiny_index).search(
        query_doc="p2", facet="method", scoring="hybrid", k=4
    )
    assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    np.testing.assert_allclose([h["score"] for h in body["hits"]], [h.score for h in expected])
    assert body["scoring"] == "hybrid" and body["preset"] == "default" and body["hits"][0]["pairs"]
    query = {"query": "a man plays the guitar. we train the model.", "scoring": "hybrid", "k": 3}
    status, _, body = call(url, "/v1/search", query)
    assert status == 200 and len(body["hits"]) == 3, body


def test_search_hybrid_preset_is_a_shipped_name_only(server, tmp_path):
    url, _ = server
    preset = tmp_path / "mine.json"
    preset.write_text('{"weights": {"abstract": 1.0}}')
    for name in (str(preset), "../presets/default", "nope"):
        body = {"query_doc": "p1", "scoring": "hybrid", "preset": name}
        status, _, answer = call(url, "/v1/search", body)
        assert_error(status, answer, 422, "'preset'", "default")
    status, _, answer = call(url, "/v1/search", {"query_doc": "p1", "preset": "default"})
    assert_error(status, answer, 422, "preset", "'hybrid' only")


def test_search_errors(server):
    url, _ = server
    status, _, body = call(url, "/v1/search", {"query_doc": "nope"})
    assert_error(status, body, 404, "'query_doc'", "nope")
    status, _, body = call(url, "/v1/search", {"index": "other", "query": "x"})
    assert_error(status, body, 404, "'index'", "papers")
    status, _, body = call(url, "/v1/search", {"query": "x", "query_doc": "p1"})
    assert_error(status, body, 422, "'query'", "'query_doc'")
    status, _, body = call(url, "/v1/search", {"query_doc": "p1", "facet": "abstract"})
    assert_error(status, body, 422, "'facet'", "method")
    status, _, body = call(url, "/v1/search", {"query_doc": "p1", "scoring": "dot"})
    assert_error(status, body, 422, "'scoring'")
    status, _, body = call(url, "/v1/search", {"query_doc": "p1", "k": 0})
    assert_error(status, body, 422, "'k'")
    status, _, body = call(url, "/v1/search", {"query_doc": "p1", "k": 1000})
    assert_error(status, body, 422, "'k'", "100")
    status, _, body = call(url, "/v1/search", {"query": "   "})
    assert_error(status, body, 422, "'query'", "empty")


def test_indexes_models_and_unknown_routes(server):
    url, _ = server
    status, _, body = call(url, "/v1/indexes")
    assert status == 200 and body["indexes"] == [
        {"name": "papers", "documents": 24, "tagger": True}
    ]
    assert {"default", "learned-mpnet"} <= set(body["presets"])
    status, _, body = call(url, "/v1/models")
    assert status == 200 and body["data"][0]["id"] == "tiny"
    status, _, body = call(url, "/v1/nothing")
    assert_error(status, body, 404, "/v1/nothing")
    status, _, body = call(url, "/v1/embeddings", method="GET")
    assert_error(status, body, 405)


def test_metrics_in_prometheus_text(server):
    url, _ = server
    call(url, "/v1/embeddings", {"model": "tiny", "input": "metrics"})
    status, headers, text = call(url, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'finesim_requests_total{route="/v1/embeddings",status="200"}' in text
    assert "finesim_encoder_calls_total" in text and "finesim_queue_depth" in text
    assert "finesim_request_seconds_bucket" in text


def test_a_bug_never_reaches_the_client(server, monkeypatch):
    url, service = server

    def broken(texts):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.batcher, "encode", broken)
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": "x"})
    message = assert_error(status, body, 500)
    assert message == "internal server error" and "secret" not in str(body)
    monkeypatch.undo()  # the worker lives on
    status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": "x"})
    assert status == 200


def test_page_and_static_files(server):
    url, _ = server
    status, headers, text = call(url, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert 'id="facet"' in text and 'id="scoring"' in text and "/static/app.js" in text
    assert '<option value="hybrid">hybrid</option>' in text
    status, _, text = call(url, "/static/app.js")
    assert status == 200 and "/v1/search" in text
