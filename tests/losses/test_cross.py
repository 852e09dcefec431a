"""Cross-encoder losses against direct torch references and sentence-transformers' own."""

import math

import pytest
import torch

from finesim import CrossEncoder
from finesim.losses import CROSS_LOSSES
from finesim.losses.cross import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    MSELoss,
    MultipleNegativesRankingLoss,
)
from tests.helpers import SENTENCES, build_tiny_cross, require_module

st = require_module("sentence_transformers", "the reference for the cross-encoder losses")

ANCHORS = SENTENCES[:6]
POSITIVES = SENTENCES[1:7]
NEGATIVES = SENTENCES[4:10]
TEXTS = {"anchor": ANCHORS, "positive": POSITIVES}


def test_registry_names_the_four_losses():
    assert set(CROSS_LOSSES) == {"bce", "mse", "cross-entropy", "multiple-negatives"}


def test_bce_is_the_textbook_formula_on_scaled_scores():
    logits = torch.tensor([[0.3], [-1.2], [2.0], [0.0]])
    scores = torch.tensor([5.0, 0.0, 3.2, 1.0])
    loss = BinaryCrossEntropyLoss(max_score=5.0)(logits, scores)
    p, y = torch.sigmoid(logits.view(-1)), scores / 5
    expected = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    weighted = BinaryCrossEntropyLoss(pos_weight=3.0)(logits, torch.tensor([1.0, 0.0, 1.0, 0.0]))
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    expected = -(3 * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    assert torch.allclose(weighted, expected, atol=1e-6)


def test_mse_regresses_the_activated_logit():
    logits = torch.tensor([[0.3], [-1.2], [2.0]])
    labels = torch.tensor([4.0, 1.0, 2.5])
    raw = MSELoss(max_score=5.0)(logits, labels)
    assert torch.allclose(raw, ((logits.view(-1) - labels / 5) ** 2).mean())
    squashed = MSELoss(max_score=5.0, activation="sigmoid")(logits, labels)
    assert torch.allclose(squashed, ((torch.sigmoid(logits.view(-1)) - labels / 5) ** 2).mean())
    with pytest.raises(ValueError, match="activation"):
        MSELoss(activation="tanh")


def test_cross_entropy_is_log_softmax_at_the_label():
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.3, 0.1], [-2.0, 1.0, 3.0]])
    labels = torch.tensor([0.0, 2.0, 1.0])
    loss = CrossEntropyLoss(3)(logits, labels)
    expected = -torch.log_softmax(logits, dim=1)[torch.arange(3), labels.long()].mean()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_multiple_negatives_pairs_and_loss_with_every_negative():
    loss = MultipleNegativesRankingLoss(num_negatives=None)
    texts = {**TEXTS, "negative": NEGATIVES}
    pairs = loss.pairs(texts)
    rows, per_row = len(ANCHORS), 1 + 2 * (len(ANCHORS) - 1) + 1
    assert len(pairs) == rows * per_row
    for i, anchor in enumerate(ANCHORS):
        row = pairs[i * per_row : (i + 1) * per_row]
        assert all(q == anchor for q, _ in row)
        assert row[0][1] == POSITIVES[i] and row[-1][1] == NEGATIVES[i]
        others = [p for j, p in enumerate(POSITIVES + NEGATIVES) if j % rows != i]
        assert sorted(t for _, t in row[1:-1]) == sorted(others)
    logits = torch.randn(rows, per_row)
    scores = torch.sigmoid(logits) * 10
    expected = (torch.logsumexp(scores, dim=1) - scores[:, 0]).mean()
    assert torch.allclose(loss(logits, None), expected, atol=1e-6)


def test_multiple_negatives_draws_from_other_rows_only():
    torch.manual_seed(0)
    loss = MultipleNegativesRankingLoss(num_negatives=3)
    pairs = loss.pairs(TEXTS)
    assert len(pairs) == len(ANCHORS) * 4
    for i in range(len(ANCHORS)):
        drawn = [t for _, t in pairs[i * 4 + 1 : i * 4 + 4]]
        assert POSITIVES[i] not in drawn and len(set(drawn)) == 3
    assert MultipleNegativesRankingLoss(num_negatives=0).pairs(TEXTS)[1][0] == ANCHORS[1]


@pytest.fixture(scope="module")
def tiny_models(tiny_bert, tmp_path_factory):
    one = build_tiny_cross(tmp_path_factory.mktemp("c1") / "m", tiny_bert)
    three = build_tiny_cross(tmp_path_factory.mktemp("c3") / "m", tiny_bert, num_labels=3)
    return one, three


def _ours(folder, loss, texts, labels):
    model = CrossEncoder(folder)  # eval mode: no dropout on either side
    logits = model.logits(loss.pairs(texts)).view(len(texts["anchor"]), -1)
    return float(loss(logits, labels))


def test_each_loss_equals_sentence_transformers_on_the_same_model(tiny_models):
    from sentence_transformers.cross_encoder import losses as st_losses

    one, three = tiny_models
    scores = torch.tensor([0.0, 0.2, 0.5, 0.7, 0.9, 1.0])
    classes = torch.tensor([0, 1, 2, 2, 1, 0])
    ref1 = st.CrossEncoder(str(one), device="cpu")
    ref3 = st.CrossEncoder(str(three), device="cpu")
    ref1.eval()
    ref3.eval()
    columns = [ANCHORS, POSITIVES]
    cases = [
        (one, BinaryCrossEntropyLoss(), st_losses.BinaryCrossEntropyLoss(ref1), scores, TEXTS),
        (one, MSELoss(), st_losses.MSELoss(ref1), scores, TEXTS),
        (three, CrossEntropyLoss(3), st_losses.CrossEntropyLoss(ref3), classes, TEXTS),
    ]
    with torch.no_grad():
        for folder, ours, theirs, labels, texts in cases:
            want = float(theirs(columns, labels))
            got = _ours(folder, ours, texts, labels.float())
            assert math.isclose(got, want, abs_tol=1e-5), (type(ours).__name__, got, want)
        # the same draws of in-batch negatives from the same generator state
        texts = {**TEXTS, "negative": NEGATIVES}
        theirs = st_losses.MultipleNegativesRankingLoss(ref1, num_negatives=3)
        torch.manual_seed(7)
        want = float(theirs([ANCHORS, POSITIVES, NEGATIVES], None))
        torch.manual_seed(7)
        got = _ours(one, MultipleNegativesRankingLoss(num_negatives=3), texts, None)
    assert math.isclose(got, want, abs_tol=1e-5), (got, want)
