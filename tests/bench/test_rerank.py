"""``finesim bench rerank`` end to end on the tiny BERT, a couple of steps a run."""

import json

import numpy as np
import pytest
import torch

from finesim import CrossEncoder, FinesimError
from finesim.bench.cross_runs import finesim_run, initial_folder
from finesim.bench.rerank import _plan, _st_run, run_rerank_bench
from finesim.data.example import Example
from tests.helpers import SENTENCES, build_tiny_bert, require_module

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


def test_without_dropout_both_trainers_end_on_the_same_weights(tmp_path):
    """The stsb part's two runs, on a tiny BERT without dropout (the one thing they draw
    differently) and without warm-up (whose first step they schedule differently): the same
    batches, loss and optimizer settings end on the same weights, so the comparison compares
    trainers, not set-ups."""
    bert = build_tiny_bert(tmp_path / "bert")
    config = json.loads((bert / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (bert / "config.json").write_text(json.dumps(config))
    start = initial_folder(str(bert), 1, 42, tmp_path / "initial")
    examples = [
        Example({"anchor": SENTENCES[i % 30], "positive": SENTENCES[(7 * i + 3) % 30]}, i % 6)
        for i in range(40)
    ]
    plan = {**_plan(len(examples), 16, 2, 0), "lr": 1e-3, "warmup_steps": 0}
    settings = [
        f"{key}={plan[key]}"
        for key in ("batch_size", "epochs", "lr", "warmup_steps", "weight_decay", "seed")
    ]
    settings += ["evaluator=''", "checkpoint_every=0"]
    ours = finesim_run("cross-sts", start, examples, settings, tmp_path / "finesim")
    theirs = _st_run(start, examples, plan, tmp_path / "st", tmp_path / "st-checkpoints")
    assert ours["steps"] == theirs["steps"] == plan["steps"] == 6
    a = dict(CrossEncoder(tmp_path / "finesim" / "last").model.named_parameters())
    b = dict(CrossEncoder(tmp_path / "st").model.named_parameters())
    moved = dict(CrossEncoder(start).model.named_parameters())
    assert max(float((a[k] - b[k]).detach().abs().max()) for k in a) <= 1e-5
    assert max(float((a[k] - moved[k]).detach().abs().max()) for k in a) > 1e-3  # it trained


@pytest.mark.needs_data("sts", "nli/snli-senteval")
def test_the_bench_runs_both_parts_and_reports_what_it_should(tiny_bert, cli, tmp_path):
    path = tmp_path / "rerank.json"
    args = ["bench", "rerank", "-m", tiny_bert, "--part", "stsb,snli", "--max-steps", "2"]
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
    with pytest.raises(FinesimError, match="use stsb, snli, csfcube or all"):
        run_rerank_bench("minilm", ["msmarco"])


@pytest.mark.needs_data("csfcube")
def test_each_csfcube_fold_trains_on_its_dev_query_facets_judged_pairs():
    from finesim.bench.rerank_csfcube import fold_examples
    from finesim.data.csfcube import load_papers, load_pools, load_splits
    from finesim.docsim.docs import facet_text

    papers, splits = load_papers(), load_splits()["all"]
    grades = {  # counted once from the pool files by hand
        "fold1": {0: 1708, 1: 608, 2: 188, 3: 45},
        "fold2": {0: 2692, 1: 740, 2: 224, 3: 39},
    }
    for fold, counts in grades.items():
        examples = fold_examples(fold)
        assert len(examples) == sum(counts.values())
        assert {g: sum(e.label == g for e in examples) for g in counts} == counts
        pool = next(p for p in load_pools("method") if p.key in splits[f"{fold}_dev"])
        query = papers[pool.qpid]
        first = next(e for e in examples if e.texts["positive"] == papers[pool.candidates[0]].text)
        assert first.texts["anchor"] == facet_text(query.sentences, query.labels, "method")


def test_a_remembered_reranker_scores_each_pair_once():
    from finesim.bench.rerank_csfcube import Remembered

    calls = []

    class Lengths:
        num_labels, source = 1, "lengths"

        def predict(self, pairs):
            calls.append(list(pairs))
            return np.array([len(a) - len(b) for a, b in pairs], dtype=float)

    model = Remembered(Lengths())
    first = model.predict([("a", "bb"), ("ccc", "d"), ("a", "bb")])
    second = model.predict([("ccc", "d"), ("ee", "f")])
    np.testing.assert_array_equal(first, [-1, 2, -1])
    np.testing.assert_array_equal(second, [2, 1])
    assert calls == [[("a", "bb"), ("ccc", "d")], [("ee", "f")]]
    assert model.num_labels == 1 and model.source == "lengths"


@pytest.mark.needs_data("csfcube")
def test_the_csfcube_part_trains_a_reranker_per_fold_and_reports_paired(
    tiny_bert, short, cli, tmp_path, monkeypatch
):
    from finesim import Preset
    from finesim.fusion import grid

    def small_grid(rerank=False):  # the full grid costs minutes; which one is not tested here
        presets = {"abstract": Preset({"abstract": 1.0}, name="abstract")}
        if rerank:
            presets["both"] = Preset({"abstract": 1.0, "rerank": 1.0}, "zscore", name="both")
        return presets

    monkeypatch.setattr(grid, "standard_grid", small_grid)
    path = tmp_path / "csfcube.json"
    args = ["bench", "rerank", "-m", tiny_bert, "--part", "csfcube", "--max-steps", "1"]
    code, _, err = cli(*args, "--json", path)
    assert code == 0, err
    result = json.loads(path.read_text())
    for fold, pairs in (("fold1", 2549), ("fold2", 3695)):
        run = result["training"][fold]
        assert run["pairs"] == pairs and run["steps"] == 1 and run["trained_on"] == f"{fold}_dev"
    assert result["training"]["fold1"]["query_facets"] == 24
    alone = result["rerank_alone"]
    assert set(alone["vs_baseline"]) >= {"background", "method", "result", "all"}
    for name in ("cv", "cv_learn"):
        part = result[name]
        gap = part["with_minus_without"]["all"]["map"]
        expected = part["with_rerank"]["all"]["map"] - part["without_rerank"]["all"]["map"]
        assert gap["difference"] == pytest.approx(expected, abs=1e-6)
    assert "in-sample" in result["protocol"] and result["machine"]
