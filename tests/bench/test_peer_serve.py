"""The parts of ``bench serve-peer`` that need no infinity: the graph it gives infinity, the
pooling it asks for, and the summary it computes (the bench itself needs infinity's own
virtualenv and is run by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from finesim import Encoder
from finesim._util.errors import FinesimError
from finesim.bench.peer_serve import _pooling, _summary, prepare_peer
from tests.helpers import SENTENCES


def test_peer_graphs_give_the_encoders_vectors(tiny_st: Path, tmp_path: Path) -> None:
    folders = prepare_peer(tiny_st, tmp_path)
    encoder = Encoder(tiny_st)
    features, _ = encoder.tokenize(SENTENCES[:6])
    expected = encoder.encode(SENTENCES[:6])
    for backend, folder in folders.items():
        (graph,) = sorted(folder.glob("*.onnx"))
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        inputs = {i.name: features[i.name].numpy() for i in session.get_inputs()}
        (hidden,) = session.run(["last_hidden_state"], inputs)
        mask = features["attention_mask"].numpy()[..., None]
        pooled = (hidden * mask).sum(1) / mask.sum(1)  # infinity's mean pooling
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        tolerance = 1e-5 if backend == "onnx" else 0.1  # int8 weights
        assert np.abs(pooled - expected).max() < tolerance, backend
        assert (folder / "tokenizer.json").is_file()


def test_pooling_named_for_infinity(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    config = tmp_path / "1_Pooling" / "config.json"
    config.write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert _pooling(tmp_path) == "cls"
    config.write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    assert _pooling(tmp_path) == "mean"
    config.write_text(json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(FinesimError, match="mean or cls"):
        _pooling(tmp_path)


def test_summary_takes_medians_and_the_ratio() -> None:
    def row(rps: float, errors: int = 0) -> dict[str, float]:
        return {"requests_per_s": rps, "p50_ms": 1000 / rps, "p99_ms": 2000 / rps, "errors": errors}

    rows = {"finesim": [row(10), row(30), row(20)], "infinity": [row(5), row(15, 1), row(10)]}
    out = _summary(rows, 1e-7)  # type: ignore[arg-type]
    assert out["median_requests_per_s"] == {"finesim": 20.0, "infinity": 10.0}
    assert out["throughput_ratio_finesim_to_infinity"] == 2.0
    assert out["errors"] == {"finesim": 0, "infinity": 1}
    assert out["max_abs_vector_difference"] == 0.0
