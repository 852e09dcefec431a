import json

import numpy as np
import pytest

from finesim import Document, Encoder, FinesimError
from finesim.facets.tagger import FacetTagger, fill_labels, position_features, tag_class
from finesim.facets.train import train_tagger
from finesim.models.heads import LinearHead
from tests.helpers import WORDS


def test_position_features():
    f = position_features(3)
    assert f.shape == (3, 6)
    assert f[:, 0].tolist() == [0.0, 0.5, 1.0]
    assert f[:, 2].tolist() == [1, 0, 0] and f[:, 3].tolist() == [0, 0, 1]
    assert position_features(1)[0, :4].tolist() == [0, 0, 1, 1]


def test_tag_class_merges_objective_into_background():
    assert tag_class("objective_label") == "background"
    assert tag_class("Result_label") == "result" and tag_class("other") == "other"


def positional_corpus(n=40, seed=0):
    """Background first, result last, method between: learnable from position alone."""
    rng = np.random.default_rng(seed)
    vectors, labels = [], []
    for _ in range(n):
        k = int(rng.integers(3, 8))
        vectors.append(rng.standard_normal((k, 8)).astype(np.float32) * 0.1)
        labels.append(["objective_label", *["method_label"] * (k - 2), "result_label"])
    return vectors, labels


def test_fit_predict_save_load(tmp_path):
    vectors, labels = positional_corpus()
    tagger = FacetTagger.fit(vectors, labels, meta={"fingerprint": "abc", "model": "m"})
    assert tagger.predict(vectors[0]) == [tag_class(x) for x in labels[0]]
    assert tagger.predict(np.zeros((0, 8))) == []
    tagger.save(tmp_path / "t")
    loaded = FacetTagger.load(tmp_path / "t")
    assert [loaded.predict(v) for v in vectors] == [tagger.predict(v) for v in vectors]
    assert loaded.fingerprint == "abc" and loaded.model == "m"
    loaded.check("abc")
    with pytest.raises(FinesimError, match="trained with model 'm'"):
        loaded.check("other")
    docs = [Document("a", ["x"] * len(vectors[0])), Document("b", ["y"], ["method"])]
    assert fill_labels(loaded, docs, [vectors[0], vectors[1][:1]]) == 1
    assert docs[0].labels == tagger.predict(vectors[0]) and docs[1].labels == ["method"]


def test_not_a_tagger(tmp_path):
    head = LinearHead(["a", "b"], np.zeros((2, 3), np.float32), np.zeros(2, np.float32), {})
    head.save(tmp_path / "h")
    with pytest.raises(FinesimError, match="not a facet tagger"):
        FacetTagger.load(tmp_path / "h")
    (tmp_path / "h" / "head.safetensors").write_bytes(b"junk")
    with pytest.raises(FinesimError, match="head.safetensors"):
        LinearHead.load(tmp_path / "h")
    with pytest.raises(FinesimError, match="missing"):
        FacetTagger.load(tmp_path / "nothing")


def labelled_documents(n=30, seed=0):
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        k = int(rng.integers(3, 6))
        sentences = [" ".join(rng.choice(WORDS, 6)) for _ in range(k)]
        labels = ["background", *["method"] * (k - 2), "result"]
        docs.append(Document(f"p{i}", sentences, labels))
    return docs


def test_train_tagger_holds_out_papers(tiny_st):
    encoder = Encoder(tiny_st)
    tagger, report = train_tagger(encoder, labelled_documents(), test_fraction=0.2, seed=1)
    assert report["test_documents"] == 6 and report["train_documents"] == 24
    assert 0.0 <= report["macro_f1"] <= 1.0
    assert report["accuracy"] > 0.6  # position alone separates these labels
    assert set(report["per_class"]) == {"background", "method", "result", "other"}
    assert tagger.fingerprint == encoder.fingerprint()
    json.dumps(report)
    with pytest.raises(FinesimError, match="labelled documents"):
        train_tagger(encoder, [Document("a", ["x"])])
