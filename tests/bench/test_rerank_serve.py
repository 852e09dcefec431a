"""``finesim bench rerank-serve`` end to end on the tiny models: every backend served and
timed, and the agreement figures computed against torch's scores."""

import json

import numpy as np
import pytest

from finesim.bench.rerank_serve import agreement

pytestmark = pytest.mark.needs_data("csfcube")


def test_every_backend_is_served_and_compared_with_torch(
    tiny_st, tiny_cross, short, cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "rerank-serve.json"
    args = ["bench", "rerank-serve", "-m", tiny_st, "--reranker", tiny_cross, "--documents", "6"]
    code, _, err = cli(*args, "--requests", "4", "--rounds", "2", "--json", path)
    assert code == 0, err
    result = json.loads(path.read_text())
    assert set(result["latency"]) == {"torch", "onnx", "onnx-int8"}
    for figures in result["latency"].values():
        assert figures["requests"] == 4 and figures["errors"] == 0
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    fp32 = result["agreement_with_torch"]["onnx"]
    assert fp32["max_abs_score_diff"] < 1e-4 and fp32["mean_spearman"] > 0.999
    assert result["agreement_with_torch"]["requests"] == 8 and result["machine"]["cores"]


def test_agreement_figures():
    torch_scores = np.array([[0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 0.6, 0.8]])
    same = agreement(torch_scores, torch_scores, top=2)
    assert same == {"max_abs_score_diff": 0.0, "mean_spearman": 1.0, "mean_top2_overlap": 1.0}
    swapped = agreement(-torch_scores, torch_scores, top=2)  # the ranking reversed
    assert swapped["mean_spearman"] == pytest.approx(-1.0) and swapped["mean_top2_overlap"] == 0


def test_backends_must_include_torch_and_be_known(cli, tiny_st):
    code, _, err = cli("bench", "rerank-serve", "-m", tiny_st, "--backends", "onnx")
    assert code == 2 and "include torch" in err
    code, _, err = cli("bench", "rerank-serve", "-m", tiny_st, "--backends", "torch,tpu")
    assert code == 2 and "unknown backend 'tpu'" in err
