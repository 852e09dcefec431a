"""Limits, a full queue, and the API key, each on its own live server."""

import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.helpers import assert_error, call, start

KEY = "s3cret-key"


def test_limits_answer_413_and_422(tiny_encoder):
    service, live = start(tiny_encoder, "tiny", max_inputs=3, max_chars=20, max_body=500)
    with live as url:
        status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": ["a"] * 4})
        assert_error(status, body, 413, "4 texts", "at most 3")
        status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": ["a", "b" * 21]})
        assert_error(status, body, 422, "text 1", "21 characters", "at most 20")
        status, _, body = call(url, "/v1/similarity", {"texts": ["a"] * 4})
        assert_error(status, body, 413, "'texts'")
        status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": "x" * 600})
        assert_error(status, body, 413, "over 500 bytes")
        status, _, body = call(url, "/v1/embeddings", {"model": "tiny", "input": ["a", "b"]})
        assert status == 200
    service.close()


def test_a_body_without_length_is_cut_at_the_limit(tiny_encoder):
    service, live = start(tiny_encoder, "tiny", max_body=1000)
    with live as url:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        chunks = (b"x" * 400 for _ in range(5))  # chunked transfer: no Content-Length
        conn.request("POST", "/v1/embeddings", body=chunks, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413 and b"over 1000 bytes" in response.read()
        conn.close()
    service.close()


def test_a_full_queue_answers_503_with_retry_after(tiny_encoder):
    service, live = start(tiny_encoder, "tiny", max_queue=1)
    release, busy = threading.Event(), threading.Event()
    encode = service.batcher.encode

    def slow(texts):
        busy.set()
        release.wait(30)
        return encode(texts)

    service.batcher.encode = slow
    answers = []

    def send(text):
        answers.append(call(url, "/v1/embeddings", {"model": "tiny", "input": text})[0])

    with live as url:
        first = threading.Thread(target=send, args=("first",))
        first.start()
        assert busy.wait(30)  # the worker holds the first request
        second = threading.Thread(target=send, args=("second",))
        second.start()
        deadline = time.monotonic() + 30
        while service.batcher.depth < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the second request waits in the (full) queue
        status, headers, body = call(url, "/v1/embeddings", {"model": "tiny", "input": "third"})
        assert_error(status, body, 503, "busy")
        assert headers["Retry-After"] == "1"
        release.set()
        first.join(30)
        second.join(30)
        assert answers == [200, 200]
        status, _, text = call(url, "/metrics")
        assert "finesim_queue_full_total 1.0" in text
    service.close()


@pytest.fixture(scope="module")
def keyed(tiny_encoder, tiny_index):
    service, live = start(tiny_encoder, "tiny", tiny_index, api_key=KEY)
    with live as url:
        yield url
    service.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/embeddings", {"model": "tiny", "input": "x"}),
        ("POST", "/v1/similarity", {"texts": ["a", "b"]}),
        ("POST", "/v1/search", {"query_doc": "p1"}),
        ("GET", "/v1/indexes", None),
        ("GET", "/metrics", None),
        ("GET", "/", None),
    ],
)
def test_every_route_but_healthz_needs_the_key(keyed, method, path, body):
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}]:
        status, head, answer = call(keyed, path, body, headers=headers, method=method)
        assert_error(status, answer, 401, "API key")
        assert head["WWW-Authenticate"] == "Bearer"
    status, _, answer = call(
        keyed, path, body, headers={"Authorization": f"Bearer {KEY}"}, method=method
    )
    assert status == 200, answer


def test_healthz_is_open(keyed):
    status, _, body = call(keyed, "/healthz")
    assert status == 200 and body["status"] == "ok"


def test_no_key_checks_when_none_is_set(server):
    url, _ = server
    status, _, _ = call(url, "/v1/indexes", headers={"Authorization": "Bearer anything"})
    assert status == 200
