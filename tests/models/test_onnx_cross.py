"""The cross-encoder's onnx / onnx-int8 backends on the tiny BERT: export, cache, parity."""

import json

import numpy as np
import pytest

from finesim import CrossEncoder, FinesimError
from finesim.models.onnx.backend import cache_folder
from finesim.models.onnx.export_cross import export_cross_onnx
from finesim.models.onnx.format import FILES, META_FILE, ONNX_DIR
from tests.helpers import SENTENCES, build_tiny_cross

PAIRS = [(SENTENCES[i], SENTENCES[(5 * i + 3) % 30] * (1 + i % 3)) for i in range(24)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_onnx_scores_equal_torch_and_int8_runs_its_own_graph(tiny_cross, cache):
    """fp32 equals torch. int8 is only run here: the tiny random BERT's activations are not a
    real model's (its int8 scores agree with torch at Spearman 0.74); how close int8 stays on
    minilm is measured by ``finesim bench rerank-serve``."""
    torch_scores = CrossEncoder(tiny_cross).predict(PAIRS, batch_size=5)
    fp32 = CrossEncoder(tiny_cross, backend="onnx")
    assert fp32.backend == "onnx"
    np.testing.assert_allclose(fp32.predict(PAIRS, batch_size=5), torch_scores, atol=1e-5)
    int8 = CrossEncoder(tiny_cross, backend="onnx-int8").predict(PAIRS, batch_size=5)
    assert int8.shape == torch_scores.shape and np.isfinite(int8).all()
    assert not np.allclose(int8, torch_scores, atol=1e-4)  # the int8 graph, not fp32's
    hits = CrossEncoder(tiny_cross, backend="onnx").rank(PAIRS[0][0], [b for _, b in PAIRS])
    reference = CrossEncoder(tiny_cross).rank(PAIRS[0][0], [b for _, b in PAIRS])
    assert [h["corpus_id"] for h in hits] == [h["corpus_id"] for h in reference]


def test_the_export_goes_to_the_cache_once_keyed_by_the_weights(tiny_cross, tiny_bert, cache):
    model = CrossEncoder(tiny_cross)
    folder = cache_folder(tiny_cross, model.fingerprint())
    CrossEncoder(tiny_cross, backend="onnx")
    meta = json.loads((folder / ONNX_DIR / META_FILE).read_text())
    assert meta["kind"] == "cross-encoder" and meta["output"] == "logits"
    assert meta["fused"] is True and meta["fp32_max_abs_diff"] <= 1e-4
    assert meta["fingerprint"] == model.fingerprint()
    stamp = (folder / ONNX_DIR / FILES["onnx"]).stat().st_mtime_ns
    CrossEncoder(tiny_cross, backend="onnx-int8")  # the same export, no second one
    assert (folder / ONNX_DIR / FILES["onnx"]).stat().st_mtime_ns == stamp
    other = build_tiny_cross(cache.parent / "other", tiny_bert, seed=5)
    assert CrossEncoder(other).fingerprint() != model.fingerprint()


def test_an_exported_folder_runs_onnx_by_default_and_only_for_its_weights(tiny_cross, cache):
    out = export_cross_onnx(CrossEncoder(tiny_cross), cache.parent / "exported")
    assert CrossEncoder(out).backend == "onnx"
    assert CrossEncoder(out, backend="torch").backend == "torch"
    np.testing.assert_allclose(
        CrossEncoder(out).predict(PAIRS), CrossEncoder(tiny_cross).predict(PAIRS), atol=1e-5
    )
    with pytest.raises(FinesimError, match="exists"):
        export_cross_onnx(CrossEncoder(tiny_cross), out)
    with pytest.raises(FinesimError, match="unknown backend 'tensorrt'"):
        CrossEncoder(tiny_cross, backend="tensorrt")


def test_a_sentence_encoders_export_is_not_taken_for_the_cross_encoders(tiny_st, cache):
    from finesim import Encoder
    from finesim.models.onnx.export import export_onnx

    out = export_onnx(Encoder(tiny_st), cache.parent / "encoder-onnx")
    fresh = CrossEncoder(out, num_labels=1)  # a fresh head on the encoder's transformer
    assert fresh.backend == "torch"
