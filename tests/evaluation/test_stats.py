"""finesim.evaluation.stats: intervals and paired tests (no data folder needed)."""

import numpy as np
import pytest

from finesim.evaluation import stats
from finesim.evaluation.compare import compare_results, summary_lines


def test_mean_interval_covers_the_mean_and_is_repeatable():
    rng = np.random.default_rng(1)
    values = rng.normal(40, 24, size=50)
    low, high = stats.mean_interval([values])
    assert low < values.mean() < high
    # about 1.96 standard errors either side (24 / sqrt(50) = 3.4)
    assert 2 * 1.96 * 3.4 * 0.7 < high - low < 2 * 1.96 * 3.4 * 1.3
    assert stats.mean_interval([values]) == [low, high]  # fixed seed
    assert stats.mean_interval([[1.0]]) is None  # one value: no spread to resample
    assert stats.mean_interval([[5.0, 5.0, 5.0]]) == [5.0, 5.0]


def test_strata_are_resampled_on_their_own():
    # two folds with very different levels: the mean of fold means never mixes them
    low_fold, high_fold = np.zeros(26), np.full(24, 100.0)
    assert stats.mean_interval([low_fold, high_fold]) == [50.0, 50.0]


def test_paired_test_finds_a_consistent_gain_and_not_noise():
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 100, size=50)
    better = base + 3 + rng.normal(0, 1, size=50)
    test = stats.paired_test([better[:26], better[26:]], [base[:26], base[26:]])
    assert test["difference"] == pytest.approx(
        np.mean([(better - base)[:26].mean(), (better - base)[26:].mean()])
    )
    assert test["p_value"] < 0.001 and test["ci95"][0] > 0 and test["n"] == 50
    noise = base + rng.normal(0, 5, size=50)
    assert stats.paired_test([noise], [base])["p_value"] > 0.05
    same = stats.paired_test([base], [base])
    assert same["difference"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="same queries"):
        stats.paired_test([base[:10]], [base[:11]])


def test_correlation_intervals_and_comparison():
    rng = np.random.default_rng(3)
    gold = rng.uniform(0, 5, size=400)
    good = gold + rng.normal(0, 1, size=400)
    poor = gold + rng.normal(0, 3, size=400)
    dist = stats.correlation_bootstrap(gold, good)
    assert dist.shape == (2, stats.PAIR_RESAMPLES)
    (s_low, s_high), (p_low, p_high) = stats.percentile_interval(dist)
    rho = 100 * np.corrcoef(np.argsort(np.argsort(gold)), np.argsort(np.argsort(good)))[0, 1]
    assert s_low < rho < s_high and p_low < p_high
    test = stats.correlation_comparison(gold, good, poor)
    assert test["difference"] > 10 and test["ci95"][0] > 0 and test["p_value"] < 0.01
    assert stats.correlation_comparison(gold, good, good)["p_value"] == 1.0


def test_printed_forms():
    assert stats.with_interval(43.516, [37.4, 49.76]) == "43.52 [37.40, 49.76]"
    test = {"difference": 3.7, "ci95": [0.8, 6.4], "p_value": 0.0104}
    assert stats.difference_text(test) == "+3.70 [+0.80, +6.40], p = 0.010"
    assert stats.p_text(0.0001) == "p < 0.001"


def _sts(cosine, gold, with_pairs=True):
    from finesim.evaluation.correlation import pearson, spearman

    rho, r = 100 * spearman(gold, cosine), 100 * pearson(gold, cosine)
    result = {
        "model": "m",
        "tasks": {"stsb": {"spearman": rho, "pearson": r, "n": len(gold)}},
        "avg": {"spearman": rho, "pearson": r},
    }
    if with_pairs:
        result["per_pair"] = {"stsb": {"gold": list(gold), "cosine": list(cosine)}}
    return result


def test_compare_sts_results_pair_by_pair():
    rng = np.random.default_rng(4)
    gold = rng.uniform(0, 5, size=300)
    a = _sts(gold + rng.normal(0, 3, size=300), gold)
    b = _sts(gold + rng.normal(0, 1, size=300), gold)
    summary = compare_results([("a.json", a), ("b.json", b), ("old.json", _sts(gold, gold, False))])
    first = summary["comparisons"][0]
    assert (first["a"], first["b"]) == ("a.json", "b.json")
    test = first["b_minus_a"]["stsb"]["spearman"]
    assert test["difference"] == pytest.approx(b["avg"]["spearman"] - a["avg"]["spearman"])
    assert test["p_value"] < 0.01
    assert "no per-pair figures" in summary["comparisons"][1]["note"]
    assert "ci95" in summary["runs"][0] and "stsb" in summary["runs"][0]["ci95"]
    text = "\n".join(summary_lines(summary))
    assert "b.json minus a.json" in text and "p " in text
