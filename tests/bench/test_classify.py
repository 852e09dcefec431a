import pytest

from finesim.bench.classify import markdown, snli_classes


@pytest.mark.needs_data("nli/snli-senteval")
def test_snli_as_labelled_texts_and_a_fixed_subset():
    dev = snli_classes("dev")
    assert len(dev.texts) == 9842 and dev.classes == ["contradiction", "entailment", "neutral"]
    assert " [SEP] " in dev.texts[0]
    subset = snli_classes("dev", 50)
    assert len(subset.texts) == 50 and subset == snli_classes("dev", 50)
    assert set(subset.texts) <= set(dev.texts)


def test_markdown_prints_the_intervals_and_the_paired_difference():
    system = {"accuracy": 0.5, "accuracy_ci95": [0.4, 0.6], "macro_f1": 0.45, "model": "m"}
    result = {
        "task": "t",
        "train": {"split": "snli dev", "rows": 10},
        "test": {"split": "snli test", "rows": 8},
        "majority_baseline": 0.375,
        "frozen": system,
        "trained": {**system, "accuracy": 0.625, "model": "m + center"},
        "difference": {"difference": 0.125, "ci95": [0.0, 0.25], "p_value": 0.5, "n": 8},
        "interval_method": "i",
        "test_method": "p",
    }
    text = markdown(result)
    assert "| m | 50.00 [40.00, 60.00] | 45.00 |" in text
    assert "| m + center | 62.50 [40.00, 60.00] |" in text
    assert "+12.50 [+0.00, +25.00], p = 0.500" in text
