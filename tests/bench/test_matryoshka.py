"""``finesim bench matryoshka`` on the tiny BERT: JSON and table, figures as the evaluator's."""

import json

import numpy as np
import pytest

from finesim import Encoder
from finesim.bench.matryoshka import evaluate_cut
from finesim.evaluation.sts import evaluate_sts
from tests.helpers import run_cli as run

# real STS-B test data (2,758 sentences encoded per model, two short trainings): over 10 s
pytestmark = [pytest.mark.slow, pytest.mark.needs_data("sts")]


def test_cut_once_equals_the_truncating_encoder(tiny_st):
    """The bench encodes once and cuts; Encoder(truncate_dim=d) through evaluate_sts agrees."""
    cut = evaluate_cut(tiny_st, [32, 8])
    for d in (32, 8):
        encoder = Encoder(tiny_st, truncate_dim=d)
        direct = evaluate_sts(encoder, "stsb", "test", cache=False, keep_predictions=True)
        cosine = direct["predictions"]["stsb"]["cosine"]
        assert np.allclose(cut[str(d)]["cosine"], cosine, atol=1e-5)
        assert cut[str(d)]["gold"] == direct["predictions"]["stsb"]["gold"]
    assert cut["32"]["spearman"] != pytest.approx(cut["8"]["spearman"], abs=1e-6)


def test_bench_matryoshka_json_and_table(tiny_st, tmp_path, capsys, monkeypatch):
    out = tmp_path / "matryoshka.json"
    args = ["bench", "matryoshka", "-m", tiny_st, "--dims", "32,16,8", "--train-dims", "32,8"]
    args += ["--set", "max_steps=2", "--set", "batch_size=4", "--json", out]
    code, stdout, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert json.loads(stdout) == result
    assert set(result["untrained"]) == {"32", "16", "8"}
    assert set(result["matryoshka"]["eval"]) == set(result["control"]["eval"]) == {"32", "8"}
    assert "matryoshka_dims=[32, 8]" in result["matryoshka"]["settings"]
    assert not any("matryoshka" in s for s in result["control"]["settings"])
    assert result["matryoshka"]["steps"] == result["control"]["steps"] == 2
    for name in ("matryoshka_minus_control", "matryoshka_minus_untrained"):
        test = result["comparisons"][name]["8"]
        low, high = test["ci95"]
        assert low <= test["difference"] <= high and 0 <= test["p_value"] <= 1
    target = result["target"]
    assert target["dim"] == 8 and target["reached"] == (target["difference"] > 0)
    assert target["difference"] == pytest.approx(
        target["matryoshka"] - target["untrained"], abs=1e-6
    )
    assert set(result["machine"]) >= {"cpu", "cores"}
    table = out.with_suffix(".md").read_text()
    assert "| 8 |" in table and "Target" in table
    code, _, err = run(capsys, monkeypatch, "bench", "matryoshka", "-m", tiny_st, "--dims", "x")
    assert code == 2 and "--dims: not a list of numbers" in err
