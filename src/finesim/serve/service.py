"""What a server holds: one encoder, its batcher, the open indexes, the limits and metrics.

The HTTP layer (``app.py``) only parses and formats; the work is done here, so it can be
called and tested without HTTP.

Everything that encodes goes through the one batcher, searches' query texts too (an index's
encoder here is a ``BatchedEncoder``), so a search never holds the encoder while embeddings
wait. Searches run one at a time on their own threads, at most ``max_searches`` running or
waiting (then 503); each request carries a ``Ticket``: its time budget, and whether its
client is still there, which a search checks when its turn comes and while it waits for the
encoder.
"""

from __future__ import annotations

import contextvars
import copy
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.memory import HeapTrimmer
from finesim.fusion.preset import Preset
from finesim.fusion.terms import SENTENCE_TERMS
from finesim.models import registry
from finesim.models.cross_encoder import CrossEncoder
from finesim.models.encoder import Encoder
from finesim.models.spec import EncoderSpec
from finesim.search.hybrid import HYBRID, HybridSearcher
from finesim.search.index import Index, default_budget
from finesim.serve.batcher import Batcher, QueueFull
from finesim.serve.metrics import Metrics

# What one stage-2 candidate costs under each scorer, in units of max-sim's (measured with
# 8-sentence papers, 384 dimensions: max-sim ~45 us a candidate, mean-vec ~30, min-l2 ~50-130,
# ot ~100-160; hybrid's pool holds each of its signals' candidates, its base terms (abstract,
# facet-mean, BM25) ~3 units plus its sentence terms).
SCORER_COST = {"max-sim": 1, "mean-vec": 1, "min-l2": 2, "ot": 4}
HYBRID_BASE_COST = 3
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how requests are queued and batched.

    ``max_texts`` 0 turns micro-batching off (one request per encoder call).
    """

    max_inputs: int = 256  # texts per embeddings/similarity request
    max_chars: int = 8192  # characters per text
    max_body: int = 1_000_000  # bytes of a request body
    max_k: int = 100  # hits per search
    max_queue: int = 64  # requests waiting for the encoder
    max_wait: float = 0.005  # seconds the first request of a batch waits for others
    max_texts: int = 128  # texts per encoder call
    max_tokens: int = 1024  # tokens per encoder call; longer requests are split (0: never)
    max_candidates: int = 10_000  # stage-2 candidates of one search
    max_search_cost: int = 20_000  # candidates x SCORER_COST of one search
    max_searches: int = 8  # searches running or waiting before 503 + Retry-After
    max_rerank_top: int = 100  # hits a search's rerank stage may reorder (pairs scored)
    timeout: float = 30.0  # seconds a request may take before it is abandoned (0: no limit)
    cors_origins: tuple[str, ...] = ()  # origins of pages allowed to call the API ("*": any)


class Busy(Exception):
    """A queue is full: answered 503 with Retry-After."""


class TimedOut(Exception):
    """The request ran past its time budget (or its client went away): abandoned, 503."""


@dataclass
class Ticket:
    """One request's time budget and whether its client still waits for the answer."""

    timeout: float | None  # seconds, None: no limit
    started: float = field(default_factory=time.monotonic)
    abandoned: threading.Event = field(default_factory=threading.Event)

    def left(self) -> float | None:
        """Seconds left (at least 0), None without a limit."""
        if self.timeout is None:
            return None
        return max(0.0, self.started + self.timeout - time.monotonic())

    def check(self) -> None:
        """Raise ``TimedOut`` once the budget is spent or the client has gone."""
        if self.abandoned.is_set():
            raise TimedOut("the request was abandoned")
        if self.left() == 0.0:
            raise TimedOut(f"the request ran past the server's time budget ({self.timeout:g} s)")


# the ticket of the search running on this thread (read by BatchedEncoder.encode)
_TICKET: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("ticket", default=None)


def _token_counts(features: dict[str, Any]) -> np.ndarray:
    """Tokens per text of tokenised inputs (a StaticEmbedding route has no attention mask)."""
    if "attention_mask" in features:
        return np.asarray(features["attention_mask"].sum(dim=1).numpy())
    offsets = features["offsets"].numpy()
    return np.diff(np.append(offsets, len(features["input_ids"])))


