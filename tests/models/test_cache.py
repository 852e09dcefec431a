import numpy as np
import pytest

from finesim import Encoder
from finesim.models import cache as cache_module
from finesim.models.cache import EmbeddingCache, encode_cached

TEXTS = [f"sentence number {i} " + "word " * (i % 7) for i in range(11)]


def test_cached_vectors_equal_encode_and_are_reused(tiny_st, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "CHUNK", 3)  # several chunks, several writes
    enc = Encoder(tiny_st)
    store = EmbeddingCache("fp", root=tmp_path)
    texts = TEXTS + TEXTS[:4]  # duplicates are encoded once
    got = encode_cached(enc, texts, cache=store)
    assert np.abs(got - enc.encode(texts)).max() <= 1e-6

    def refuse(*args, **kwargs):
        raise AssertionError("everything should come from the cache")

    monkeypatch.setattr(enc, "encode_iter", refuse)
    again = encode_cached(enc, list(reversed(texts)), cache=store)
    assert np.array_equal(again, got[::-1])


def test_a_killed_run_keeps_its_finished_chunks(tiny_st, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "CHUNK", 4)
    enc = Encoder(tiny_st)
    real = enc.encode_iter

    def dies_after_two_chunks(*args, **kwargs):
        for i, block in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield block

    monkeypatch.setattr(enc, "encode_iter", dies_after_two_chunks)
    store = EmbeddingCache("fp", root=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        encode_cached(enc, TEXTS, cache=store)
    assert (store.path).is_file()
    kept = store._db.execute("SELECT COUNT(*) FROM v").fetchone()[0]
    assert kept == 8  # two chunks of four
    monkeypatch.setattr(enc, "encode_iter", real)
    assert np.abs(encode_cached(enc, TEXTS, cache=store) - enc.encode(TEXTS)).max() <= 1e-6
