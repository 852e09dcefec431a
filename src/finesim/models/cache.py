"""An on-disk embedding cache, so that evaluating a model again re-encodes nothing.

Keyed by the encoder's fingerprint (a hash of its weights and settings, see
``Encoder.fingerprint``) and the text. One SQLite file per fingerprint under
``$FINESIM_CACHE/embeddings`` (default ``~/.cache/finesim``): writes are transactional, so a
killed run never leaves a corrupt cache.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim.data.documents import Document
from finesim.models.encoder import Encoder
from finesim.models.registry import cache_dir


def _key(text: str, normalize: bool | None, max_length: int | None, variant: str = "") -> bytes:
    key = (
        f"{normalize}|{max_length}|{text}"
        if not variant
        else f"{variant}|{normalize}|{max_length}|{text}"
    )
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def asymmetric(encoder: Encoder) -> bool:
    """Whether queries and documents are encoded differently (a Router, or prompts named
    "query" / "document"): then searches and evaluations encode each side with its task."""
    return encoder.router is not None or bool({"query", "document"} & set(encoder.prompts))


def task_options(encoder: Encoder, task: str | None) -> dict[str, Any]:
    """``encode`` options for ``task`` ("query", "document", None), as ``encode_query``."""
    if task is None or not asymmetric(encoder):
        return {}
    return {"task": task, "prompt_name": task if task in encoder.prompts else None}


def _variant(encoder: Encoder, task: str | None) -> str:
    """What ``task`` changes in the vectors, for the cache key ("" when nothing)."""
    options = task_options(encoder, task)
    if not options:
        return ""
    route = encoder.route_name(task) if encoder.router is not None else ""
    return f"{route}|{encoder.prompts.get(task or '', '')}"


class EmbeddingCache:
    """Vectors of one model, by text."""

    def __init__(self, fingerprint: str, root: Path | None = None) -> None:
        folder = (root or cache_dir()) / "embeddings"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{fingerprint}.sqlite"
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS v (k BLOB PRIMARY KEY, vec BLOB NOT NULL)")

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT k, vec FROM v WHERE k IN ({marks})", chunk)
            for k, blob in rows:
                found[k] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, items: dict[bytes, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO v VALUES (?, ?)",
                (
                    (k, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for k, v in items.items()
                ),
            )

    def close(self) -> None:
        self._db.close()


CHUNK = 4096  # texts encoded between two writes to the cache


def encode_cached(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    normalize: bool | None = None,
    max_length: int | None = None,
    cache: bool | EmbeddingCache = True,
    show_progress: bool | None = None,
    task: str | None = None,
) -> np.ndarray:
    """``encoder.encode(texts)``, encoding each distinct text once and only if not cached.

    ``cache=False`` still deduplicates but touches no disk (use it for a model that changes,
    e.g. inside a training loop). ``task`` "query" or "document" encodes as ``encode_query``
    / ``encode_document`` would, for models where the two differ.
    """
    unique = list(dict.fromkeys(texts))
    store = None
    if cache is True:
        store = EmbeddingCache(encoder.fingerprint())
    elif isinstance(cache, EmbeddingCache):
        store = cache
    variant = _variant(encoder, task)
    keys = [_key(t, normalize, max_length, variant) for t in unique]
    found = store.get(keys) if store is not None else {}
    missing = [t for t, k in zip(unique, keys, strict=True) if k not in found]
    # Longest first, in chunks, each chunk stored as soon as it is done: a run killed after an
    # hour of encoding keeps that hour (a rerun encodes only what is missing).
    if missing:
        missing.sort(key=len, reverse=True)
        if show_progress is None:
            show_progress = len(missing) >= 1024  # a bar at a terminal, log lines elsewhere
        blocks = encoder.encode_iter(
            missing,
            batch_size=batch_size,
            normalize=normalize,
            max_length=max_length,
            chunk_size=CHUNK,
            total=len(missing),
            show_progress=show_progress,
            **task_options(encoder, task),
        )
        for start, vectors in zip(range(0, len(missing), CHUNK), blocks, strict=True):
            chunk = missing[start : start + CHUNK]
            new = {
                _key(t, normalize, max_length, variant): v
                for t, v in zip(chunk, vectors, strict=True)
            }
            found.update(new)
            if store is not None:
                store.put(new)
    if cache is True and store is not None:
        store.close()
    by_text = {t: found[k] for t, k in zip(unique, keys, strict=True)}
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([by_text[t] for t in texts])


def sentence_vectors(
    encoder: Encoder,
    documents: Sequence[Document],
    *,
    batch_size: int = 32,
    cache: bool = True,
    task: str | None = None,
) -> list[np.ndarray]:
    """The sentence vectors of each document (through the embedding cache)."""
    flat = [s for doc in documents for s in doc.sentences]
    matrix = encode_cached(encoder, flat, batch_size=batch_size, cache=cache, task=task)
    bounds = np.cumsum([0, *(len(doc.sentences) for doc in documents)])
    return [matrix[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
