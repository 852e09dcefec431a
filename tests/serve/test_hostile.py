"""The server under hostile load: the cost of one search bounded, searches queued with 503,
a time budget per request, embeddings never waiting for a search, requests split by a token
budget, abandoned requests cancelled, hostile bodies named, CORS, and no open port by mistake."""

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from finesim.cli.serve import is_loopback
from finesim.search.hybrid import HybridSearcher
from tests.helpers import assert_error, call, start


def wait_until(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


class Gate:
    """Wraps the batcher's encode: holds every call until opened; records the texts."""

    def __init__(self, service):
        self.encode, self.calls = service.batcher.encode, []
        self.open, self.entered = threading.Event(), threading.Event()
        service.batcher.encode = self

    def __call__(self, texts):
        self.calls.append(list(texts))
        self.entered.set()
        assert self.open.wait(30)
        return self.encode(texts)


def in_thread(results, url, path, body, key=None):
    def send():
        results[key or path] = call(url, path, body)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_candidates_and_search_cost_are_bounded(tiny_encoder, tiny_index):
    service, live = start(tiny_encoder, "tiny", tiny_index, max_candidates=20, max_search_cost=50)
    with live as url:
        status, _, body = call(url, "/v1/search", {"query_doc": "p1", "candidates": 21})
        assert_error(status, body, 422, "field 'candidates'", "at most 20")
        assert body["error"]["param"] == "candidates"
        # 20 candidates: max-sim costs 20, ot 4 x 20 = 80 > 50
        body = {"query_doc": "p1", "candidates": 20, "scoring": "max-sim"}
        assert call(url, "/v1/search", body)[0] == 200
        status, _, answer = call(url, "/v1/search", {**body, "scoring": "ot"})
        assert_error(status, answer, 422, "'candidates'", "'ot'", "cost 80", "limit of 50")
        assert "at most 12" in answer["error"]["message"]
        status, _, answer = call(url, "/v1/search", {**body, "scoring": "hybrid"})
        assert_error(status, answer, 422, "'candidates'", "'hybrid'")
        status, _, answer = call(url, "/v1/search", {**body, "preset": "default"})
        assert_error(status, answer, 422, "'preset'", "'hybrid' only")
    service.close()


def test_searches_wait_in_a_bounded_queue(tiny_encoder, tiny_index):
    service, live = start(tiny_encoder, "tiny", tiny_index, max_searches=1)
    results = {}
    with live as url:
        with service._search_lock:  # a search is under way: the next one waits for it
            first = in_thread(results, url, "/v1/search", {"query_doc": "p1"})
            wait_until(lambda: service._search_slots._value == 0)
            status, headers, body = call(url, "/v1/search", {"query_doc": "p2"})
            assert_error(status, body, 503, "busy", "search queue full")
            assert headers["Retry-After"] == "1"
            # embeddings do not wait for searches
            assert call(url, "/v1/embeddings", {"model": "tiny", "input": "x"})[0] == 200
        first.join(30)
        assert results["/v1/search"][0] == 200
        assert call(url, "/v1/search", {"query_doc": "p2"})[0] == 200  # the slot is free again
    service.close()


def test_a_search_past_its_time_is_answered_503_and_never_run(tiny_encoder, tiny_index):
    service, live = start(tiny_encoder, "tiny", tiny_index, timeout=0.5)
    ran = []
    search = HybridSearcher.search
    HybridSearcher.search = lambda self, *a, **k: ran.append(1) or search(self, *a, **k)
    try:
        with live as url:
            with service._search_lock:
                started = time.monotonic()
                status, headers, body = call(url, "/v1/search", {"query_doc": "p1"})
                assert time.monotonic() - started < 5
            assert_error(status, body, 503, "time budget", "0.5 s")
            assert headers["Retry-After"] == "1"
            wait_until(lambda: service._search_slots._value == service.limits.max_searches)
            assert ran == []  # abandoned before it started
            assert call(url, "/v1/search", {"query_doc": "p1"})[0] == 200
            assert ran == [1]
    finally:
        HybridSearcher.search = search
    service.close()


def test_embeddings_past_their_time_are_dropped(tiny_encoder):
    service, live = start(tiny_encoder, "tiny", timeout=0.5, max_wait=0)
    gate = Gate(service)
    results = {}
    with live as url:
        first = in_thread(results, url, "/v1/embeddings", {"model": "tiny", "input": "first"})
        assert gate.entered.wait(30)  # the encoder is busy with the first request
        status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": "second"})
        assert_error(status, body, 503, "time budget")
        gate.open.set()
        first.join(30)
        assert call(url, "/v1/embeddings", {"model": "tiny", "input": "third"})[0] == 200
    assert gate.calls == [["first"], ["third"]]  # "second" was never encoded
    assert service.metrics.timeouts._value.get() >= 1
    service.close()


def test_a_text_search_encodes_through_the_batcher(tiny_encoder, tiny_index):
    """The query is encoded by the batcher's worker, so a search holds no encoder of its own
    and embeddings are served between its steps."""
    service, live = start(tiny_encoder, "tiny", tiny_index)
    with live as url:
        calls = service.batcher.calls
        status, _, body = call(url, "/v1/search", {"query": "a man plays the guitar", "k": 3})
        assert status == 200 and len(body["hits"]) == 3
        assert service.batcher.calls > calls
        expected = tiny_index.search("a man plays the guitar", k=3)
        assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    service.close()


def test_embeddings_are_answered_while_a_search_runs(tiny_encoder, tiny_index):
    service, live = start(tiny_encoder, "tiny", tiny_index)
    inside, release = threading.Event(), threading.Event()
    search = HybridSearcher.search

    def slow(self, *args, **kwargs):
        inside.set()
        assert release.wait(30)
        return search(self, *args, **kwargs)

    HybridSearcher.search = slow
    results = {}
    try:
        with live as url:
            body = {"query": "a cat sleeps on the table", "scoring": "hybrid"}
            searching = in_thread(results, url, "/v1/search", body)
            assert inside.wait(30)
            started = time.monotonic()
            status, _, _ = call(url, "/v1/embeddings", {"model": "tiny", "input": ["x", "y"]})
            assert status == 200 and time.monotonic() - started < 10
            release.set()
            searching.join(30)
            assert results["/v1/search"][0] == 200
    finally:
        HybridSearcher.search = search
    service.close()


def test_a_long_request_is_split_so_a_short_one_goes_between(tiny_encoder):
    """With a budget of 24 tokens, 12 texts of 8 tokens are encoded 3 at a time; a
    one-sentence request sent meanwhile is in the next call, not after all 12."""
    service, live = start(tiny_encoder, "tiny", max_tokens=24, max_wait=0)
    gate = Gate(service)
    long_texts = [f"the big red dog runs {i}" for i in range(12)]  # 6 words + 2 = 8 tokens
    results = {}
    with live as url:
        long = in_thread(results, url, "/v1/embeddings", {"model": "tiny", "input": long_texts})
        assert gate.entered.wait(30)
        short = in_thread(results, url, "/v1/embeddings", {"model": "tiny", "input": "a cat"}, "s")
        wait_until(lambda: service.batcher.depth >= 1 or len(gate.calls) > 1)
        gate.open.set()
        long.join(30)
        short.join(30)
    status, _, body = results["/v1/embeddings"]
    assert status == 200 and [d["index"] for d in body["data"]] == list(range(12))
    assert results["s"][0] == 200
    assert [len(c) for c in gate.calls[:2]] == [3, 3]
    assert "a cat" in gate.calls[1]  # straight after the first piece
    assert all(sum(len(t.split()) + 2 for t in c) <= 24 for c in gate.calls)
    import numpy as np

    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, tiny_encoder.encode(long_texts), atol=1e-5)
    service.close()


