"""What a server holds: one encoder, its batcher, the open indexes, the limits and metrics.

The HTTP layer (``app.py``) only parses and formats; the work is done here, so it can be
called and tested without HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.models import registry
from finesim.models.encoder import Encoder
from finesim.models.spec import EncoderSpec
from finesim.search.hybrid import HybridSearcher
from finesim.search.index import Index
from finesim.serve.batcher import Batcher
from finesim.serve.metrics import Metrics


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


class Service:
    """An encoder behind a batcher, plus named indexes built with the same model.

    ``name`` is the model name clients send (``model`` of /v1/embeddings).
    """

    def __init__(
        self,
        encoder: Encoder,
        name: str,
        indexes: dict[str, Index] | None = None,
        limits: Limits | None = None,
        api_key: str | None = None,
    ) -> None:
        self.encoder, self.name = encoder, name
        self.indexes = indexes or {}
        for index in self.indexes.values():
            index.use(encoder)
        self.limits = limits or Limits()
        self.api_key = api_key or None
        self.metrics = Metrics()
        self._encoder_lock = threading.Lock()
        self._search_lock = threading.Lock()
        # one hybrid searcher per index: it keeps what it builds (BM25, unit vectors)
        self._searchers: dict[int, HybridSearcher] = {}
        self.batcher = Batcher(
            self._encode,
            max_queue=self.limits.max_queue,
            max_wait=self.limits.max_wait,
            max_texts=self.limits.max_texts,
            lock=self._encoder_lock,
            on_batch=self.metrics.on_batch,
        )

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors exactly as ``finesim encode`` makes them (the model's own normalisation)."""
        vectors = self.encoder.encode(texts)
        features, _ = self.encoder.tokenize(texts)
        return vectors, features["attention_mask"].sum(dim=1).numpy()

    def close(self) -> None:
        self.batcher.close()

    def info(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "dimension": self.encoder.dim,
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

    def search(self, index: Index, query: str | None, query_doc: str | None, **options: Any) -> Any:
        """A search (``HybridSearcher.search``: any scoring) one at a time (its thread limits
        are process-wide), holding the encoder while a text query (or hybrid's facet text) is
        encoded so the batcher and search never share it."""
        if query_doc is not None:
            try:
                index.position(query_doc)
            except FinesimError:
                raise LookupError(
                    f"field 'query_doc': no document {query_doc!r} in the index"
                ) from None
        searcher = self._searchers.setdefault(id(index), HybridSearcher(index))
        with self._search_lock:
            if query is None and options.get("scoring") != "hybrid":  # hybrid encodes too
                return searcher.search(query_doc=query_doc, **options)
            with self._encoder_lock:
                return searcher.search(query, query_doc=query_doc, **options)


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
    spec: EncoderSpec, indexes: dict[str, Index], limits: Limits, api_key: str | None
) -> Service:
    """Load the encoder ``spec`` describes and serve it, named ``spec.model``, with ``indexes``
    (``open_indexes``); each index must have been built with that encoder."""
    return Service(Encoder.from_spec(spec), spec.model, indexes, limits, api_key)