class BatchedEncoder:
    """An encoder whose ``encode`` goes through the server's batcher, as an index's model:
    a search's query texts then queue with embeddings requests instead of holding the encoder.
    Everything else (``dim``, ``fingerprint``, ...) is the encoder's own."""

    def __init__(self, encoder: Encoder, batcher: Batcher) -> None:
        self._encoder, self._batcher = encoder, batcher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    def encode(self, texts: str | Sequence[str], **options: Any) -> np.ndarray:
        if options:  # not a search query (the server never passes any): the encoder itself
            with self._batcher.lock:
                return self._encoder.encode(texts, **options)
        single = isinstance(texts, str)
        vectors = _through(self._batcher, [texts] if isinstance(texts, str) else list(texts))
        return vectors[0] if single else vectors


class BatchedReranker:
    """A search's rerank stage through the server's rerank batcher: its (query, document)
    pairs queue with /v1/rerank's, scored by the one reranker the server loaded."""

    def __init__(self, reranker: CrossEncoder, batcher: Batcher) -> None:
        self._reranker, self._batcher = reranker, batcher

    @property
    def num_labels(self) -> int:
        return self._reranker.num_labels

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return _through(self._batcher, list(pairs))[:, 0]


def _through(batcher: Batcher, items: list[Any]) -> np.ndarray:
    """``items`` through ``batcher``, waking now and then to see whether the search's
    client (its ``Ticket``) is still there; a full queue is ``Busy``."""
    try:
        future = batcher.submit(items)
    except QueueFull:
        raise Busy("the server is busy (request queue full); retry later") from None
    ticket = _TICKET.get()
    while True:
        left = None if ticket is None else ticket.left()
        try:
            return future.result(timeout=0.1 if left is None else min(left, 0.1)).vectors
        except FutureTimeout:
            if ticket is not None:
                try:
                    ticket.check()
                except TimedOut:
                    future.cancel()
                    raise