def test_a_request_whose_client_went_away_is_not_encoded(tiny_encoder):
    service, live = start(tiny_encoder, "tiny", max_wait=0)
    gate = Gate(service)
    results = {}
    with live as url:
        first = in_thread(results, url, "/v1/embeddings", {"model": "tiny", "input": "first"})
        assert gate.entered.wait(30)
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        body = json.dumps({"model": "tiny", "input": ["gone"] * 50})
        conn.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
        wait_until(lambda: service.batcher.depth == 1)
        conn.sock.close()  # the client gives up
        wait_until(lambda: service.metrics.cancelled._value.get() == 1)
        gate.open.set()
        first.join(30)
        assert call(url, "/v1/embeddings", {"model": "tiny", "input": "after"})[0] == 200
        status, _, text = call(url, "/metrics")
        assert 'finesim_requests_total{route="/v1/embeddings",status="499"} 1.0' in text
    assert gate.calls == [["first"], ["after"]]
    service.close()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"model": "tiny", "input": ' + b"[" * 10000 + b"]" * 10000 + b"}", "nested too deeply"),
        (b'{"model": "tiny", "input": "a", "dimensions": ' + b"9" * 5000 + b"}", "4300"),
        (b'{"model": "tiny", "input": "\xff"}', "not valid UTF-8"),
        (b'{"model": "tiny", "input": "\\ud800"}', "text 0 is not valid Unicode"),
    ],
)
def test_hostile_bodies_are_named(server, raw, words):
    url, _ = server
    status, _, body = call(url, "/v1/embeddings", raw=raw)
    assert 400 <= status < 500
    assert_error(status, body, status, words)


