"""The committed CSFCube figures behind the README, end to end: ``finesim eval csfcube --model
minilm --cv`` and ``--cv --learn`` through the function the CLI calls, asserted against
benchmarks/csfcube/cv-minilm.json and cv-learn-minilm.json. A change that moves a headline
figure fails here. Needs the data folder (fails under CI=true without it); one encoder and one
embedding cache serve both runs (on an empty cache the first encodes CSFCube once, ~5-8 min on
2 cores; the second reads the cache)."""

import json

import pytest

from tests.helpers import REPO, require_data

pytestmark = [pytest.mark.slow, pytest.mark.needs_data("csfcube")]

COMMITTED = REPO / "benchmarks" / "csfcube"


def _committed(name):
    return json.loads((COMMITTED / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs():
    """Both runs, one encoder: ``{"cv": result, "learn": result}``."""
    require_data("csfcube")  # module fixtures come before the needs_data check
    from finesim.cli.common import load_encoder
    from finesim.cli.eval_hybrid import csfcube_hybrid

    encoder = load_encoder("minilm", None)
    args = (None, "off", True, "test", 32, True)
    return {
        "cv": csfcube_hybrid(encoder, *args, False),
        "learn": csfcube_hybrid(encoder, *args, True),
    }


@pytest.mark.parametrize(
    ("run", "file", "figures"),
    [
        ("cv", "cv-minilm.json", (43.52, 64.52)),
        ("learn", "cv-learn-minilm.json", (41.86, 64.78)),
    ],
)
def test_headline_figures_are_the_committed_ones(runs, run, file, figures):
    result, committed = runs[run], _committed(file)
    got = (round(result["all"]["map"], 2), round(result["all"]["ndcg%20"], 2))
    assert got == figures
    for group in ("background", "method", "result", "all"):
        for metric in ("map", "ndcg%20"):
            assert round(result[group][metric], 2) == round(committed[group][metric], 2)
    if run == "cv":
        chosen = {fold: c["config"] for fold, c in result["chosen"].items()}
        assert chosen == {fold: c["config"] for fold, c in committed["chosen"].items()}
    else:
        for fold, choice in result["chosen"].items():
            assert choice["preset"]["weights"] == committed["chosen"][fold]["preset"]["weights"]
            assert choice["preset"]["fitted_on"] == [f"csfcube:{fold}_dev"]
    # every test query ranked by its own fold's choice, and the figures honestly labelled
    assert len(result["per_query"]) == 50 and result["split"].startswith("test")
    assert result["folds"] == ["fold1_test", "fold2_test"]


def test_headline_carries_intervals_and_the_paired_baseline(runs):
    result = runs["cv"]
    low, high = result["ci95"]["all"]["map"]
    assert low < result["all"]["map"] < high and high - low > 5  # 50 queries: several points
    assert round(result["baseline"]["all"]["map"], 2) == 39.79  # the plain abstract cosine
    test = result["vs_baseline"]["all"]["map"]
    difference = result["all"]["map"] - result["baseline"]["all"]["map"]
    assert test["difference"] == pytest.approx(difference)
    assert test["ci95"][0] < test["difference"] < test["ci95"][1] and 0 < test["p_value"] < 1
