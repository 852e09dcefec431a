"""Micro-batching: concurrent embedding requests share one encoder call.

One worker thread owns the encoder. Requests wait in a bounded queue; the worker takes the
first one, then keeps taking more for at most ``max_wait`` seconds (or until ``max_texts``
texts are gathered), encodes them all in one call and hands each request its own rows. A
full queue is refused at once (the server answers 503) instead of letting latency grow
without bound. ``max_texts=0`` turns batching off: one request per encoder call, through the
same queue, so the two modes differ only in batching.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# texts -> (vectors, tokens per text); runs on the worker thread only
EncodeFn = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]


class QueueFull(Exception):
    """The request queue is full: the caller should retry later (HTTP 503)."""


@dataclass
class Result:
    vectors: np.ndarray  # one row per text, float32
    tokens: np.ndarray  # tokens per text (after truncation)


@dataclass
class _Job:
    texts: list[str]
    future: Future[Result]


class Batcher:
    """A bounded queue of embedding requests served by one worker thread.

    ``max_queue`` bounds waiting requests; ``max_wait`` (seconds) is how long the first
    request of a batch waits for company; ``max_texts`` caps the texts of one encoder call
    (0: no batching). ``lock`` is held around each encoder call, so other users of the same
    encoder (text search queries) never run at the same time. ``on_batch`` sees the number
    of requests and texts of each encoder call (for metrics).
    """

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_queue: int = 64,
        max_wait: float = 0.005,
        max_texts: int = 128,
        lock: threading.Lock | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        if max_queue < 1 or max_wait < 0 or max_texts < 0:
            raise ValueError("max_queue must be >= 1, max_wait and max_texts >= 0")
        self.encode = encode
        self.max_wait, self.max_texts = max_wait, max_texts
        self.lock = lock or threading.Lock()
        self.on_batch = on_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._held: _Job | None = None  # taken from the queue but too big for the last batch
        self.calls = self.requests = 0  # encoder calls made and requests they served
        self._thread = threading.Thread(target=self._run, name="finesim-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting in the queue now."""
        return self._queue.qsize()

    def submit(self, texts: Sequence[str]) -> Future[Result]:
        """Queue ``texts`` for encoding; raises ``QueueFull`` when the queue is full."""
        job = _Job(list(texts), Future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull from None
        return job.future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _next(self, timeout: float | None) -> _Job | None:
        if self._held is not None:
            job, self._held = self._held, None
            return job
        return self._queue.get(timeout=timeout)

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` and the requests that arrive within ``max_wait``; True if told to stop."""
        jobs, size = [first], len(first.texts)
        if self.max_texts == 0:
            return jobs, False
        deadline = time.monotonic() + self.max_wait
        while size < self.max_texts:
            left = deadline - time.monotonic()
            try:
                job = self._next(left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            if size + len(job.texts) > self.max_texts:
                self._held = job  # starts the next batch
                break
            jobs.append(job)
            size += len(job.texts)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._next(None)
            if first is None:
                break
            jobs, stop = self._gather(first)
            self._serve(jobs)
        if self._held is not None:
            self._serve([self._held])

    def _serve(self, jobs: list[_Job]) -> None:
        # a request whose client went away was cancelled: skip it (and setting its result
        # would raise and kill the worker); the others can no longer be cancelled
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        texts = [t for job in jobs for t in job.texts]
        try:
            with self.lock:
                vectors, tokens = self.encode(texts)
        except Exception as e:  # handed to each waiting request; the worker lives on
            log.exception("encoding a batch of %d texts failed", len(texts))
            for job in jobs:
                job.future.set_exception(e)
            return
        self.calls += 1
        self.requests += len(jobs)
        if self.on_batch is not None:
            self.on_batch(len(jobs), len(texts))
        at = 0
        for job in jobs:
            n = len(job.texts)
            job.future.set_result(Result(vectors[at : at + n], tokens[at : at + n]))
            at += n
