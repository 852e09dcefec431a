"""``finesim serve``: the HTTP API and search page over a model and its indexes."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from finesim.cli.common import set_threads
from finesim.cli.options import BackendOpt, IndexModelOpt, ThreadsOpt

log = logging.getLogger("finesim")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve_command(
    index: Annotated[
        list[str] | None,
        typer.Option("--index", "-i", help="An index folder, or NAME=FOLDER; repeat for more."),
    ] = None,
    model: IndexModelOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    backend: BackendOpt = None,
    max_batch: Annotated[
        int, typer.Option(min=0, help="Texts per encoder call (0: no micro-batching).")
    ] = 128,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a request waits for others to batch with.")
    ] = 5.0,
    max_queue: Annotated[
        int, typer.Option(min=1, help="Waiting requests before 503 + Retry-After.")
    ] = 64,
    max_inputs: Annotated[int, typer.Option(min=1, help="Texts per request.")] = 256,
    max_chars: Annotated[int, typer.Option(min=1, help="Characters per text.")] = 8192,
    max_body: Annotated[int, typer.Option(min=1, help="Bytes per request body.")] = 1_000_000,
    threads: ThreadsOpt = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the embeddings, similarity and search API and the search page.

    With FINESIM_API_KEY set, every route but /healthz needs 'Authorization: Bearer <key>'.
    """
    from finesim.models.spec import EncoderSpec
    from finesim.serve.app import create_app
    from finesim.serve.server import bind, serve_forever, url_of
    from finesim.serve.service import Limits, index_spec, open_indexes, open_service

    api_key = os.environ.get("FINESIM_API_KEY") or None
    set_threads(threads)
    sock = bind(host, port)  # before loading: a taken port fails in a second, not a minute
    limits = Limits(
        max_inputs=max_inputs,
        max_chars=max_chars,
        max_body=max_body,
        max_queue=max_queue,
        max_wait=max_wait_ms / 1000,
        max_texts=max_batch,
    )
    indexes = open_indexes(index or [])
    if model is not None:
        spec = EncoderSpec(model=model, backend=backend)
    else:
        spec = index_spec(indexes, backend)  # the first index's own model
    service = open_service(spec, indexes, limits, api_key)
    if host not in LOCAL_HOSTS and api_key is None:
        log.warning(
            "listening on %s without FINESIM_API_KEY: anyone who can reach it can use it", host
        )
    names = ", ".join(service.indexes) or "none"
    typer.echo(
        f"finesim: serving model {service.name} (indexes: {names}) at {url_of(sock)}/", err=True
    )
    try:
        serve_forever(create_app(service), sock, log_level)
    except KeyboardInterrupt:  # uvicorn has shut down cleanly and passes Ctrl-C on
        typer.echo("finesim: server stopped", err=True)
    finally:
        service.close()
