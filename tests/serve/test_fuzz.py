"""Schema-driven fuzzing of the HTTP API: schemathesis generates requests from the app's own
OpenAPI schema, valid and invalid ones, and sends them in process to the whole app (guard
included) with the tiny model and index. No answer may be a 5xx, every error must be in
OpenAI's shape, and every answer must agree with the schema (status, content type, body).

Not checked: that every schema-valid request is accepted. The schema cannot say what the
server checks beyond types (one of 'query'/'query_doc', the limits, non-empty texts), and
those answer 4xx by design."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from finesim import CrossEncoder
from finesim.serve.app import api, create_app
from finesim.serve.service import Limits, Service

OPERATIONS = [
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/similarity"),
    ("POST", "/v1/search"),
    ("POST", "/v1/rerank"),
    ("POST", "/v2/rerank"),
    ("GET", "/v1/indexes"),
    ("GET", "/v1/models"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/"),
]
# per operation and mode: the module in seconds (FINESIM_FUZZ_EXAMPLES=500 for a longer hunt)
EXAMPLES = int(os.environ.get("FINESIM_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A third of the generated bodies get the names the server knows, a third those and a real
# text too, so the fuzzing reaches the encoder and the searches, not only "no model 'x'".
NAMES = {
    "/v1/embeddings": {"model": "tiny"},
    "/v1/similarity": {"model": "tiny"},
    "/v1/search": {"index": "papers", "query_doc": "p1", "query": None},
    "/v1/rerank": {"model": "tiny-rerank", "texts": None},
    "/v2/rerank": {"model": "tiny-rerank", "texts": None},
}
TEXTS = {
    "/v1/embeddings": {"input": ["a man plays the guitar", "the woman sings"]},
    "/v1/similarity": {"texts": ["a cat sleeps", "a dog runs"]},
    "/v1/search": {"query": "we propose a model", "query_doc": None},
    "/v1/rerank": {"query": "a man plays", "documents": ["a man plays the guitar", "dog"]},
    "/v2/rerank": {"query": "a cat", "documents": [{"text": "a cat sleeps"}, "a dog runs"]},
}


@pytest.fixture(scope="module")
def fuzzed(tiny_encoder, tiny_index, tiny_cross):
    reranker = CrossEncoder(tiny_cross)
    service = Service(
        tiny_encoder, "tiny", {"papers": tiny_index}, Limits(), None, reranker, "tiny-rerank"
    )
    schema = schemathesis.openapi.from_dict(api(service).openapi())
    schema.app = create_app(service)
    yield schema
    service.close()


def test_every_operation_is_fuzzed(fuzzed):
    found = {(op.ok().method.upper(), op.ok().path) for op in fuzzed.get_all_operations()}
    assert found == set(OPERATIONS)


def steered(case, how: int):  # noqa: ANN001, ANN201
    if isinstance(case.body, dict):
        for fixed in [NAMES, TEXTS][:how]:
            for key, value in fixed.get(case.path, {}).items():
                if value is None:
                    case.body.pop(key, None)
                else:
                    case.body[key] = value
    return case


RUNS = [(m, p, "positive") for m, p in OPERATIONS] + [  # GETs take nothing to get wrong
    (m, p, "negative") for m, p in OPERATIONS if m == "POST"
]


@pytest.mark.parametrize(("method", "path", "mode"), RUNS)
def test_no_5xx_and_every_error_is_openai_shaped(fuzzed, method, path, mode):
    operation = fuzzed[path][method]
    cases = st.tuples(operation.as_strategy(schemathesis.GenerationMode(mode)), st.integers(0, 2))
    statuses: set[int] = set()

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(drawn=cases)
    def check(drawn):
        case = steered(*drawn)
        response = case.call()
        statuses.add(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text[:300])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, error
            assert error["code"] == response.status_code
            assert error["message"] and "\n" not in error["message"], error
        case.validate_response(response, checks=CHECKS)

    check()
    if mode == "positive":  # the fuzzing got through to the work, not only to the checks
        assert 200 in statuses, statuses
