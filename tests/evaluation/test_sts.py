import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from finesim import Encoder, FinesimError
from finesim.data.sts import load_task
from finesim.evaluation.correlation import pearson, rankdata, spearman
from finesim.evaluation.sts import STSEvaluator, evaluate_sts, parse_tasks

needs_data = pytest.mark.needs_data("sts")


def test_correlations_match_scipy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 300).astype(float)  # many ties
    y = x + rng.normal(size=300)
    assert abs(spearman(x, y) - spearmanr(x, y).statistic) < 1e-12
    assert abs(pearson(x, y) - pearsonr(x, y).statistic) < 1e-12
    assert np.allclose(rankdata(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])


def test_task_names():
    assert parse_tasks("all") == ["sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr"]
    assert parse_tasks("stsb, sickr") == ["stsb", "sickr"]
    with pytest.raises(FinesimError, match="unknown STS task"):
        parse_tasks("sts17")


@needs_data
@pytest.mark.parametrize(
    ("task", "n"),
    [
        ("sts12", 3108),
        ("sts13", 1500),
        ("sts14", 3750),
        ("sts15", 3000),
        ("sts16", 1186),
        ("stsb", 1379),
        ("sickr", 4927),
    ],
)
def test_readers_give_the_published_pair_counts(task, n):
    for variant in ("raw", "senteval"):
        pairs = load_task(task, "test", variant)
        assert len(pairs) == n == len(pairs.sentences1) == len(pairs.sentences2)
        assert not any("\r" in s for s in pairs.sentences2[:50])


@needs_data
def test_senteval_variant_is_tokenised_and_lowercased():
    raw, tok = load_task("stsb", "test", "raw"), load_task("stsb", "test", "senteval")
    assert raw.sentences1[0] == "A girl is styling her hair."
    assert tok.sentences1[0] == "a girl is styling her hair ."
    assert np.array_equal(raw.scores, tok.scores)


@needs_data
def test_stsb_spearman_equals_sentence_transformers_evaluator(tmp_path):
    """finesim's STS-B test Spearman vs sentence-transformers' EmbeddingSimilarityEvaluator."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
    )

    from finesim.models import registry

    ours = evaluate_sts(Encoder("minilm"), "stsb", cache=False)["tasks"]["stsb"]
    pairs = load_task("stsb")
    evaluator = EmbeddingSimilarityEvaluator(
        pairs.sentences1,
        pairs.sentences2,
        (pairs.scores / 5).tolist(),
        name="b",
        similarity_fn_names=["cosine", "dot", "euclidean", "manhattan"],
    )
    theirs = evaluator(SentenceTransformer(str(registry.minilm_path()), device="cpu"))
    print(
        f"\nSTS-B test Spearman: finesim {ours['spearman']:.4f}, "
        f"sentence-transformers {100 * theirs['b_spearman_cosine']:.4f}"
    )
    assert ours["n"] == 1379
    assert abs(ours["spearman"] - 100 * theirs["b_spearman_cosine"]) < 0.01
    for sim in ("cosine", "dot", "euclidean", "manhattan"):
        for metric in ("spearman", "pearson"):
            want = 100 * theirs[f"b_{metric}_{sim}"]
            assert abs(ours["by_similarity"][sim][metric] - want) < 0.01, (sim, metric)


@needs_data
def test_sts_year_reports_all_subsets_and_means(tiny_st):
    result = STSEvaluator("sts16", split="test")(Encoder(tiny_st))
    task = result["tasks"]["sts16"]
    assert task["n"] == 1186 and set(task["subsets"]) == {
        "answer-answer",
        "headlines",
        "plagiarism",
        "postediting",
        "question-question",
    }
    assert sum(s["n"] for s in task["subsets"].values()) == 1186
    assert min(s["spearman"] for s in task["subsets"].values()) <= task["mean"]["spearman"]
    assert result["primary"] == "spearman" and result["score"] == result["avg"]["spearman"]
