"""Protocol-honest figures: "test" only where nothing was fitted or chosen on those queries
(presets' ``fitted_on``, fold-aware evaluators), and every comparison paired over the same
queries with its interval (``report compare``, ``--cv`` against the abstract cosine, the
ablation)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from finesim import FinesimError
from finesim.data.csfcube import load_pools, load_splits
from finesim.fusion.preset import Preset, load_preset, shipped_preset
from finesim.training.config import load_config, recipe_names
from finesim.training.trainer import build_evaluator
from tests.helpers import data_root
from tests.helpers import run_cli as run

CSFCUBE = data_root() / "csfcube"
needs_data = pytest.mark.needs_data("csfcube")


def test_shipped_presets_say_which_queries_they_were_fitted_on(tmp_path):
    for name in ("default", "learned-mpnet"):
        preset = shipped_preset(name)
        assert preset.fitted_on == ("csfcube:fold2_dev",)
        assert preset.to_json()["fitted_on"] == ["csfcube:fold2_dev"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"weights": {"abstract": 1.0}}))
    assert load_preset(str(path)).fitted_on == ()
    path.write_text(json.dumps({"weights": {"abstract": 1.0}, "fitted_on": "fold1_dev"}))
    with pytest.raises(FinesimError, match="fitted_on must be a list of benchmark:split"):
        load_preset(str(path))


def test_evaluators_choose_checkpoints_on_dev_data_only():
    with pytest.raises(FinesimError, match="sts-test would choose best/ on the STS test sets"):
        build_evaluator("sts-test")
    with pytest.raises(FinesimError, match="fold 2's test queries.*csfcube-dev:fold1"):
        build_evaluator("csfcube-dev")
    for fold in ("fold1", "fold2"):
        assert build_evaluator(f"csfcube-dev:{fold}").split == f"{fold}_dev"  # type: ignore[union-attr]
    assert build_evaluator("stsb-dev").split == "dev"  # type: ignore[union-attr]
    for recipe in recipe_names():  # every shipped recipe still trains
        name = load_config(recipe).evaluator
        assert name in ("", "stsb-dev", "csfcube-dev:fold1", "csfcube-dev:fold2")
        build_evaluator(name)


@needs_data
def test_one_fold_splits_score_that_fold_alone():
    from finesim.evaluation.csfcube import read_ranking_dir, score_rankings

    rankings = read_ranking_dir(CSFCUBE / "sample_ranked_pools")
    both = score_rankings(rankings)
    folds = {f: score_rankings(rankings, f) for f in ("fold1_test", "fold2_test")}
    assert both["folds"] == ["fold1_test", "fold2_test"]
    mean = (folds["fold1_test"]["all"]["map"] + folds["fold2_test"]["all"]["map"]) / 2
    assert both["all"]["map"] == pytest.approx(mean)
    keys = load_splits()["all"]["fold2_test"]
    alone = np.mean([both["per_query"][k]["map"] for k in keys])
    assert folds["fold2_test"]["all"]["map"] == pytest.approx(alone)
    assert score_rankings(rankings, "dev")["all"] == score_rankings(rankings, "fold1_dev")["all"]
    low, high = both["ci95"]["all"]["map"]
    assert low < both["all"]["map"] < high
    with pytest.raises(FinesimError, match="unknown split 'fold3_test'"):
        score_rankings(rankings, "fold3_test")


def _fake_tables(monkeypatch):
    """``build_tables`` replaced by random term scores on the real pools (no encoder)."""
    from finesim.evaluation import csfcube_hybrid
    from finesim.fusion.terms import TERMS

    pools = [p for f in ("background", "method", "result") for p in load_pools(f)]
    rng = np.random.default_rng(0)
    tables = {p.key: {t: rng.normal(size=len(p.candidates)) for t in TERMS} for p in pools}

    def build_tables(encoder, whitening, terms, **options):
        return pools, {csfcube_hybrid.whitening_name(w): tables for w in whitening}

    monkeypatch.setattr(csfcube_hybrid, "build_tables", build_tables)
    return SimpleNamespace(source="fake")


@needs_data
def test_a_preset_fitted_on_fold2_dev_is_tested_on_fold2_only(monkeypatch):
    from finesim.evaluation.csfcube_hybrid import evaluate_hybrid

    encoder = _fake_tables(monkeypatch)
    weights = {"abstract": 1.0, "bm25": 0.5}
    fitted = Preset(weights, "zscore", name="p", fitted_on=("csfcube:fold2_dev",))
    result = evaluate_hybrid(encoder, fitted)  # type: ignore[arg-type]
    assert result["folds"] == ["fold2_test"] and result["seen"]["folds"] == ["fold1_test"]
    assert result["split"].startswith("fold2_test only; fold1_test = the queries preset 'p'")
    assert "not test" in result["split"] and "not a test figure" in result["seen"]["note"]
    keys = load_splits()["all"]["fold2_test"]
    assert result["all"]["map"] == pytest.approx(
        np.mean([result["per_query"][k]["map"] for k in keys])
    )
    assert result["baseline"]["folds"] == ["fold2_test"]
    assert result["vs_baseline"]["all"]["map"]["n"] == len(keys)
    # the same weights with nothing fitted: both folds are test
    clean = evaluate_hybrid(encoder, Preset(weights, "zscore", name="q"))  # type: ignore[arg-type]
    assert clean["split"] == "test" and "seen" not in clean
    assert clean["folds"] == ["fold1_test", "fold2_test"]
    # fitted on everything: no test figure at all, and it says so
    everything = Preset(weights, name="r", fitted_on=("csfcube:fold1_dev", "csfcube:fold2_dev"))
    seen = evaluate_hybrid(encoder, everything)  # type: ignore[arg-type]
    assert seen["split"].startswith("seen, not a test figure") and "seen" not in seen
    bad = Preset(weights, name="s", fitted_on=("csfcube:fold9_dev",))
    with pytest.raises(FinesimError, match="no CSFCube split"):
        evaluate_hybrid(encoder, bad)  # type: ignore[arg-type]


@needs_data
def test_the_cli_heading_says_what_the_figures_are(capsys, monkeypatch, tmp_path):
    encoder = _fake_tables(monkeypatch)
    monkeypatch.setattr("finesim.cli.eval.load_encoder", lambda *a: encoder)
    out = tmp_path / "r.json"
    code, stdout, err = run(
        capsys, monkeypatch, "eval", "csfcube", "--scoring", "hybrid", "--json", out
    )
    assert code == 0, err
    assert "CSFCube (fold2_test only; fold1_test = the queries preset" in " ".join(stdout.split())
    assert "seen, not a test figure (fold1_test)" in " ".join(stdout.split())
    assert "paired over the same queries (fold2_test)" in " ".join(stdout.split())
    result = json.loads(out.read_text())
    assert result["preset"]["fitted_on"] == ["csfcube:fold2_dev"]
    assert {"ci95", "seen", "baseline", "vs_baseline", "folds"} <= set(result)


@needs_data
def test_report_compare_prints_and_stores_paired_tests(capsys, monkeypatch, tmp_path):
    from finesim.evaluation.csfcube import read_ranking_dir, score_rankings

    specter = score_rankings(read_ranking_dir(CSFCUBE / "sample_ranked_pools"))
    better = json.loads(json.dumps(specter))
    for figures in better["per_query"].values():
        figures["map"] = min(100.0, figures["map"] + 5)
    better["all"]["map"] += 5  # (the headline is not what the test reads)
    fold2 = json.loads(json.dumps(better))
    fold2["folds"] = ["fold2_test"]
    paths = []
    for name, result in (("a", specter), ("b", better), ("c", fold2)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(result))
    summary_path = tmp_path / "cmp.json"
    args = ["report", "compare", *paths, "--out", tmp_path / "cmp", "--json", summary_path]
    code, stdout, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    assert "b.json minus" in stdout and "paired over the same 50 queries" in stdout
    assert "compared on fold2_test only" in stdout
    summary = json.loads(summary_path.read_text())
    first = summary["comparisons"][0]
    assert first["queries"] == 50
    test = first["b_minus_a"]["all"]["map"]
    assert 0 < test["difference"] <= 5 and test["p_value"] < 0.001 and test["ci95"][0] > 0
    assert summary["comparisons"][1]["folds"] == ["fold2_test"]
    assert summary["runs"][0]["ci95"]["all"]["map"][0] < specter["all"]["map"]
    assert "Intervals and paired tests" in (tmp_path / "cmp" / "index.html").read_text()


@needs_data
def test_ablation_rows_carry_intervals_and_paired_tests():
    from finesim.evaluation.ablation import _with_tests, markdown

    keys = [k for f in ("fold1_test", "fold2_test") for k in load_splits()["all"][f]]
    rng = np.random.default_rng(0)
    base = {k: {"map": float(rng.uniform(0, 100)), "ndcg%20": 50.0} for k in keys}
    step = {k: {"map": min(100.0, q["map"] + 4), "ndcg%20": 52.0} for k, q in base.items()}
    figures = {g: {"map": 40.0, "ndcg%20": 50.0} for g in ("background", "method", "result", "all")}
    chosen = {"fold1": "off|a", "fold2": "off|a"}
    rows = [
        {"model": "m", "step": "plain", "chosen": chosen, **figures, "per_query": base},
        {"model": "m", "step": "+ x", "chosen": chosen, **figures, "per_query": step},
    ]
    _with_tests(rows)
    assert "vs_previous" not in rows[0] and rows[1]["vs_plain"] == rows[1]["vs_previous"]
    assert rows[1]["vs_previous"]["all"]["map"]["p_value"] < 0.001
    assert rows[1]["vs_previous"]["all"]["ndcg%20"]["difference"] == pytest.approx(2.0)
    table = markdown(rows)
    assert "| m | + x | 40.00 | 50.00 |" in table and "vs previous row" in table
    assert "p < 0.001" in table
