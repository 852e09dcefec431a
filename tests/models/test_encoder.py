import numpy as np
import pytest
import torch

from finesim import Encoder
from tests.helpers import SENTENCES


@pytest.fixture(scope="module")
def enc(tiny_st):
    return Encoder(tiny_st)


def test_vectors_do_not_depend_on_batch_size_or_neighbours(enc):
    full = enc.encode(SENTENCES, batch_size=64)
    single = np.stack([enc.encode(s, batch_size=1) for s in SENTENCES])
    assert np.abs(full - single).max() <= 1e-5
    shuffled = list(reversed(SENTENCES))
    assert np.abs(enc.encode(shuffled, batch_size=7)[::-1] - full).max() <= 1e-5


def test_results_come_back_in_input_order(enc):
    texts = ["dog", "a man plays the guitar with a cat under the table", "cat"]
    out = enc.encode(texts, batch_size=2)
    for i, text in enumerate(texts):
        assert np.allclose(out[i], enc.encode(text), atol=1e-6)


def test_output_kinds_and_normalisation(enc):
    assert enc.encode("a cat").shape == (32,)
    assert isinstance(enc.encode(["a cat"], convert_to="torch"), torch.Tensor)
    assert isinstance(enc.encode(["a cat"], convert_to="list")[0], list)
    assert enc.encode([]).shape == (0, 32)
    norms = np.linalg.norm(enc.encode(SENTENCES[:4]), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    raw = np.linalg.norm(enc.encode(SENTENCES[:4], normalize=False), axis=1)
    assert not np.allclose(raw, 1.0, atol=1e-3)
    with pytest.raises(ValueError):
        enc.encode(["a"], convert_to="pandas")
    with pytest.raises(TypeError):
        enc.encode([1, 2])


def test_truncation_is_counted(enc):
    long = " ".join(["cat"] * 200)
    enc.encode([long, "dog", long])
    assert enc.stats.truncated == 2
    assert enc.stats.texts == 3
    cut = enc.encode([long], max_length=8)
    features, truncated = enc.tokenize([long], max_length=8)
    assert features["input_ids"].shape == (1, 8) and truncated == 1
    assert np.allclose(cut[0], enc.encode(" ".join(["cat"] * 6)), atol=1e-5)


def test_encode_iter_streams_in_chunks(enc):
    seen = []
    blocks = list(
        enc.encode_iter(iter(SENTENCES), batch_size=4, chunk_size=7, on_batch=seen.append)
    )
    assert [len(b) for b in blocks] == [7, 7, 7, 7, 2]
    assert sum(seen) == len(SENTENCES)
    assert np.abs(np.concatenate(blocks) - enc.encode(SENTENCES)).max() <= 1e-5


def test_dropout_follows_train_mode(tiny_bert):
    enc = Encoder(tiny_bert)
    features, _ = enc.tokenize(SENTENCES[:4])
    enc.train()
    torch.manual_seed(1)
    a = enc(features)
    b = enc(features)
    assert (a - b).abs().max() > 1e-4  # dropout is the noise SimCSE relies on
    enc.eval()
    with torch.no_grad():
        assert torch.equal(enc(features), enc(features))


def test_info(enc):
    info = enc.info()
    assert info["dimension"] == 32 and info["max_length"] == 64
    assert info["pooling"] == ["mean"] and info["normalize"] is True
    assert info["parameters"] == sum(p.numel() for p in enc.parameters())
