"""``finesim bench serve``: a fixed number of embedding requests from bounded concurrent clients.

The server runs in this process on a free localhost port; each client thread keeps one
HTTP connection open and sends ``POST /v1/embeddings`` one request at a time (real HTTP,
real JSON, the real model). The same requests run with micro-batching off and on, so the
ratio shows what batching buys under concurrency.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import torch

from finesim.bench.latency import latency_ms
from finesim.bench.machine import machine_summary
from finesim.bench.texts import bench_texts
from finesim.models.encoder import Encoder
from finesim.serve.app import create_app
from finesim.serve.server import LiveServer
from finesim.serve.service import Limits, Service


def _client(
    url: str, path: str, bodies: list[bytes], counter: Any, lock: threading.Lock, out: list[Any]
) -> None:
    """Send requests until ``counter`` runs out; record (seconds, status) for each."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    while True:
        with lock:
            n = next(counter, None)
        if n is None:
            break
        started = time.perf_counter()
        try:
            conn.request("POST", path, bodies[n % len(bodies)], headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
            status = 0
        out.append((time.perf_counter() - started, status))
    conn.close()


def run_load(
    url: str,
    bodies: list[bytes],
    requests: int,
    clients: int,
    path: str = "/v1/embeddings",
    keep: list[tuple[float, int]] | None = None,
) -> dict[str, Any]:
    """``requests`` POSTs of ``bodies`` (in turn) to ``url + path`` from ``clients`` threads,
    each on one keep-alive connection: requests/s, p50/p99 and errors. ``keep`` collects each
    request's (seconds, status), for figures over several runs."""
    counter, lock = iter(range(requests)), threading.Lock()
    out: list[tuple[float, int]] = []
    threads = [
        threading.Thread(target=_client, args=(url, path, bodies, counter, lock, out))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if keep is not None:
        keep.extend(out)
    errors = sum(status != 200 for _, status in out)
    latency = latency_ms((s for s, _ in out), digits=2)
    return {
        "requests": len(out),
        "errors": errors,
        "seconds": round(wall, 3),
        "requests_per_s": round(len(out) / wall, 1),
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
    }


def _run_mode(
    encoder: Encoder, name: str, limits: Limits, bodies: list[bytes], requests: int, clients: int
) -> dict[str, Any]:
    service = Service(encoder, name, limits=limits)
    try:
        with LiveServer(create_app(service)) as url:
            run_load(url, bodies, min(requests, 4 * clients), clients)  # warm up
            calls, served = service.batcher.calls, service.batcher.requests
            result = run_load(url, bodies, requests, clients)
        calls, served = service.batcher.calls - calls, service.batcher.requests - served
    finally:
        service.close()
    return {**result, "encoder_calls": calls, "requests_per_encoder_call": round(served / calls, 2)}


def run_serve_bench(
    model: str,
    clients: int,
    requests: int,
    texts_per_request: int,
    max_wait_ms: float,
    backend: str | None = None,
) -> dict[str, Any]:
    """Throughput and latency of /v1/embeddings with micro-batching off, then on."""
    encoder = Encoder(model, backend=backend)
    texts = bench_texts("stsb")
    bodies = [
        json.dumps({"model": model, "input": texts[i : i + texts_per_request]}).encode()
        for i in range(0, len(texts) - texts_per_request + 1, texts_per_request)
    ]
    limits = Limits(max_queue=max(64, 2 * clients), max_wait=max_wait_ms / 1000)
    modes = {"batching_off": replace(limits, max_texts=0), "batching_on": limits}
    results = {
        mode: _run_mode(encoder, model, lim, bodies, requests, clients)
        for mode, lim in modes.items()
    }
    on, off = results["batching_on"], results["batching_off"]
    return {
        "benchmark": "serve",
        "model": model,
        "backend": encoder.backend,
        "torch_threads": torch.get_num_threads(),
        "endpoint": "POST /v1/embeddings",
        "clients": clients,
        "requests": requests,
        "texts_per_request": texts_per_request,
        "texts": "STS-B train sentences",
        "max_wait_ms": max_wait_ms,
        "max_texts_per_call": limits.max_texts,
        **results,
        "batching_throughput_ratio": round(on["requests_per_s"] / off["requests_per_s"], 2),
        "batching_p50_ratio": round(on["p50_ms"] / off["p50_ms"], 2),
        "errors": on["errors"] + off["errors"],
        "machine": machine_summary(),
    }
