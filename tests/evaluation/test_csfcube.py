import json

import pytest

from finesim import Encoder, FinesimError
from finesim.data.csfcube import load_papers, load_pools
from finesim.evaluation.csfcube import (
    CSFCubeEvaluator,
    read_ranking_dir,
    score_rankings,
    write_run_file,
)
from finesim.evaluation.ranking import dcg_at_k, ndcg_at_k, query_metrics
from tests.helpers import data_root

CSFCUBE = data_root() / "csfcube"
needs_data = pytest.mark.needs_data("csfcube")


def test_rank_metrics_definitions():
    assert dcg_at_k([3, 2, 3, 0], 4) == pytest.approx(3 + 2 + 3 / 1.5849625007211562)
    assert ndcg_at_k([0, 0, 1], 3) < 1 and ndcg_at_k([3, 1, 0], 3) == 1.0
    m = query_metrics([0, 2, 1, 3, 0] + [0] * 20)
    assert m["map"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert m["mrr"] == pytest.approx(0.5) and m["r_precision"] == pytest.approx(2 / 4)
    assert m["p@20"] == pytest.approx(2 / 20) and m["r@20"] == 1.0


@needs_data
def test_specter_rankings_reproduce_the_published_figures():
    result = score_rankings(read_ranking_dir(CSFCUBE / "sample_ranked_pools"), "test")
    expected = {
        "background": (43.95, 66.70),
        "method": (22.44, 37.41),
        "result": (36.79, 56.67),
        "all": (34.23, 53.28),
    }
    for group, (map_, ndcg) in expected.items():
        assert round(result[group]["map"], 2) == map_, group
        assert round(result[group]["ndcg%20"], 2) == ndcg, group
    assert round(result["all"]["ndcg"], 2) == 73.30
    assert round(result["all"]["ndcg@20"], 2) == 53.14
    assert len(result["per_query"]) == 50
    dev = score_rankings(read_ranking_dir(CSFCUBE / "sample_ranked_pools"), "dev")
    assert (round(dev["all"]["map"], 2), round(dev["all"]["ndcg%20"], 2)) == (35.43, 53.02)


@needs_data
def test_data_as_described():
    papers = load_papers()
    assert len(papers) == 4205
    pools = [p for f in ("background", "method", "result") for p in load_pools(f)]
    assert len(pools) == 50 and sum(len(p.candidates) for p in pools) == 6244


@needs_data
def test_bad_ranking_files(tmp_path):
    with pytest.raises(FinesimError, match="expected one"):
        read_ranking_dir(tmp_path)
    rankings = read_ranking_dir(CSFCUBE / "sample_ranked_pools")
    key = next(iter(rankings))
    rankings[key] = [*rankings[key], ("not-a-paper", 1.0)]
    with pytest.raises(FinesimError, match="unjudged"):
        score_rankings(rankings)
    del rankings[key]
    with pytest.raises(FinesimError, match="no ranking for"):
        score_rankings(rankings)


@needs_data
def test_evaluator_end_to_end_on_the_tiny_model(tiny_st, tmp_path):
    result = CSFCubeEvaluator("max-sim", split="dev")(Encoder(tiny_st))
    assert set(result) >= {"background", "method", "result", "all", "per_query", "score"}
    assert 0 <= result["all"]["map"] <= 100 and result["primary"] == "map"
    rankings = read_ranking_dir(CSFCUBE / "sample_ranked_pools")
    write_run_file(rankings, tmp_path / "run.tsv", "specter run")
    lines = (tmp_path / "run.tsv").read_text().splitlines()
    assert len(lines) == sum(len(r) for r in rankings.values())
    assert lines[0].split("\t")[1:4:2] == ["Q0", "1"] and lines[0].endswith("specter_run")
    json.dumps(result)  # JSON-ready
