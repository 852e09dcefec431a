"""The HTTP API: OpenAI-compatible embeddings, Cohere-compatible rerank, similarity, faceted
search, health, metrics, page.

Every error is JSON in OpenAI's shape (``{"error": {"message", ...}}``) with one line that
names the field; a bug answers 500 "internal server error" and is logged, never shown. Every
request has a time budget (``Limits.timeout``): past it, it answers 503 with Retry-After and
its work is dropped where it can be (queued texts, a search not yet started). A search is
bounded before it starts: candidates and their cost (``Limits.max_candidates``,
``max_search_cost``), and how many may wait (``max_searches``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.data.documents import split_sentences
from finesim.docsim.scoring import unit
from finesim.fusion.preset import Preset, preset_names, shipped_preset
from finesim.search.hybrid import HYBRID
from finesim.search.rerank import RERANK_TOP
from finesim.serve.batcher import Batcher, QueueFull, Result
from finesim.serve.metrics import CONTENT_TYPE
from finesim.serve.middleware import ASGIApp, Guard, error_body
from finesim.serve.schemas import (
    EmbeddingsRequest,
    ErrorResponse,
    RerankRequest,
    SearchRequest,
    SimilarityRequest,
)
from finesim.serve.service import Busy, Service, Ticket, TimedOut

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
RETRY_AFTER = "1"  # seconds a client should wait after a 503
T = TypeVar("T")


class ApiError(Exception):
    """A client error with its HTTP status and the field it is about."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def _error(status: int, message: str, param: str | None = None, **headers: str) -> Response:
    kind = {
        401: "authentication_error",
        404: "not_found_error",
        500: "server_error",
        503: "overloaded_error",
    }
    body = error_body(status, message, kind.get(status, "invalid_request_error"), param)
    return Response(body, status, headers=headers or None, media_type="application/json")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first problem as one line: ``field 'k': Input should be greater than or equal to 1``."""
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    where = [str(p) for p in first.get("loc", ()) if p != "body" and not isinstance(p, int)]
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    if not where and first.get("type") in ("model_attributes_type", "dict_type"):
        return "the request body must be a JSON object (Content-Type: application/json)", None
    param = where[0] if where else None
    field = f"field {'.'.join(where)!r}: " if where else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{field}{first.get('msg', 'invalid')}{more}", param


def _texts(value: object, field: str, service: Service) -> list[str]:
    """Check a string or list of strings against the limits: 422 naming the field otherwise."""
    limits = service.limits
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ApiError(422, f"field {field!r}: token arrays are not supported; send text", field)
    if not texts:
        raise ApiError(422, f"field {field!r}: no texts given", field)
    if len(texts) > limits.max_inputs:
        raise ApiError(
            413, f"field {field!r}: {len(texts)} texts, at most {limits.max_inputs}", field
        )
    for i, text in enumerate(texts):
        if not text.strip():
            raise ApiError(422, f"field {field!r}: text {i} is empty", field)
        if not text.isprintable() and _unpaired_surrogate(text):
            raise ApiError(422, f"field {field!r}: text {i} is not valid Unicode", field)
        if len(text) > limits.max_chars:
            raise ApiError(
                422, f"field {field!r}: text {i} has {len(text)} characters, at most "
                f"{limits.max_chars}", field
            )  # fmt: skip
    return texts


def _unpaired_surrogate(text: str) -> bool:
    """True for a text JSON can carry but UTF-8 cannot (a lone ``\\ud800``): no model reads it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def _encode(
    service: Service, texts: list[Any], key: Any = None, batcher: Batcher | None = None
) -> Result:
    """``texts`` through ``batcher`` (default the encoder's), within the time budget."""
    batcher = batcher or service.batcher
    try:
        future = batcher.submit(texts, key)
    except QueueFull:
        service.metrics.rejected.inc()
        raise ApiError(503, "the server is busy (request queue full); retry later") from None
    finally:
        service.metrics.queue_depth.set(service.batcher.depth)
    # cancelling the wait (time budget, or the client went away) cancels the queued texts
    return await _within(service, service.ticket(), asyncio.wrap_future(future))