class Service:
    """An encoder behind a batcher, plus named indexes built with the same model.

    ``name`` is the model name clients send (``model`` of /v1/embeddings). A ``reranker``
    (a CrossEncoder, ``reranker_name`` for clients) has its own batcher of (query, document)
    pairs under the same limits, so reranking and embedding never wait for each other.
    """

    def __init__(
        self,
        encoder: Encoder,
        name: str,
        indexes: dict[str, Index] | None = None,
        limits: Limits | None = None,
        api_key: str | None = None,
        reranker: CrossEncoder | None = None,
        reranker_name: str | None = None,
    ) -> None:
        self.encoder, self.name = encoder, name
        self.reranker = reranker
        self.reranker_name = reranker_name or (reranker.source if reranker else None)
        self.limits = limits or Limits()
        self.api_key = api_key or None
        self.metrics = Metrics()
        self._trimmer = HeapTrimmer()
        self._encoder_lock = threading.Lock()
        self._search_lock = threading.Lock()
        # one hybrid searcher per index: it keeps what it builds (BM25, unit vectors)
        self._searchers: dict[int, HybridSearcher] = {}
        self.batcher = Batcher(
            self._encode,
            max_queue=self.limits.max_queue,
            max_wait=self.limits.max_wait,
            max_texts=self.limits.max_texts,
            max_tokens=self.limits.max_tokens,
            count=self._count,
            lock=self._encoder_lock,
            on_batch=self.metrics.on_batch,
        )
        self.rerank_batcher: Batcher | None = None
        if reranker is not None and reranker.num_labels != 1:
            raise FinesimError(
                f"reranker {self.reranker_name}: needs a one-score model, not "
                f"{reranker.num_labels} labels"
            )
        if reranker is not None:  # pairs are the batcher's items; its budget counts their tokens
            self.rerank_batcher = Batcher(
                self._rerank,
                max_queue=self.limits.max_queue,
                max_wait=self.limits.max_wait,
                max_texts=self.limits.max_texts,
                max_tokens=self.limits.max_tokens,
                count=reranker.count_tokens,  # type: ignore[arg-type]
                on_batch=self.metrics.on_rerank_batch,
            )
        # each index served through a shallow copy that encodes through the batcher (the
        # caller's index keeps its own encoder)
        batched = cast(Encoder, BatchedEncoder(encoder, self.batcher))  # an Encoder to the index
        self.indexes = {name: copy.copy(index) for name, index in (indexes or {}).items()}
        for index in self.indexes.values():
            index.use(batched)
        # searches run here, one at a time (the search lock); the slots bound those waiting
        self._search_slots = threading.BoundedSemaphore(self.limits.max_searches)
        self._search_pool = ThreadPoolExecutor(
            self.limits.max_searches, thread_name_prefix="finesim-search"
        )

    def _encode(
        self, texts: list[str], key: tuple[str, str | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectors exactly as ``finesim encode`` makes them (the model's own normalisation);
        ``key`` (prompt text, task) as ``prompting`` gives it. Tokens count the prompt's."""
        prompt, task = key if key is not None else (None, None)
        vectors = self.encoder.encode(texts, prompt=prompt, task=task)
        prompted = texts if not prompt else [prompt + t for t in texts]
        if key is None and self.encoder.default_prompt_name:
            default = self.encoder.prompts[self.encoder.default_prompt_name]
            prompted = [default + t for t in texts]
        features, _ = self.encoder.tokenize(prompted, task=task)
        self._trimmer.maybe()  # RSS stays flat over a long run (finesim._util.memory)
        return vectors, _token_counts(features)

    def _rerank(self, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """Scores of (query, document) pairs as ``CrossEncoder.predict`` gives them, and the
        tokens each pair read."""
        assert self.reranker is not None
        scores = self.reranker.predict(pairs)
        tokens = np.asarray(self.reranker.count_tokens(pairs), dtype=np.int64)
        self._trimmer.maybe()
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1), tokens

    def prompting(
        self, prompt_name: str | None, input_type: str | None
    ) -> tuple[str, str | None] | None:
        """The batcher key for a request's ``prompt_name`` / ``input_type`` (None: plain).

        ``input_type`` query or document encodes as ``encode_query`` / ``encode_document``.
        """
        if prompt_name is None and input_type is None:
            return None
        encoder = self.encoder
        if prompt_name is None and input_type in encoder.prompts:
            prompt_name = input_type
        if prompt_name is not None and prompt_name not in encoder.prompts:
            known = ", ".join(encoder.prompts) or "none"
            raise FinesimError(f"field 'prompt_name': {prompt_name!r} is not one of: {known}")
        prompt = encoder._prompt(None, prompt_name)
        task = input_type if encoder.router is not None else None
        if task is not None:
            encoder.route_name(task)
        return prompt, task

    def _count(self, texts: list[str]) -> list[int]:
        """Tokens per text after truncation: what the batcher's token budget counts."""
        features, _ = self.encoder.tokenize(texts)
        return [int(n) for n in _token_counts(features).tolist()]

    def ticket(self) -> Ticket:
        """A new request's ticket, with this server's time budget."""
        return Ticket(self.limits.timeout or None)

    def close(self) -> None:
        self._search_pool.shutdown(wait=False, cancel_futures=True)
        self.batcher.close()
        if self.rerank_batcher is not None:
            self.rerank_batcher.close()

    def info(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "dimension": self.encoder.dim,
            "reranker": self.reranker_name,
            "indexes": {name: len(index) for name, index in self.indexes.items()},
        }

    # ---- search --------------------------------------------------------------------------

    def index(self, name: str | None) -> tuple[str, Index]:
        """The index called ``name``; None is fine when the server holds exactly one."""
        if name is None:
            if len(self.indexes) != 1:
                raise LookupError(
                    "field 'index': required, one of " + ", ".join(sorted(self.indexes))
                    if self.indexes
                    else "this server has no index (start it with --index PATH)"
                )
            name = next(iter(self.indexes))
        if name not in self.indexes:
            known = ", ".join(sorted(self.indexes)) or "none"
            raise LookupError(f"field 'index': no index {name!r} (this server has: {known})")
        return name, self.indexes[name]

    def search_cost(
        self, index: Index, scoring: str, k: int, candidates: int | None, preset: Preset | None
    ) -> tuple[int, int]:
        """(candidates scored, their cost in SCORER_COST units) of one search."""
        pool = min(candidates or default_budget(scoring, k), len(index))
        if scoring != HYBRID:
            return pool, pool * SCORER_COST.get(scoring, 1)
        searcher = self._searchers.setdefault(id(index), HybridSearcher(index))
        terms = (preset or searcher.preset(None)).terms
        unit = HYBRID_BASE_COST + sum(SCORER_COST[t] for t in SENTENCE_TERMS if t in terms)
        return pool, pool * unit

    def submit_search(self, ticket: Ticket, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` (which calls ``search``) on a search thread under ``ticket``; raises
        ``Busy`` when ``max_searches`` are running or waiting. The slot is freed when the work
        ends, even work whose client has gone (it stops at its next check of the ticket)."""
        if not self._search_slots.acquire(blocking=False):
            raise Busy("the server is busy (search queue full); retry later")
        try:
            future = self._search_pool.submit(
                contextvars.copy_context().run, _ticketed, ticket, work
            )
        except RuntimeError:  # shut down
            self._search_slots.release()
            raise Busy("the server is shutting down") from None
        future.add_done_callback(lambda _: self._search_slots.release())
        return future

    def batched_reranker(self) -> BatchedReranker | None:
        """The server's reranker for a search's rerank stage, through its batcher."""
        if self.reranker is None or self.rerank_batcher is None:
            return None
        return BatchedReranker(self.reranker, self.rerank_batcher)

    def search(self, index: Index, query: str | None, query_doc: str | None, **options: Any) -> Any:
        """A search (``HybridSearcher.search``: any scoring), one at a time (its thread limits
        are process-wide); a text query is encoded through the batcher (``BatchedEncoder``), so
        embeddings keep flowing meanwhile, and a rerank stage's pairs go through the rerank
        batcher (``rerank=self.batched_reranker()``). A search whose ticket is spent when its
        turn comes is not started."""
        if query_doc is not None:
            try:
                index.position(query_doc)
            except FinesimError:
                raise LookupError(
                    f"field 'query_doc': no document {query_doc!r} in the index"
                ) from None
        searcher = self._searchers.setdefault(id(index), HybridSearcher(index))
        with self._search_lock:
            ticket = _TICKET.get()
            if ticket is not None:
                ticket.check()
            try:
                return searcher.search(query, query_doc=query_doc, **options)
            finally:
                self._trimmer.maybe()


def _ticketed(ticket: Ticket, work: Callable[[], T]) -> T:
    _TICKET.set(ticket)  # in the copied context this thread runs the work in
    return work()


def open_indexes(paths: Sequence[str]) -> dict[str, Index]:
    """The ``--index`` values opened: ``name=path``, or a path named by its folder."""
    named: dict[str, Path] = {}
    for value in paths:
        name, _, path = value.rpartition("=") if "=" in value else ("", "", value)
        folder = Path(path)
        name = name or folder.name
        if name in named:
            raise FinesimError(f"--index: two indexes are called {name!r}; use NAME=PATH")
        named[name] = folder
    return {name: Index.open(folder) for name, folder in named.items()}


def index_spec(indexes: Mapping[str, Index], backend: str | None = None) -> EncoderSpec:
    """The encoder to serve when none is named: the first index's own (minilm without one).

    ``backend`` (``--backend``) replaces the index's; None keeps it (an index saved without
    a spec: the model folder's own choice).
    """
    first = next(iter(indexes.values()), None)
    if first is None:
        spec = EncoderSpec(model=registry.DEFAULT_MODEL)
    else:
        spec = first.spec or EncoderSpec(model=first.model)
    return spec if backend is None else spec.replace(backend=backend)


def open_service(
    spec: EncoderSpec,
    indexes: dict[str, Index],
    limits: Limits,
    api_key: str | None,
    reranker: str | None = None,
    reranker_backend: str | None = None,
) -> Service:
    """Load the encoder ``spec`` describes and serve it, named ``spec.model``, with ``indexes``
    (``open_indexes``); each index must have been built with that encoder. ``reranker``: a
    cross-encoder (name or folder) for /v1/rerank, named so for clients, run on
    ``reranker_backend`` (None: its folder's own choice)."""
    cross = CrossEncoder(reranker, backend=reranker_backend) if reranker is not None else None
    return Service(Encoder.from_spec(spec), spec.model, indexes, limits, api_key, cross, reranker)
