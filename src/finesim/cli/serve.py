"""``finesim serve``: the HTTP API and search page over a model and its indexes."""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import set_threads
from finesim.cli.options import BackendOpt, IndexModelOpt, ThreadsOpt, TruncateDimOpt

log = logging.getLogger("finesim")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def serve_command(
    index: Annotated[
        list[str] | None,
        typer.Option("--index", "-i", help="An index folder, or NAME=FOLDER; repeat for more."),
    ] = None,
    model: IndexModelOpt = None,
    reranker: Annotated[
        str | None,
        typer.Option(
            help="A cross-encoder (folder or name) to serve at /v1/rerank (Cohere's shape) "
            "and for /v1/search's rerank stage."
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on; beyond loopback (e.g. 0.0.0.0) needs FINESIM_API_KEY "
            "or --insecure."
        ),
    ] = "127.0.0.1",
    insecure: Annotated[
        bool, typer.Option(help="Listen beyond loopback without an API key (anyone can use it).")
    ] = False,
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    backend: BackendOpt = None,
    reranker_backend: Annotated[
        str | None,
        typer.Option(
            help="The reranker's backend: torch, onnx, onnx-int8 or openvino (default: its "
            "folder's own, else torch; an ONNX backend is exported once into the cache)."
        ),
    ] = None,
    truncate_dim: TruncateDimOpt = None,
    max_batch: Annotated[
        int, typer.Option(min=0, help="Texts per encoder call (0: no micro-batching).")
    ] = 128,
    max_batch_tokens: Annotated[
        int,
        typer.Option(
            min=0,
            help="Tokens per encoder call: longer requests are split and interleaved with "
            "others, so short ones are not stuck behind them (0: never split).",
        ),
    ] = 1024,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a request waits for others to batch with.")
    ] = 5.0,
    max_queue: Annotated[
        int, typer.Option(min=1, help="Waiting requests before 503 + Retry-After.")
    ] = 64,
    max_inputs: Annotated[int, typer.Option(min=1, help="Texts per request.")] = 256,
    max_chars: Annotated[int, typer.Option(min=1, help="Characters per text.")] = 8192,
    max_body: Annotated[int, typer.Option(min=1, help="Bytes per request body.")] = 1_000_000,
    max_candidates: Annotated[
        int, typer.Option(min=1, help="Candidates one search may score.")
    ] = 10_000,
    max_search_cost: Annotated[
        int,
        typer.Option(min=1, help="Candidates x scorer cost of one search (max-sim 1, ot 4)."),
    ] = 20_000,
    max_searches: Annotated[
        int, typer.Option(min=1, help="Searches running or waiting before 503 + Retry-After.")
    ] = 8,
    max_rerank_top: Annotated[
        int, typer.Option(min=1, help="Hits a search's rerank stage may reorder (--reranker).")
    ] = 100,
    timeout: Annotated[
        float,
        typer.Option(min=0, help="Seconds a request may take, then 503 and dropped (0: none)."),
    ] = 30.0,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Origin of a page allowed to call the API (https://host:port, * for any); "
            "repeat for more."
        ),
    ] = None,
    threads: ThreadsOpt = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the embeddings, similarity, search (and with --reranker, rerank) API and the
    search page.

    With FINESIM_API_KEY set, every route but /healthz needs 'Authorization: Bearer <key>'.
    """
    from finesim.models.onnx.format import check_backend
    from finesim.models.spec import EncoderSpec
    from finesim.serve.app import create_app
    from finesim.serve.server import bind, serve_forever, url_of
    from finesim.serve.service import Limits, index_spec, open_indexes, open_service

    api_key = os.environ.get("FINESIM_API_KEY") or None
    if not is_loopback(host) and api_key is None and not insecure:
        raise FinesimError(
            f"--host {host} opens the server beyond this machine without an API key: set "
            "FINESIM_API_KEY, or pass --insecure to serve it open to anyone who can reach it"
        )
    for origin in cors_origin or ():
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise FinesimError(
                f"--cors-origin {origin!r}: give an origin as a browser sends it, "
                "scheme://host[:port] (e.g. https://example.org:8080), or * for any"
            )
    if reranker_backend is not None:
        if reranker is None:
            raise FinesimError("--reranker-backend needs --reranker")
        check_backend(reranker_backend)
    set_threads(threads)
    limits = Limits(
        max_inputs=max_inputs,
        max_chars=max_chars,
        max_body=max_body,
        max_queue=max_queue,
        max_wait=max_wait_ms / 1000,
        max_texts=max_batch,
        max_tokens=max_batch_tokens,
        max_candidates=max_candidates,
        max_search_cost=max_search_cost,
        max_searches=max_searches,
        max_rerank_top=max_rerank_top,
        timeout=timeout,
        cors_origins=tuple(cors_origin or ()),
    )
    sock = bind(host, port)  # before loading: a taken port fails in a second, not a minute
    indexes = open_indexes(index or [])
    if model is not None:
        spec = EncoderSpec(model=model, backend=backend)
    else:
        spec = index_spec(indexes, backend)  # the first index's own model
    first = next(iter(indexes.values()), None)
    if truncate_dim is None and first is not None:  # default: cut as the first index was
        truncate_dim = first.truncate_dim
    spec = spec.replace(truncate_dim=truncate_dim)
    service = open_service(spec, indexes, limits, api_key, reranker, reranker_backend)
    if not is_loopback(host) and api_key is None:
        log.warning(
            "listening on %s without FINESIM_API_KEY (--insecure): anyone who can reach it "
            "can use it",
            host,
        )
    names = ", ".join(service.indexes) or "none"
    also = f", reranker {service.reranker_name}" if service.reranker_name else ""
    typer.echo(
        f"finesim: serving model {service.name} (indexes: {names}{also}) at {url_of(sock)}/",
        err=True,
    )
    try:
        serve_forever(create_app(service), sock, log_level)
    except KeyboardInterrupt:  # uvicorn has shut down cleanly and passes Ctrl-C on
        typer.echo("finesim: server stopped", err=True)
    finally:
        service.close()