async def _within(service: Service, ticket: Ticket, work: Awaitable[T]) -> T:
    """``work``'s result, or 503 once ``ticket``'s time is spent; either way, and when the
    client goes away (the task is cancelled), the ticket tells the work to stop."""
    try:
        return await asyncio.wait_for(work, ticket.left())
    except asyncio.TimeoutError:
        ticket.abandoned.set()
        service.metrics.timeouts.inc()
        raise ApiError(
            503,
            f"the request ran past the server's time budget ({ticket.timeout:g} s); retry later",
        ) from None
    except asyncio.CancelledError:
        ticket.abandoned.set()
        raise
    except TimedOut as e:  # the work saw its ticket spent first
        service.metrics.timeouts.inc()
        raise ApiError(503, f"{e}; retry later") from None


def _check_model(service: Service, model: str | None) -> None:
    if model is not None and model != service.name:
        raise ApiError(404, f"field 'model': no model {model!r}; this server has {service.name!r}")


def _embedding(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":  # what OpenAI sends: little-endian float32 bytes
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(np.float32).tolist()


def _hits(index: Any, hits: list[Any]) -> list[dict[str, Any]]:
    """Hits as JSON, each with all its sentences (the page highlights the matched ones)."""
    out = []
    for hit in hits:
        record = index.docs.get(index.position(hit.id))
        out.append({**hit.to_json(), "sentences": list(record.get("sentences", []))})
    return out


async def _body_problem(request: Request) -> str | None:
    """Why the body is not JSON, in a few words (nesting too deep, a 5,000-digit integer...)."""
    try:
        json.loads(await request.body())
    except JSON_ERRORS as e:
        return f"the request body is not valid JSON ({json_problem(e)})"
    return None


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        extra = {"Retry-After": RETRY_AFTER} if exc.status == 503 else {}
        return _error(exc.status, exc.message, exc.param, **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        message, param = _validation_message(exc)
        return _error(422, message, param)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: f"no route {request.url.path}", 405: "method not allowed"}
        if exc.status_code == 400:  # FastAPI could not parse the body: say why
            message[400] = await _body_problem(request) or str(exc.detail)
        return _error(exc.status_code, message.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(FinesimError)
    async def user_error(request: Request, exc: FinesimError) -> Response:
        return _error(422, str(exc))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> Response:
        return _error(503, str(exc), **{"Retry-After": RETRY_AFTER})

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return _error(500, "internal server error")


async def embeddings(service: Service, body: EmbeddingsRequest) -> dict[str, Any]:
    """OpenAI's ``/v1/embeddings``: vectors as ``finesim encode`` makes them, with usage."""
    _check_model(service, body.model)
    if body.dimensions is not None and body.dimensions > service.encoder.dim:
        raise ApiError(
            422, f"field 'dimensions': at most {service.encoder.dim} for this model", "dimensions"
        )
    key = service.prompting(body.prompt_name, body.input_type)
    result = await _encode(service, _texts(body.input, "input", service), key)
    tokens = int(result.tokens.sum())
    vectors = result.vectors
    if body.dimensions is not None:  # per request, after the shared batch: OpenAI's semantics
        vectors = unit(vectors[:, : body.dimensions]).astype(np.float32)
    data = [
        {"object": "embedding", "index": i, "embedding": _embedding(v, body.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": service.name, "usage": usage}


async def similarity(service: Service, body: SimilarityRequest) -> dict[str, Any]:
    """The cosine matrix of ``texts``, as ``finesim similarity --json`` prints it."""
    _check_model(service, body.model)
    texts = _texts(body.texts, "texts", service)
    if len(texts) < 2:
        raise ApiError(422, "field 'texts': give at least two texts", "texts")
    vectors = (await _encode(service, texts)).vectors
    rows = unit(vectors)
    cosine = np.round(np.clip(rows @ rows.T, -1.0, 1.0), 6).tolist()
    return {"model": service.name, "texts": texts, "cosine": cosine}


async def rerank(service: Service, body: RerankRequest) -> dict[str, Any]:
    """Cohere's (and Jina's) rerank: ``documents`` by the reranker's score for ``query``,
    best first, ``top_n`` of them; the documents' texts with ``return_documents``."""
    batcher: Batcher | None = service.rerank_batcher
    if batcher is None:
        raise ApiError(404, "this server has no reranker (start it with --reranker MODEL)")
    name = service.reranker_name
    if body.model is not None and body.model != name:
        message = f"field 'model': no reranker {body.model!r}; this server has {name!r}"
        raise ApiError(404, message, "model")
    if (body.documents is None) == (body.texts is None):
        raise ApiError(422, "give one of the fields 'documents' or 'texts'", "documents")
    field = "documents" if body.documents is not None else "texts"
    given = body.documents if body.documents is not None else body.texts or []
    docs = _texts([d if isinstance(d, str) else d.text for d in given], field, service)
    query = _texts(body.query, "query", service)[0]
    result = await _encode(service, [(query, d) for d in docs], batcher=batcher)
    scores = result.vectors[:, 0]
    order = sorted(range(len(docs)), key=lambda i: -float(scores[i]))[: body.top_n]
    results = []
    for i in order:
        hit: dict[str, Any] = {"index": i, "relevance_score": float(scores[i])}
        if body.return_documents:
            hit["document"] = {"text": docs[i]}
        results.append(hit)
    tokens = int(result.tokens.sum())
    meta = {
        "billed_units": {"search_units": math.ceil(len(docs) / 100)},  # Cohere's: 100 docs each
        "tokens": {"input_tokens": tokens},
    }
    return {
        "id": str(uuid.uuid4()),
        "model": name,
        "results": results,
        "meta": meta,
        "usage": {"total_tokens": tokens},  # Jina's
    }


def _preset(name: str | None) -> Preset | None:
    """A shipped preset by name only: a path would let HTTP clients read the server's files."""
    if name is None:
        return None
    names = preset_names()
    if name not in names:
        raise ApiError(422, f"field 'preset': one of {', '.join(names)}", "preset")
    return shipped_preset(name)


def _check_cost(service: Service, index: Any, body: SearchRequest, preset: Preset | None) -> None:
    """422 naming 'candidates' for a search over the candidates or cost limits."""
    limits = service.limits
    if body.candidates is not None and body.candidates > limits.max_candidates:
        raise ApiError(
            422, f"field 'candidates': at most {limits.max_candidates}", "candidates"
        )  # fmt: skip
    if body.preset is not None and body.scoring != HYBRID:
        raise ApiError(422, f"field 'preset': applies to scoring {HYBRID!r} only", "preset")
    pool, cost = service.search_cost(index, body.scoring, body.k, body.candidates, preset)
    if cost > limits.max_search_cost:
        most = limits.max_search_cost * pool // cost
        raise ApiError(
            422,
            f"field 'candidates': {pool} candidates with scoring {body.scoring!r} cost {cost}, "
            f"over this server's limit of {limits.max_search_cost} (at most {most} here)",
            "candidates",
        )


def _check_rerank(service: Service, body: SearchRequest) -> None:
    """422 naming 'rerank' / 'rerank_top' for a rerank stage this server cannot run."""
    if body.rerank and service.reranker is None:
        raise ApiError(
            422, "field 'rerank': this server has no reranker (start it with --reranker MODEL)",
            "rerank",
        )  # fmt: skip
    if body.rerank_top is not None and not body.rerank:
        raise ApiError(422, "field 'rerank_top': applies with 'rerank': true only", "rerank_top")
    most = service.limits.max_rerank_top
    if body.rerank_top is not None and body.rerank_top > most:
        raise ApiError(422, f"field 'rerank_top': at most {most}", "rerank_top")


def _rerank_top(service: Service, body: SearchRequest) -> int | None:
    """The hits the stage reorders: as asked, else the library's default within the limit."""
    if not body.rerank:
        return None
    return body.rerank_top or min(RERANK_TOP, service.limits.max_rerank_top)


async def search(service: Service, body: SearchRequest) -> dict[str, Any]:
    """``Index.search`` with its explanations, plus the sentences the page highlights; run
    on a search thread within the request's time budget."""
    if (body.query is None) == (body.query_doc is None):
        raise ApiError(422, "give one of the fields 'query' (text) or 'query_doc' (an id)")
    if body.k > service.limits.max_k:
        raise ApiError(422, f"field 'k': at most {service.limits.max_k}", "k")
    if body.query is not None:
        _texts(body.query, "query", service)
    try:
        name, index = service.index(body.index)
    except LookupError as e:
        raise ApiError(404, str(e.args[0])) from None
    preset = _preset(body.preset)
    _check_cost(service, index, body, preset)
    _check_rerank(service, body)
    ticket = service.ticket()
    try:
        future = service.submit_search(ticket, lambda: _search(service, name, index, body, preset))
    except Busy:
        service.metrics.rejected.inc()
        raise
    return await _within(service, ticket, asyncio.wrap_future(future))


def _search(
    service: Service, name: str, index: Any, body: SearchRequest, preset: Preset | None
) -> dict[str, Any]:
    try:
        hits = service.search(
            index,
            body.query,
            body.query_doc,
            facet=body.facet,
            scoring=body.scoring,
            k=body.k,
            candidates=body.candidates,
            explain=body.explain,
            preset=preset,
            rerank=service.batched_reranker() if body.rerank else None,
            rerank_top=_rerank_top(service, body),
        )
    except LookupError as e:
        raise ApiError(404, str(e.args[0])) from None
    if body.query_doc is not None:
        sentences = index.docs.get(index.position(body.query_doc))["sentences"]
    else:
        sentences = [s.strip() for s in split_sentences(body.query or "") if s.strip()]
    note = None
    if body.facet and body.query is not None and index.tagger is None:
        note = "the index has no facet tagger, so every query sentence is used"
    return {
        "index": name,
        "query_sentences": list(sentences),
        "facet": body.facet,
        "scoring": body.scoring,
        "preset": body.preset,
        "rerank": service.reranker_name if body.rerank else None,
        "note": note,
        "hits": _hits(index, hits),
    }


def indexes(service: Service) -> dict[str, Any]:
    listed = [
        {"name": n, "documents": len(i), "tagger": i.tagger is not None}
        for n, i in service.indexes.items()
    ]
    return {"model": service.name, "indexes": listed, "presets": preset_names()}


def create_app(service: Service) -> ASGIApp:
    """The ASGI app of ``service``: FastAPI (``api``) inside the key/size/metrics guard, and
    with ``Limits.cors_origins``, CORS outside it (a browser's preflight carries no key)."""
    app: ASGIApp = Guard(api(service), service)
    origins = list(service.limits.cors_origins)
    if origins:
        app = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return app


# every route's errors: OpenAI's shape (documented so schema-driven clients and fuzzers know)
ERRORS: dict[int | str, dict[str, Any]] = {
    "default": {"model": ErrorResponse, "description": "An error, in OpenAI's shape"}
}


def api(service: Service) -> FastAPI:
    """The routes of ``service`` (``create_app`` puts the guard around them); ``.openapi()``
    gives their schema, which is not served."""
    app = FastAPI(
        title="finesim", docs_url=None, redoc_url=None, openapi_url=None, responses=ERRORS
    )
    _add_handlers(app)

    @app.post("/v1/embeddings")
    async def post_embeddings(body: EmbeddingsRequest) -> dict[str, Any]:
        return await embeddings(service, body)

    @app.post("/v1/similarity")
    async def post_similarity(body: SimilarityRequest) -> dict[str, Any]:
        return await similarity(service, body)

    @app.post("/v1/rerank")
    async def post_rerank(body: RerankRequest) -> dict[str, Any]:
        return await rerank(service, body)

    @app.post("/v2/rerank")  # the path of Cohere's v2 client
    async def post_rerank_v2(body: RerankRequest) -> dict[str, Any]:
        return await rerank(service, body)

    @app.post("/v1/search")
    async def post_search(body: SearchRequest) -> dict[str, Any]:
        return await search(service, body)

    @app.get("/v1/indexes")
    def get_indexes() -> dict[str, Any]:
        return indexes(service)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        entry = {"id": service.name, "object": "model", "owned_by": "finesim", "created": 0}
        return {"object": "list", "data": [entry]}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", **service.info()}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        service.metrics.queue_depth.set(service.batcher.depth)
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", response_class=HTMLResponse)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
