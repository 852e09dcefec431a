"""finesim's minilm against sentence-transformers 6.2 on 500 STS-B test sentences."""

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from finesim import Encoder
from finesim.models import registry
from tests.helpers import stsb_sentences

TOL = 1e-5


@pytest.fixture(scope="module")
def sentences():
    return stsb_sentences(250)


@pytest.fixture(scope="module")
def reference(sentences):
    st = SentenceTransformer(str(registry.minilm_path()), device="cpu")
    return st, st.encode(sentences, batch_size=32)


@pytest.fixture(scope="module")
def minilm():
    return Encoder("minilm")


def test_minilm_equals_sentence_transformers(minilm, sentences, reference):
    assert len(sentences) == 500
    ours = minilm.encode(sentences, batch_size=32)
    diff = np.abs(ours - reference[1]).max()
    print(f"\nminilm vs sentence-transformers on 500 STS-B sentences: max abs diff {diff:.2e}")
    assert diff <= TOL


def test_batch_size_1_vs_64(minilm, sentences):
    one = minilm.encode(sentences[:200], batch_size=1)
    many = minilm.encode(sentences[:200], batch_size=64)
    diff = np.abs(one - many).max()
    print(f"\nbatch size 1 vs 64 on 200 STS-B sentences: max abs diff {diff:.2e}")
    assert diff <= TOL


def test_both_round_trips(minilm, sentences, reference, tmp_path):
    st, theirs = reference
    minilm.save(tmp_path / "by-finesim")
    loaded_by_st = SentenceTransformer(str(tmp_path / "by-finesim"), device="cpu").encode(sentences)
    st.save(str(tmp_path / "by-st"))
    loaded_by_us = Encoder(tmp_path / "by-st").encode(sentences)
    d1 = np.abs(loaded_by_st - theirs).max()
    d2 = np.abs(loaded_by_us - theirs).max()
    print(f"\nfinesim-saved read by ST: {d1:.2e}; ST-saved read by finesim: {d2:.2e}")
    assert d1 <= TOL and d2 <= TOL
