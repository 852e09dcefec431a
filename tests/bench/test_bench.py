"""The bench commands on the tiny BERT: JSON shape, FLOP counting, the memory child process."""

import json

import pytest

from finesim import Encoder
from finesim.bench.flops import flops_per_text, limit_per_s, token_weights
from tests.helpers import require_data
from tests.helpers import run_cli as run


def test_flops_of_the_tiny_bert(tiny_st):
    transformer = Encoder(tiny_st).transformer
    # 2 layers x (q, k, v, o: 32x32 + up, down: 32x64); the pooler is not per token.
    assert token_weights(transformer) == 2 * (4 * 32 * 32 + 2 * 32 * 64)
    assert flops_per_text(10, 100, 2, 32) == 2 * 10 * 100 + 4 * 2 * 100 * 32
    per_text = flops_per_text(10, token_weights(transformer), 2, 32)
    assert limit_per_s([10, 10], transformer, 1.0) == pytest.approx(1e9 / per_text)


def test_minilm_flops_match_the_issue():
    transformer = Encoder("minilm").transformer
    assert token_weights(transformer) == 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    # 187 GFLOP/s and 10-token sentences gave 879/s in the issue.
    assert limit_per_s([10] * 100, transformer, 187.0) == pytest.approx(879, rel=0.01)


def test_bench_encode_json(tiny_st, tmp_path, capsys, monkeypatch):
    require_data("sts")
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    args = ["bench", "encode", "-m", tiny_st, "--count", "48", "--reps", "1", "--profile"]
    code, stdout, err = run(capsys, monkeypatch, *args, "--json", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert json.loads(stdout) == result
    assert set(result["machine"]) >= {"cpu", "cores", "gemm_gflops", "vector_extensions"}
    assert result["machine"]["int8_gemm_gops"] > 0 and result["machine"]["int8_to_fp32_gemm"] > 0
    assert result["limit_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert result["texts"]["count"] == 48
    for name in ("fastembed", "torch", "onnx", "onnx-int8", "openvino"):
        assert {"per_s", "ratio", "of_limit", "mean_cos"} <= set(result[name]), name
    assert result["openvino"]["mean_cos"] > 0.9999 and "profile" not in result["openvino"]
    assert result["sentence_transformers"]["per_s"] > 0
    assert result["torch"]["mean_cos"] > 0.9999  # finesim torch = sentence-transformers
    assert result["fastembed"]["mean_cos"] > 0.9999  # short texts: nothing cut differently
    assert result["onnx"]["mean_cos"] > 0.9999
    assert sum(result["onnx"]["profile"]["op_share"].values()) == pytest.approx(1, abs=0.05)


def test_bench_memory_json(tiny_st, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    args = ["bench", "memory", "-m", tiny_st, "--lines", "300", "--json", tmp_path / "m.json"]
    code, stdout, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    result = json.loads(stdout)
    assert result["lines"] == 300 and result["backend"] == "onnx-int8"
    assert 0 < result["peak_rss_mb"] < 2000
    assert result["output_mb"] == pytest.approx(300 * 32 * 4 / 2**20, abs=0.01)


def test_bench_train_times_both_trainers_the_same_way(tiny_st):
    """Both steps/s figures come from whole calls (model load to saved checkpoint), and the
    JSON says so; the figures themselves are for a quiet machine, not a test."""
    require_data("nli")
    from tests.helpers import require_module

    require_module("sentence_transformers", "the bench extra")
    from finesim.bench.train import TIMING, bench_throughput

    result = bench_throughput(str(tiny_st), steps=2, batch=4, max_length=16, repeats=1)
    assert result["timing"] == TIMING and "whole calls on both sides" in TIMING
    assert result["finesim_steps_per_s"] > 0 and result["st_steps_per_s"] > 0
