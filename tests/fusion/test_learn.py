import numpy as np
import pytest

from finesim.fusion.fuse import fuse
from finesim.fusion.learn import fit_fusion, pair_features


def _pools(seed=0, n_queries=6, size=30):
    """Grades follow term 'abstract'; 'bm25' is noise; 'title' follows the grades inversely."""
    rng = np.random.default_rng(seed)
    tables, grades = {}, {}
    for q in range(n_queries):
        g = rng.integers(0, 4, size)
        tables[f"q{q}"] = {
            "abstract": g + rng.normal(0, 0.8, size),
            "bm25": rng.normal(0, 1, size),
            "title": -g + rng.normal(0, 2.0, size),
        }
        grades[f"q{q}"] = g.tolist()
    return tables, grades


def test_pair_features_are_differences_of_z_scores_for_better_minus_worse():
    table = {"abstract": np.array([1.0, 3.0, 2.0])}
    pairs = pair_features(table, [0, 2, 1], ["abstract"])
    z = (table["abstract"] - 2.0) / np.std(table["abstract"])
    # (1 over 0), (1 over 2), (2 over 0): better minus worse
    expected = sorted([z[1] - z[0], z[1] - z[2], z[2] - z[0]])
    assert sorted(pairs[:, 0].tolist()) == pytest.approx(expected)
    assert len(pair_features(table, [1, 1, 1], ["abstract"])) == 0


def test_fit_fusion_weighs_the_informative_term_and_ranks_better():
    tables, grades = _pools()
    preset = fit_fusion(tables, grades, list(tables), ["abstract", "bm25", "title"])
    w = preset.weights
    assert preset.fusion == "zscore" and w["abstract"] > 0 > w["title"]
    assert abs(w["bm25"]) < 0.2 * w["abstract"]
    test_tables, test_grades = _pools(seed=1)
    for key, table in test_tables.items():
        fused = fuse(table, preset)
        g = np.array(test_grades[key])
        # the learned score separates grade 3 from grade 0 better than chance
        assert fused[g == 3].mean() > fused[g == 0].mean()


def test_only_the_given_queries_are_read():
    tables, grades = _pools()
    fit_on = ["q0", "q1", "q2"]
    before = fit_fusion(tables, grades, fit_on, ["abstract", "bm25"]).weights
    shuffled = dict(grades)
    for key in ("q3", "q4", "q5"):  # other queries' grades changed: same weights
        shuffled[key] = list(reversed(grades[key]))
    assert fit_fusion(tables, shuffled, fit_on, ["abstract", "bm25"]).weights == before
    with pytest.raises(ValueError, match="no judged pair"):
        fit_fusion(tables, {k: [1] * 30 for k in grades}, fit_on, ["abstract"])


def test_each_fold_is_fitted_on_its_dev_queries_only():
    from finesim.fusion.cv import fit_per_fold

    tables, grades = _pools(n_queries=8)
    keys = sorted(tables)
    splits = {
        "all": {
            "fold1_dev": keys[:4],
            "fold1_test": keys[4:],
            "fold2_dev": keys[4:],
            "fold2_test": keys[:4],
        }
    }
    fitted = fit_per_fold(tables, grades, splits, ["abstract", "bm25"])
    assert [test for _, test in fitted.values()] == [keys[4:], keys[:4]]
    for fold, (preset, _) in fitted.items():
        dev = splits["all"][f"{fold}_dev"]
        assert preset.weights == fit_fusion(tables, grades, dev, ["abstract", "bm25"]).weights
        assert preset.name == f"learned-{fold}"
    changed = {k: (list(reversed(g)) if k in keys[4:] else g) for k, g in grades.items()}
    again = fit_per_fold(tables, changed, splits, ["abstract", "bm25"])
    assert again["fold1"][0].weights == fitted["fold1"][0].weights  # its test grades unread
    overlap = {"all": {**splits["all"], "fold1_test": keys[3:]}}
    with pytest.raises(ValueError, match="share queries"):
        fit_per_fold(tables, grades, overlap, ["abstract"])
