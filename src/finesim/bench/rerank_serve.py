"""``finesim bench rerank-serve``: ``/v1/rerank`` latency, one query against N abstracts, on
each reranker backend side by side, and how far the ONNX backends' scores are from torch's.

A request is what a search's second stage sends: a CSFCube query paper's facet sentences
against the first ``documents`` candidates of its judged pool (titles + abstracts, about 250
tokens a pair with the query). One client, one request at a time, on a keep-alive connection
to the real server (HTTP, JSON, the micro-batcher) in this process. The backends' servers run
at once and take turns in rounds, so a slow spell of a shared machine falls on each of them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.bench.latency import latency_ms
from finesim.bench.machine import machine_summary
from finesim.models.onnx.format import check_backend


def rerank_requests(documents: int, queries: int) -> list[tuple[str, list[str]]]:
    """(query facet text, its pool's first ``documents`` candidates' texts), for the first
    ``queries`` CSFCube pools with that many candidates, facets in turn."""
    from finesim.data.csfcube import FACETS, load_papers, load_pools
    from finesim.docsim.docs import facet_text

    papers = load_papers()
    pools = [p for f in FACETS for p in load_pools(f) if len(p.candidates) >= documents]
    pools.sort(key=lambda p: (p.qpid, p.facet))
    out = []
    for pool in pools[:queries]:
        paper = papers[pool.qpid]
        query = facet_text(paper.sentences, paper.labels or None, pool.facet) or paper.text
        out.append((query, [papers[c].text for c in pool.candidates[:documents]]))
    if not out:
        raise FinesimError(f"--documents {documents}: no CSFCube pool has that many candidates")
    return out


def agreement(ours: np.ndarray, torch_scores: np.ndarray, top: int = 10) -> dict[str, float]:
    """Scores of one backend against torch's on the same requests (rows): the largest score
    difference, mean Spearman within a request, and mean overlap of the top ``top``."""
    from scipy.stats import spearmanr

    rho = [spearmanr(a, b).statistic for a, b in zip(ours, torch_scores, strict=True)]
    first = [
        len(set(np.argsort(-a)[:top]) & set(np.argsort(-b)[:top])) / top
        for a, b in zip(ours, torch_scores, strict=True)
    ]
    return {
        "max_abs_score_diff": float(np.abs(ours - torch_scores).max()),
        "mean_spearman": float(np.mean(rho)),
        f"mean_top{top}_overlap": float(np.mean(first)),
    }


def run_rerank_serve_bench(
    model: str = "minilm",
    reranker: str | None = None,
    backends: Sequence[str] = ("torch", "onnx", "onnx-int8"),
    requests: int = 30,
    rounds: int = 3,
    documents: int = 50,
) -> dict[str, Any]:
    """p50/p99 of ``requests`` /v1/rerank calls per backend (in ``rounds`` turns), and each
    backend's score agreement with torch. ``reranker`` None: ``model``'s transformer with a
    fresh one-score head (seed 42): the latency of a reranker of that size, its scores
    meaningless as relevance."""
    from finesim.bench.cross_runs import initial_folder
    from finesim.bench.serve import run_load
    from finesim.models.cross_encoder import CrossEncoder
    from finesim.models.encoder import Encoder
    from finesim.serve.app import create_app
    from finesim.serve.server import LiveServer
    from finesim.serve.service import Limits, Service

    for backend in backends:
        check_backend(backend)
    if "torch" not in backends:
        raise FinesimError("--backends: include torch, the reference of the agreement figures")
    machine = machine_summary()
    pairs = rerank_requests(documents, max(requests, 8))
    bodies = [
        json.dumps({"model": "reranker", "query": q, "documents": docs, "top_n": 10}).encode()
        for q, docs in pairs
    ]
    encoder = Encoder(model)
    with tempfile.TemporaryDirectory(prefix="finesim-rerank-serve-") as tmp:
        folder = Path(reranker) if reranker else initial_folder(model, 1, 42, Path(tmp) / "fresh")
        crosses = {b: CrossEncoder(folder, backend=b) for b in backends}  # exports first
        scores = {
            b: np.stack([c.predict([(q, d) for d in docs]) for q, docs in pairs[:8]])
            for b, c in crosses.items()
        }
        services = {
            b: Service(encoder, model, limits=Limits(), reranker=c, reranker_name="reranker")
            for b, c in crosses.items()
        }
        kept: dict[str, list[tuple[float, int]]] = {b: [] for b in backends}
        with ExitStack() as stack:  # servers stop first, then their services close
            for service in services.values():
                stack.callback(service.close)
            urls = {b: stack.enter_context(LiveServer(create_app(s))) for b, s in services.items()}
            for b in backends:  # warm up: first calls pay for allocation and kernel choice
                run_load(urls[b], bodies[:3], 3, 1, path="/v1/rerank")
            share = [requests // rounds + (r < requests % rounds) for r in range(rounds)]
            for count in share:
                for b in backends:
                    run_load(urls[b], bodies, count, 1, path="/v1/rerank", keep=kept[b])
    latency = {
        b: {
            "requests": len(k),
            "errors": sum(status != 200 for _, status in k),
            **latency_ms([s for s, _ in k], points=(50, 90, 99)),
        }
        for b, k in kept.items()
    }
    return {
        "benchmark": "rerank-serve",
        "endpoint": "POST /v1/rerank (query, documents, top_n 10)",
        "model": model,
        "reranker": reranker or f"{model}'s transformer with a fresh one-score head (seed 42)",
        "request": f"1 query (a CSFCube query paper's facet sentences) x {documents} "
        "candidate titles + abstracts of its judged pool",
        "documents": documents,
        "clients": 1,
        "rounds": rounds,
        "latency": latency,
        "agreement_with_torch": {
            "requests": len(scores["torch"]),
            **{b: agreement(s, scores["torch"]) for b, s in scores.items() if b != "torch"},
        },
        "timing": "each request's wall time at the client (send, serve, read the reply), one "
        "at a time; the backends' servers take turns in rounds after 3 warm-up requests each",
        "machine": machine,
    }
