"""``finesim bench static`` end to end on the tiny random BERT: every system built (finesim's
distil, its training, model2vec's distil), timed and scored, the JSON and table written.
No timed assertions: speeds are only checked to be there."""

from __future__ import annotations

import json

import pytest

from finesim import FinesimError
from finesim.bench.static import SCORED, SYSTEMS, StaticBench, check
from tests.helpers import require_module


@pytest.mark.needs_data("sts/raw", "sick", "csfcube", "nli")
def test_bench_static_on_a_tiny_teacher(cli, tiny_st, tmp_path, monkeypatch):
    require_module("model2vec.distill", "the model2vec reference")
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "static.json"
    # the teacher is left out only for time: finesim's teacher is scored as the static models
    systems = [s for s in SYSTEMS if s != "teacher"]
    code, stdout, err = cli(
        "bench", "static", "-m", tiny_st, "--dim", "8", "--count", "40", "--reps", "1",
        "--systems", ",".join(systems),
        "--sts-tasks", "stsb,sickr", "--train-set", "max_steps=3", "--train-set", "batch_size=32",
        "--workdir", tmp_path / "work", "--json", path,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(path.read_text())
    assert json.loads(stdout) == result
    assert set(result["systems"]) == set(systems)
    for name, system in result["systems"].items():
        assert system["size_mb"] > 0
        for texts in ("stsb", "abstracts"):
            speed = system["speed"][texts]
            assert speed["texts"] == 40 and speed["per_s"] > 0 and len(speed["runs_per_s"]) == 1
        if name in SCORED:
            quality = system["quality"]
            assert set(quality["sts_spearman"]) == {"stsb", "sickr"}
            assert set(quality["csfcube_abstract"]) == {"map", "ndcg%20", "ci95"}
    trained = result["systems"]["finesim-static-trained"]["build"]
    assert trained["steps"] == 3 and trained["recipe"] == "simcse-sup"
    assert "lr=0.01" in trained["set"]
    assert result["systems"]["model2vec"]["parity_min_cos"] > 0.999
    assert result["systems"]["finesim-static"]["build"]["tokens"] > 0
    for pair in ("finesim-static - model2vec", "finesim-static-trained - model2vec"):
        test = result["comparisons"][pair]
        assert set(test["sts_spearman"]) == {"stsb", "sickr"}
        assert {"difference", "ci95", "p_value"} <= set(test["csfcube_abstract"]["map"])
    assert set(result["goals"]["quality_vs_model2vec"]) == {
        "finesim-static",
        "finesim-static-trained",
    }
    assert "abstracts" in result["goals"]["speedup_vs_sentence_transformers"]["model2vec"]
    table = path.with_suffix(".md").read_text()
    assert "| finesim-static |" in table and "finesim-static - model2vec: CSFCube MAP" in table
    assert (tmp_path / "work" / "finesim-static" / "finesim_distill.json").is_file()


def test_unknown_names_fail_before_any_work():
    with pytest.raises(FinesimError, match="unknown system 'fasttext'"):
        check(StaticBench(systems=["fasttext"]))
    with pytest.raises(FinesimError, match="unknown text set"):
        check(StaticBench(texts=["wiki"]))
    with pytest.raises(FinesimError, match="unknown STS task"):
        check(StaticBench(sts_tasks="sts17"))
    with pytest.raises(FinesimError, match="needs a --train-recipe"):
        check(StaticBench(train_recipe=""))


def test_goals_and_table_from_the_figures():
    from finesim.bench.static_report import goals, markdown

    def system(kind, per_s, sts=None, cube=None):
        out = {"kind": kind, "size_mb": 10.0, "speed": {"stsb": {"texts": 2000, "per_s": per_s}}}
        if sts is not None:
            out["quality"] = {
                "sts_avg_spearman": sts,
                "sts_avg_ci95": [sts - 1, sts + 1],
                "sts_spearman": {"stsb": sts},
                "csfcube_abstract": {"map": cube, "ndcg%20": cube + 20, "ci95": {}},
            }
        return out

    result = {
        "model": "m",
        "dim": 8,
        "torch_threads": 2,
        "timing": "best of reps",
        "reps": 3,
        "machine": {"cpu": "c"},
        "systems": {
            "sentence-transformers": system("transformer", 100.0),
            "finesim-static": system("static", 20_000.0, 60.0, 30.0),
            "model2vec": system("static", 5_000.0, 61.0, 29.0),
        },
        "comparisons": {},
    }
    found = goals(result)
    assert found["speedup_vs_sentence_transformers"]["finesim-static"]["stsb"] == {
        "ratio": 200.0,
        "goal_met": True,
    }
    assert found["speedup_vs_sentence_transformers"]["model2vec"]["stsb"]["goal_met"] is False
    assert found["quality_vs_model2vec"]["finesim-static"] == {
        "sts_avg_spearman": False,
        "csfcube_map": True,
        "csfcube_ndcg%20": True,
    }
    table = markdown(result)
    assert "| finesim-static | 20,000 | 60.00 [59.00, 61.00] | 30.00 | 50.00 | 10.0 |" in table
    assert "| sentence-transformers | 100 | - | - | - | 10.0 |" in table
