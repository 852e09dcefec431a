"""finesim's static distillation on the tiny random BERT: the table against the teacher's own
outputs computed independently (transformers + scikit-learn's PCA), sentence-transformers'
StaticEmbedding on the saved folder, vocabulary extension, determinism, bad settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from finesim import Encoder, FinesimError
from finesim.models.distill import (
    RECORD_FILE,
    DistillSettings,
    distill,
    distill_tower,
    save_distilled,
    sif_weights,
    static_encoder,
)
from finesim.models.towers import StaticTower
from tests.helpers import SENTENCES, require_module

TOL = 1e-5


@pytest.fixture(scope="module")
def teacher(tiny_bert: Path) -> Encoder:
    return Encoder(tiny_bert, pooling="mean", normalize=True)


def _table(encoder: Encoder) -> np.ndarray:
    tower = encoder.routes["default"].tower
    assert isinstance(tower, StaticTower)
    return tower.embedding.weight.detach().numpy()


def _independent_rows(tiny_bert: Path, ids: list[int]) -> np.ndarray:
    """The teacher's mean-pooled output for ``[CLS] id [SEP]``, straight from transformers."""
    from transformers import BertModel

    bert = BertModel.from_pretrained(tiny_bert).eval()
    inputs = torch.tensor([[2, i, 3] for i in ids])
    with torch.no_grad():
        hidden = bert(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
    return hidden.mean(dim=1).numpy()


def test_rows_are_the_teachers_outputs_projected_and_weighted(tiny_bert, teacher):
    decomposition = require_module("sklearn.decomposition", "the reference PCA")
    static = distill(teacher, dim=8)
    table = _table(static)
    vocab_size = table.shape[0]
    raw = _independent_rows(tiny_bert, list(range(vocab_size)))
    reference = decomposition.PCA(n_components=8, svd_solver="full").fit_transform(raw)
    reference *= sif_weights(vocab_size, 1e-4)[:, None]
    reference[1] = 0.0  # [UNK]: left out of every mean
    # a principal axis is defined up to its sign: align each of sklearn's to ours
    signs = np.sign((reference * table).sum(axis=0))
    np.testing.assert_allclose(table, reference * signs, atol=1e-4)
    assert static.dim == 8 and static.normalize


def test_sentence_transformers_loads_the_same_vectors(teacher, tmp_path):
    st = require_module("sentence_transformers", "the reference StaticEmbedding")
    static = distill(teacher, dim=16)
    static.save(tmp_path / "static")
    model = st.SentenceTransformer(str(tmp_path / "static"), device="cpu")
    assert type(model[0]).__name__ == "StaticEmbedding"
    ours = static.encode(SENTENCES[:10])
    theirs = model.encode(SENTENCES[:10], convert_to_numpy=True)
    assert np.abs(ours - theirs).max() < TOL
    again = Encoder(tmp_path / "static")
    assert np.abs(again.encode(SENTENCES[:10]) - ours).max() < TOL
    assert again.info()["architecture"] == "StaticEmbedding"


def test_deterministic_and_unweighted(teacher):
    a, b = _table(distill(teacher, dim=12)), _table(distill(teacher, dim=12))
    assert np.array_equal(a, b)
    plain, _ = distill_tower(teacher, DistillSettings(dim=12, sif=None))
    weighted = a / sif_weights(len(a), 1e-4)[:, None]
    assert not a[1].any() and not plain.embedding.weight[1].any()  # [UNK]
    np.testing.assert_allclose(plain.embedding.weight.detach().numpy(), weighted, atol=1e-5)


def test_full_dim_keeps_the_teachers_width(teacher):
    assert distill(teacher, dim=teacher.full_dim).dim == teacher.full_dim


def test_corpus_words_join_the_vocabulary(tiny_bert, teacher, tmp_path):
    st = require_module("sentence_transformers", "the reference StaticEmbedding")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Playful dogs\nplayful cats, PLAYFUL dogs\ndogs\nrarely 42 42\n")
    settings = DistillSettings(dim=8, vocab=corpus, min_count=2)
    tower, record = distill_tower(teacher, settings)
    vocab = tower.tokenizer.get_vocab()
    base = Encoder(tiny_bert).tokenizer.backend_tokenizer.get_vocab_size()
    # "playful" ([UNK] to the teacher) and "dogs" ("dog", "##s"), seen 3 times each;
    # "cats" and "rarely" once; "42" has no letter
    assert record["corpus_words"] == 2 and {"playful", "dogs"} <= set(vocab)
    assert sorted([vocab["playful"], vocab["dogs"]]) == [base, base + 1]
    assert "cats" not in vocab and "42" not in vocab
    assert tower.tokenizer.encode("playful dogs", add_special_tokens=False).tokens == [
        "playful",
        "dogs",
    ]
    # the new row is the teacher's vector of the whole word, tokenised as the teacher does
    static = static_encoder(tower, "with-words")
    save_distilled(static, tmp_path / "words", record)
    assert json.loads((tmp_path / "words" / RECORD_FILE).read_text())["corpus_words"] == 2
    model = st.SentenceTransformer(str(tmp_path / "words"), device="cpu")
    texts = ["playful dogs sing", "a playful man"]
    assert np.abs(model.encode(texts) - static.encode(texts)).max() < TOL


def test_bad_settings_are_one_line(teacher, tmp_path):
    with pytest.raises(FinesimError, match=r"--dim 33: must be 1\.\.32"):
        distill(teacher, dim=33)
    with pytest.raises(FinesimError, match="no such file"):
        distill(teacher, dim=8, vocab=tmp_path / "missing.txt")
    with pytest.raises(FinesimError, match="sif 2"):
        distill_tower(teacher, DistillSettings(dim=8, sif=2.0))
    static = distill(teacher, dim=8)
    with pytest.raises(FinesimError, match="distil from a one-transformer model"):
        distill(static, dim=4)
