"""Asymmetric models in search: documents are indexed with the document prompt (or route),
text queries encoded with the query one; a symmetric model is encoded as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finesim import Encoder, Index
from finesim.docsim.scoring import unit
from tests.helpers import papers

PROMPTS = {"query": "red model: ", "document": "blue paper: "}


def _prompted(tiny_st: Path, tmp_path: Path) -> Encoder:
    encoder = Encoder(tiny_st)
    encoder.prompts = dict(PROMPTS)
    return Encoder(encoder.save(tmp_path / "prompted"))


def test_index_stores_document_vectors_and_encodes_queries_as_queries(tiny_st, tmp_path):
    encoder = _prompted(tiny_st, tmp_path)
    docs = papers(6)
    index = Index.build(encoder, docs, kind="flat", cache=False)
    for position, doc in enumerate(docs):
        stored = index.doc(position).vectors
        np.testing.assert_allclose(stored, encoder.encode_document(doc.sentences), atol=1e-6)
        assert np.abs(stored - encoder.encode(doc.sentences, prompt="")).max() > 1e-3
    query = "a man plays the guitar."
    hit = index.search(query, k=1, scoring="max-sim", explain=0)[0]
    q = encoder.encode_query([query])
    best = max(float((unit(q) @ unit(index.doc(p).vectors).T).max()) for p in range(len(docs)))
    assert abs(hit.score - best) < 1e-5


def test_symmetric_model_ignores_tasks(tiny_st, tmp_path):
    from finesim.models.cache import asymmetric, encode_cached, task_options

    encoder = Encoder(tiny_st)
    assert not asymmetric(encoder) and task_options(encoder, "query") == {}
    texts = ["a cat sat.", "dogs run."]
    plain = encode_cached(encoder, texts, cache=False)
    np.testing.assert_array_equal(plain, encode_cached(encoder, texts, cache=False, task="query"))


def test_cache_keeps_query_and_document_vectors_apart(tiny_st, tmp_path, monkeypatch):
    from finesim.models.cache import EmbeddingCache, encode_cached

    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    encoder = _prompted(tiny_st, tmp_path)
    texts = ["a cat sat.", "dogs run."]
    store = EmbeddingCache(encoder.fingerprint())
    q = encode_cached(encoder, texts, cache=store, task="query")
    d = encode_cached(encoder, texts, cache=store, task="document")
    np.testing.assert_allclose(q, encoder.encode_query(texts), atol=1e-6)
    np.testing.assert_allclose(d, encoder.encode_document(texts), atol=1e-6)
    assert np.abs(q - d).max() > 1e-3
    # read back from the cache, each under its own key
    np.testing.assert_array_equal(q, encode_cached(encoder, texts, cache=store, task="query"))
    np.testing.assert_array_equal(d, encode_cached(encoder, texts, cache=store, task="document"))
