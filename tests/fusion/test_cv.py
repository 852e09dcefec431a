import pytest

from finesim.fusion.cv import choose, cross_validate, only, value_of

SPLITS = {
    "all": {
        "fold1_dev": ["q1", "q2"],
        "fold1_test": ["q3", "q4"],
        "fold2_dev": ["q3", "q4"],
        "fold2_test": ["q1", "q2"],
    },
    "background": {"fold1_test": ["q3"], "fold2_test": ["q1"]},
}


def _table(a, b):
    """Config A is best on q1, q2; config B on q3, q4 (values given for q1..q4)."""
    return {
        "A": {f"q{i + 1}": {"map": v} for i, v in enumerate(a)},
        "B": {f"q{i + 1}": {"map": v} for i, v in enumerate(b)},
    }


def test_choice_is_made_on_dev_and_reported_on_test():
    table = _table([50, 50, 10, 10], [20, 20, 30, 30])
    result = cross_validate(table, SPLITS, metric="map", groups=("all", "background"))
    # fold1 chooses on q1, q2 (A wins) and reports A on q3, q4; fold2 the other way round
    assert result["chosen"] == {"fold1": "A", "fold2": "B"}
    assert result["dev"] == {"fold1": 50.0, "fold2": 30.0}
    assert result["all"]["map"] == pytest.approx((10 + 20) / 2)
    assert result["background"]["map"] == pytest.approx((10 + 20) / 2)


def test_test_figures_never_change_the_choice():
    low = cross_validate(
        _table([50, 50, 10, 10], [20, 20, 30, 30]), SPLITS, metric="map", groups=("all",)
    )
    # make B far better on fold1's test queries: fold1 still picks A from its dev queries
    high = cross_validate(
        _table([50, 50, 10, 10], [20, 20, 99, 99]), SPLITS, metric="map", groups=("all",)
    )
    assert low["chosen"]["fold1"] == high["chosen"]["fold1"] == "A"


def test_selection_sees_only_dev_queries_and_overlap_is_refused():
    table = _table([1, 2, 3, 4], [4, 3, 2, 1])
    assert set(only(table, ["q1"])["A"]) == {"q1"}
    assert choose(only(table, ["q1", "q2"]), "map") == "B"
    leaky = {"all": {**SPLITS["all"], "fold1_test": ["q2", "q3"]}}
    with pytest.raises(ValueError, match="share queries"):
        cross_validate(table, leaky, metric="map", groups=("all",))
    with pytest.raises(ValueError, match="no figures for q9"):
        only(table, ["q9"])


def test_choosing_on_two_metrics_uses_their_mean():
    dev = {
        "A": {"q1": {"map": 50.0, "ndcg%20": 10.0}},  # mean 30
        "B": {"q1": {"map": 40.0, "ndcg%20": 30.0}},  # mean 35
    }
    assert choose(dev, "map") == "A"
    assert choose(dev, "map+ndcg%20") == "B"
    assert choose(dev) == "B"  # the default: both figures CSFCube reports
    assert value_of(dev["B"]["q1"], "map+ndcg%20") == 35.0
    with pytest.raises(ValueError, match="unknown metric 'p@5'"):
        value_of(dev["A"]["q1"], "map+p@5")
