import math

import pytest
import torch

from finesim import Encoder, FinesimError
from finesim.losses import LOSSES, BatchAllTripletLoss, BatchHardTripletLoss, CenterLoss, backward
from finesim.losses.classes import distance_matrix
from tests.helpers import SENTENCES

# 1-d points 0, 1 | 3, 7 (classes 0 | 1): distances d01=1 d02=3 d03=7 d12=2 d13=6 d23=4
POINTS = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
LABELS = torch.tensor([0.0, 0.0, 1.0, 1.0])


def test_registered_for_recipes():
    assert LOSSES["center"] is CenterLoss
    assert LOSSES["batch-hard-triplet"] is BatchHardTripletLoss
    assert LOSSES["batch-all-triplet"] is BatchAllTripletLoss


def test_center_loss_equals_the_hand_computed_value_and_update():
    loss = CenterLoss(dim=2, num_classes=2, center_weight=0.1).double()
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.eye(2))
        loss.classifier.bias.zero_()
        loss.centers.copy_(torch.tensor([[1.0, 0.5], [0.0, 0.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    value = loss({"anchor": x}, torch.tensor([0.0, 1.0, 0.0]))
    cross_entropy = (2 * math.log(1 + math.exp(-1)) + math.log(2)) / 3
    # squared distances to the centres 0.25, 1, 0.25: half their mean is 0.25
    assert value.item() == pytest.approx(cross_entropy + 0.1 * 0.25)
    # class 0's centre is already its mean; class 1's moves alpha * (x - c) / (1 + 1)
    torch.testing.assert_close(
        loss.centers, torch.tensor([[1.0, 0.5], [0.0, 0.25]], dtype=torch.float64)
    )


def test_centres_move_to_the_class_means_in_training_only():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    x = torch.randn(8, 5, generator=g) + 3 * torch.nn.functional.one_hot(y, 5)[:, :5]
    means = torch.stack([x[y == k].mean(0) for k in range(3)])
    loss = CenterLoss(dim=5, num_classes=3)
    loss.eval()
    loss({"anchor": x}, y.float())
    assert not loss.centers.any()  # evaluation never moves them
    loss.train()
    gaps = []
    for _ in range(25):
        loss({"anchor": x}, y.float())
        gaps.append(float((loss.centers - means).norm()))
    assert all(b < a for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-3 * float(means.norm())


def test_batch_hard_and_batch_all_equal_hand_computed_values():
    embeddings = {"anchor": POINTS}
    # hardest positive minus nearest negative + margin, per anchor: -1, 0, 3, -1 (margin 1)
    assert BatchHardTripletLoss(margin=1.0)(embeddings, LABELS).item() == pytest.approx(0.75)
    # the defaults (euclidean, margin 5, as sentence-transformers): 3, 4, 7, 3
    assert BatchHardTripletLoss()(embeddings, LABELS).item() == pytest.approx(17 / 4)
    # all triplets, margin 1: only (2, 3, 0) = 2 and (2, 3, 1) = 3 are above zero
    assert BatchAllTripletLoss(margin=1.0)(embeddings, LABELS).item() == pytest.approx(2.5)
    # margin 5: the eight triplets 3, -1, 4, 0, 6, 7, 2, 3 -> 25 over the 6 above zero
    assert BatchAllTripletLoss()(embeddings, LABELS).item() == pytest.approx(25 / 6)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor(
        [[0, 1, 1 - 2**-0.5], [1, 0, 1 - 2**-0.5], [1 - 2**-0.5, 1 - 2**-0.5, 0]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(distance_matrix(x, "cosine"), expected)
    torch.testing.assert_close(distance_matrix(x), torch.cdist(x, x))


def test_triplet_losses_match_sentence_transformers():
    losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 3, 3, 2, 0])
    for ours, theirs in (
        (BatchHardTripletLoss(), losses.BatchHardTripletLoss(None).batch_hard_triplet_loss),
        (BatchAllTripletLoss(), losses.BatchAllTripletLoss(None).batch_all_triplet_loss),
    ):
        want = theirs(labels, x)
        assert ours({"anchor": x}, labels.double()).item() == pytest.approx(want.item())


@pytest.mark.parametrize(
    "loss",
    [CenterLoss(dim=3, num_classes=2), BatchHardTripletLoss(), BatchAllTripletLoss()],
)
def test_gradients_flow_and_stay_finite_on_repeated_points(loss):
    x = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 1.0], [0.0, 1.0, 1.0]])
    x.requires_grad_(True)
    value = loss({"anchor": x}, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradients_reach_the_encoder(tiny_st):
    encoder = Encoder(tiny_st)
    encoder.train()
    loss = CenterLoss(dim=encoder.full_dim, num_classes=2)
    labels = torch.tensor([float(i % 2) for i in range(6)])
    backward(encoder, loss, {"anchor": SENTENCES[:6]}, labels)
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert loss.classifier.weight.grad is not None


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (None, "needs class labels"),
        (torch.tensor([0.0, 1.5, 1.0, 0.0]), "whole numbers"),
        (torch.tensor([0.0, -1.0, 1.0, 0.0]), "0 or more"),
        (torch.tensor([0.0, 1.0]), "expected 4 class ids"),
    ],
)
def test_bad_labels_are_refused(labels, match):
    for loss in (BatchHardTripletLoss(), BatchAllTripletLoss(), CenterLoss(1, 2)):
        with pytest.raises(FinesimError, match=match.replace("0 or more", "0")):
            loss({"anchor": POINTS.float()}, labels)
    with pytest.raises(FinesimError, match=r"0\.\.1"):
        CenterLoss(1, 2)({"anchor": POINTS.float()}, torch.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(FinesimError, match="two classes"):
        CenterLoss(4, 1)
    with pytest.raises(FinesimError, match="distance"):
        BatchHardTripletLoss(distance="manhattan")
