"""Prometheus metrics of one server, in their own registry (two apps in a process never clash)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "finesim_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "finesim_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.texts = Counter("finesim_embedded_texts", "Texts encoded.", registry=r)
        self.batches = Counter("finesim_encoder_calls", "Encoder calls (batches).", registry=r)
        self.batch_requests = Histogram(
            "finesim_batch_requests",
            "Requests merged into one encoder call.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self.rejected = Counter("finesim_queue_full", "Requests refused: queue full.", registry=r)
        self.timeouts = Counter(
            "finesim_timeouts", "Requests abandoned past their time budget.", registry=r
        )
        self.cancelled = Counter(
            "finesim_cancelled", "Requests whose client went away before the answer.", registry=r
        )
        self.pairs = Counter("finesim_reranked_pairs", "Query-document pairs scored.", registry=r)
        self.rerank_batches = Counter(
            "finesim_reranker_calls", "Reranker calls (batches of pairs).", registry=r
        )
        self.queue_depth = Gauge(
            "finesim_queue_depth", "Requests waiting to be encoded.", registry=r
        )

    def on_batch(self, requests: int, texts: int) -> None:
        self.batches.inc()
        self.texts.inc(texts)
        self.batch_requests.observe(requests)

    def on_rerank_batch(self, requests: int, pairs: int) -> None:
        self.rerank_batches.inc()
        self.pairs.inc(pairs)

    def render(self) -> bytes:
        return generate_latest(self.registry)
