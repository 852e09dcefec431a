"""``finesim bench rerank`` end to end on the tiny BERT, a couple of steps a run."""

import json

import numpy as np
import pytest
import torch

from finesim import CrossEncoder, FinesimError
from finesim.bench.rerank import initial_folder, run_rerank_bench
from tests.helpers import SENTENCES, require_module

require_module("sentence_transformers", "the other trainer of the stsb part")
require_module("datasets", "sentence-transformers' trainer reads a datasets.Dataset")


def test_both_trainers_start_from_one_seeded_head(tiny_bert, tmp_path):
    a = initial_folder(str(tiny_bert), 1, 42, tmp_path / "a")
    b = initial_folder(str(tiny_bert), 1, 42, tmp_path / "b")
    c = initial_folder(str(tiny_bert), 1, 7, tmp_path / "c")
    pairs = list(zip(SENTENCES[:5], SENTENCES[5:10], strict=True))
    from sentence_transformers import CrossEncoder as Reference

    theirs = Reference(str(a), device="cpu").predict(pairs)
    np.testing.assert_allclose(CrossEncoder(b).predict(pairs), theirs, atol=1e-6)
    head = CrossEncoder(a).model.classifier.weight
    assert not torch.equal(head, CrossEncoder(c).model.classifier.weight)


@pytest.mark.needs_data("sts", "nli/snli-senteval")
def test_the_bench_runs_both_parts_and_reports_what_it_should(tiny_bert, cli, tmp_path):
    path = tmp_path / "rerank.json"
    args = ["bench", "rerank", "-m", tiny_bert, "--part", "all", "--max-steps", "2"]
    code, _, err = cli(*args, "--test-limit", "60", "--json", path)
    assert code == 0, err
    result = json.loads(path.read_text())
    sts, snli = result["stsb"], result["snli"]
    assert sts["finesim"]["steps"] == sts["sentence_transformers"]["steps"] == 2
    assert sts["plan"]["batch_size"] == 16 and sts["plan"]["warmup_steps"] == 0
    for side in ("finesim", "sentence_transformers"):
        test = sts[side]["test"]
        assert test["n"] == 1379 and test["ci95"]["spearman"][0] <= test["spearman"]
        assert sts[side]["steps_per_s"] > 0 and "predicted" not in test
    assert sts["bi_encoder"]["n"] == 1379 and "predicted" not in sts["bi_encoder"]
    gap = sts["comparisons"]["finesim_minus_st"]
    expected = sts["finesim"]["test"]["spearman"] - sts["sentence_transformers"]["test"]["spearman"]
    assert gap["difference"] == pytest.approx(expected, abs=1e-6)
    assert sts["target"]["reached"] == (abs(gap["difference"]) <= 0.5)
    assert "whole calls on both sides" in sts["timing"] and sts["machine"]
    assert snli["finesim"]["steps"] == 2 and snli["finesim"]["test"]["n"] == 60
    low, high = snli["finesim"]["test"]["ci95"]
    assert low <= snli["finesim"]["test"]["accuracy"] <= high


def test_unknown_parts_are_refused():
    with pytest.raises(FinesimError, match="use stsb, snli or all"):
        run_rerank_bench("minilm", ["msmarco"])
