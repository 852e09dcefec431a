"""Micro-batching by a token budget: concurrent embedding requests share encoder calls, and a
long request is split into budget-sized pieces interleaved with the others.

One worker thread owns the encoder. Requests wait in a queue bounded by ``max_queue``; the
worker counts each request's tokens when it takes it, then fills every encoder call with up to
``max_tokens`` tokens (and ``max_texts`` texts): requests not yet started first, in arrival
order, then the pieces of those under way, in turn. So a one-sentence request that arrives
while 256 long texts are being encoded waits for the piece being encoded and goes into the
next call, instead of waiting for all 256 (text-embeddings-inference's ``--max-batch-tokens``
does the same). When the worker is idle, the first request waits ``max_wait`` seconds for
company. ``max_tokens=0`` takes each request whole (no splitting); ``max_texts=0`` turns
batching off (one request per encoder call, split by the token budget if there is one). A full
queue is refused at once (the server answers 503) instead of letting latency grow without
bound, and a request whose future was cancelled (its client went away, or it ran past its
time) is dropped, with the pieces it has not had yet.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

# texts (, key) -> (vectors, tokens per text); runs on the worker thread only. A request's
# key (how to encode it: prompt, route) is passed on when it is not None; only requests with
# the same key share an encoder call.
EncodeFn = Callable[..., tuple[np.ndarray, np.ndarray]]
# texts -> tokens per text (after truncation), to form batches by the token budget
CountFn = Callable[[list[str]], Sequence[int]]


class QueueFull(Exception):
    """The request queue is full: the caller should retry later (HTTP 503)."""


@dataclass
class Result:
    vectors: np.ndarray  # one row per text, float32
    tokens: np.ndarray  # tokens per text (after truncation)


@dataclass(eq=False)  # compared by identity
class _Job:
    texts: list[str]
    future: Future[Result]
    tokens: list[int] = field(default_factory=list)  # per text, counted by the worker
    done: int = 0  # texts encoded so far
    parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    claimed: bool = False  # set running: can no longer be cancelled
    key: Hashable = None  # how to encode: jobs share a call only with equal keys


# (job, first text, end) of one encoder call
_Piece = tuple[_Job, int, int]


class Batcher:
    """A bounded queue of embedding requests served by one worker thread.

    ``max_queue`` bounds the requests waiting (those in the encoder call under way do not
    count); ``max_wait`` (seconds) is how long an idle worker's first request waits for
    company; ``max_texts`` caps the texts of one encoder call (0: no batching); ``max_tokens``
    caps its tokens (0: requests are never split) as ``count`` counts them (default: one
    token a text). ``lock`` is held around each encoder call. ``on_batch`` sees the number of
    requests and texts of each encoder call (for metrics).
    """

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_queue: int = 64,
        max_wait: float = 0.005,
        max_texts: int = 128,
        max_tokens: int = 0,
        count: CountFn | None = None,
        lock: threading.Lock | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        if max_queue < 1 or max_wait < 0 or max_texts < 0 or max_tokens < 0:
            raise ValueError("max_queue must be >= 1, max_wait, max_texts and max_tokens >= 0")
        self.encode = encode
        self.count = count
        self.max_queue, self.max_wait = max_queue, max_wait
        self.max_texts, self.max_tokens = max_texts, max_tokens
        self.lock = lock or threading.Lock()
        self.on_batch = on_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._fresh: deque[_Job] = deque()  # taken from the queue, nothing encoded yet
        self._started: deque[_Job] = deque()  # partly encoded, served in turn
        self._skipped = 0  # calls in a row that gave the oldest started request nothing
        self._counts = threading.Lock()
        self._outstanding = 0  # submitted and not finished (done, failed or cancelled)
        self._running = 0  # requests in the encoder call under way
        self.calls = self.requests = 0  # encoder calls made and requests completed
        self._thread = threading.Thread(target=self._run, name="finesim-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting now (not counting those in the encoder call under way)."""
        with self._counts:
            return max(0, self._outstanding - self._running)

    def submit(self, texts: Sequence[str], key: Hashable = None) -> Future[Result]:
        """Queue ``texts`` for encoding; raises ``QueueFull`` when the queue is full.

        ``key`` (not None) is handed to ``encode`` with the texts; requests with different
        keys never share a call. Cancelling the future drops the request (and its pieces not
        yet encoded)."""
        job = _Job(list(texts), Future(), key=key)
        with self._counts:
            if self._outstanding - self._running >= self.max_queue:
                raise QueueFull
            self._outstanding += 1
        job.future.add_done_callback(self._finished)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _finished(self, future: Future[Result]) -> None:
        with self._counts:
            self._outstanding -= 1

    # ---- the worker ----------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while True:
            if not self._fresh and not self._started:
                if stop:
                    break
                job = self._queue.get()
                if job is None:
                    break
                self._take(job)
                stop = self._gather()
            else:
                stop = self._drain() or stop
            try:
                pieces = self._form()
                if pieces:
                    self._serve(pieces)
            except Exception as e:  # a bug here must not leave requests waiting forever
                log.exception("the batcher failed")
                self._fail([*self._fresh, *self._started], e)

    def _take(self, job: _Job) -> None:
        """Count the request's tokens and put it in line (a failure is its answer)."""
        if job.future.cancelled():
            return
        if not job.texts:  # nothing to encode: answered at once
            if self._claim(job):
                job.future.set_result(Result(np.zeros((0, 0), np.float32), np.zeros(0, np.int64)))
            return
        try:
            job.tokens = (
                [int(n) for n in self.count(job.texts)] if self.count else [1] * len(job.texts)
            )
        except Exception as e:  # e.g. the tokenizer refused a text: this request fails alone
            self._fail([job], e)
            return
        self._fresh.append(job)

    def _drain(self) -> bool:
        """Take every request waiting now; True if told to stop."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            self._take(job)

    def _gather(self) -> bool:
        """With an idle worker's first request: wait ``max_wait`` for company, until a call
        is full; True if told to stop."""
        if self.max_texts == 0:
            return self._drain()
        deadline = time.monotonic() + self.max_wait
        while not self._full():
            left = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            self._take(job)
        return self._drain()

    def _full(self) -> bool:
        jobs = list(self._fresh)
        texts = sum(len(j.texts) for j in jobs)
        tokens = sum(sum(j.tokens) for j in jobs)
        return (self.max_texts > 0 and texts >= self.max_texts) or (
            self.max_tokens > 0 and tokens >= self.max_tokens
        )

    def _order(self) -> list[_Job]:
        """Who goes into the next call: new requests first, then those under way in turn; an
        under-way request left out twice in a row goes first (new ones cannot starve it)."""
        for line in (self._fresh, self._started):
            for job in [j for j in line if j.future.cancelled()]:
                line.remove(job)
        if self._started and self._skipped >= 2:
            return [*self._started, *self._fresh]
        return [*self._fresh, *self._started]

    def _form(self) -> list[_Piece]:
        """The pieces of the next encoder call, within the text and token budgets."""
        texts_left = self.max_texts or None
        tokens_left = self.max_tokens or None
        pieces: list[_Piece] = []
        for job in self._order():
            if pieces and job.key != pieces[0][0].key:
                continue  # encoded another way: in a later call
            start = end = job.done
            if self.max_tokens == 0:  # whole requests: the first always, others while they fit
                n = len(job.texts) - start
                if pieces and texts_left is not None and n > texts_left:
                    break
                end = len(job.texts)
                texts_left = None if texts_left is None else texts_left - n
            else:
                while end < len(job.texts) and (texts_left is None or texts_left > 0):
                    cost = job.tokens[end]
                    if tokens_left is not None and cost > tokens_left and (pieces or end > start):
                        break
                    tokens_left = None if tokens_left is None else tokens_left - cost
                    texts_left = None if texts_left is None else texts_left - 1
                    end += 1
            if end > start:
                pieces.append((job, start, end))
            out_of_room = (texts_left is not None and texts_left <= 0) or (
                tokens_left is not None and tokens_left <= 0
            )
            if self.max_texts == 0 or out_of_room or end < len(job.texts):
                break
        if self._started:
            served = any(job is self._started[0] for job, _, _ in pieces)
            self._skipped = 0 if served else self._skipped + 1
        return pieces

    def _serve(self, pieces: list[_Piece]) -> None:
        # the requests whose last piece this is are claimed (no longer cancellable); a request
        # whose client went away meanwhile is dropped
        kept = []
        for job, start, end in pieces:
            if end == len(job.texts) and not self._claim(job):
                continue
            if not job.claimed and job.future.cancelled():
                continue
            kept.append((job, start, end))
        if not kept:
            self._tidy()
            return
        texts = [t for job, start, end in kept for t in job.texts[start:end]]
        jobs = list({id(job): job for job, _, _ in kept}.values())
        with self._counts:
            self._running = len(jobs)
        try:
            key = kept[0][0].key
            with self.lock:
                vectors, tokens = self.encode(texts) if key is None else self.encode(texts, key)
        except Exception as e:  # handed to each waiting request; the worker lives on
            log.exception("encoding a batch of %d texts failed", len(texts))
            self._fail(jobs, e)
            return
        finally:
            with self._counts:
                self._running = 0
        self.calls += 1
        if self.on_batch is not None:
            self.on_batch(len(jobs), len(texts))
        at = 0
        for job, start, end in kept:
            n = end - start
            job.parts.append((vectors[at : at + n], tokens[at : at + n]))
            job.done, at = end, at + n
            if job.done == len(job.texts):
                self._complete(job)
        self._tidy()
        for job in {id(j): j for j, _, _ in kept}.values():  # under way: to the back of the line
            if job in self._started:
                self._started.remove(job)
                self._started.append(job)

    def _claim(self, job: _Job) -> bool:
        if not job.claimed:
            job.claimed = job.future.set_running_or_notify_cancel()
        return job.claimed

    def _complete(self, job: _Job) -> None:
        vectors = np.concatenate([v for v, _ in job.parts]) if len(job.parts) > 1 else None
        tokens = np.concatenate([t for _, t in job.parts]) if len(job.parts) > 1 else None
        if vectors is None or tokens is None:
            vectors, tokens = job.parts[0]
        job.parts = []
        if self._claim(job):
            self.requests += 1
            job.future.set_result(Result(vectors, tokens))

    def _fail(self, jobs: list[_Job], error: Exception) -> None:
        for job in jobs:
            job.done = len(job.texts)
            if self._claim(job):
                job.future.set_exception(error)
        self._tidy()

    def _tidy(self) -> None:
        """Finished requests leave the line; the started ones move to ``_started``."""
        for job in list(self._fresh):
            if job.done == len(job.texts) or job.future.done():
                self._fresh.remove(job)
            elif job.done > 0:
                self._fresh.remove(job)
                self._started.append(job)
        for job in list(self._started):
            if job.done == len(job.texts) or job.future.done():
                self._started.remove(job)