def test_cors_for_pages_on_other_origins(tiny_encoder):
    origin = "https://app.example"
    service, live = start(tiny_encoder, "tiny", cors_origins=(origin,), api_key="k")
    with live as url:
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        status, headers, _ = call(url, "/v1/embeddings", headers=preflight, method="OPTIONS")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in headers["Access-Control-Allow-Methods"]
        answer = call(
            url,
            "/v1/embeddings",
            {"model": "tiny", "input": "x"},
            headers={"Origin": origin, "Authorization": "Bearer k"},
        )
        assert answer[0] == 200 and answer[1]["Access-Control-Allow-Origin"] == origin
        status, headers, _ = call(url, "/v1/models", headers={"Origin": origin})
        assert status == 401 and headers["Access-Control-Allow-Origin"] == origin  # readable
        status, headers, _ = call(url, "/v1/models", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers
    service.close()


def test_no_cors_headers_by_default(server):
    url, _ = server
    _, headers, _ = call(url, "/v1/models", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_loopback_hosts():
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.4", "example.org"]))


def test_serve_beyond_loopback_needs_a_key_or_insecure(cli, tiny_st, monkeypatch):
    monkeypatch.delenv("FINESIM_API_KEY", raising=False)
    code, _, err = cli("serve", "-m", tiny_st, "--host", "0.0.0.0", "--port", 0)
    assert code == 2 and err.count("\n") == 1
    assert "--host 0.0.0.0" in err and "FINESIM_API_KEY" in err and "--insecure" in err
    code, _, err = cli("serve", "-m", tiny_st, "--cors-origin", "example.org", "--port", 0)
    assert code == 2 and "--cors-origin 'example.org'" in err and err.count("\n") == 1


def test_the_server_gives_freed_memory_back(monkeypatch):
    import platform

    from finesim._util import memory

    assert memory.trim_heap() is (platform.libc_ver()[0] == "glibc")
    trims = []
    monkeypatch.setattr(memory, "trim_heap", lambda: trims.append(1))
    trimmer = memory.HeapTrimmer(every=0.05)
    trimmer.maybe()  # too soon after the start
    time.sleep(0.06)
    trimmer.maybe()
    trimmer.maybe()  # too soon after the last
    assert trims == [1]
