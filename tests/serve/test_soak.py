"""``finesim bench soak`` end to end, small: a child server, mixed requests, the RSS record,
and the head-of-line comparison (the committed figures: benchmarks/serve/soak-minilm.json)."""

import json

import pytest

from tests.helpers import run_cli


@pytest.mark.needs_data("sts", "csfcube")
def test_bench_soak_prints_json(capsys, monkeypatch, tmp_path, tiny_st):
    out_file = tmp_path / "soak.json"
    code, out, err = run_cli(
        capsys, monkeypatch, "bench", "soak", "-m", tiny_st, "--requests", 120, "--clients", 3,
        "--papers", 12, "--long-texts", 64, "--max-batch-tokens", 256, "--json", out_file,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert json.loads(out_file.read_text()) == result
    soak = result["soak"]
    assert soak["requests"] == 120 and soak["errors"] == 0 and soak["statuses"] == {"200": 120}
    assert soak["failures"] == []
    assert {"embeddings", "similarity", "search hybrid", "search ot"} <= set(soak["latency"])
    assert soak["rss_mb"]["after_warmup"] > 0 and "flat_within_10pct" in soak["rss_mb"]
    head = result["head_of_line"]
    for mode in ("token_budget_off", "token_budget_256"):
        assert head[mode]["long_requests"]["statuses"] == [200]
        assert set(head[mode]["one_sentence_statuses"]) <= {"200"}
    assert {"cpu", "vector_extensions", "load_average_1min"} <= set(result["machine"])
