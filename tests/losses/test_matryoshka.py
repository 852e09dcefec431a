"""MatryoshkaLoss: the weighted sum of its inner loss over truncated vectors, by hand; refusals."""

import json

import pytest
import torch
import torch.nn.functional as F

from finesim import FinesimError
from finesim.losses import (
    CenterLoss,
    CoSENTLoss,
    CosineRegressionLoss,
    InfoNCELoss,
    MatryoshkaLoss,
    SoftmaxLoss,
    TripletLoss,
)
from finesim.training import load_config
from finesim.training.trainer import build_loss
from tests.helpers import SENTENCES


def _pairs(rows=6, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(rows, dim, generator=g)
    p = torch.randn(rows, dim, generator=g)
    labels = torch.rand(rows, generator=g) * 5
    return {"anchor": a, "positive": p}, labels


def test_weighted_sum_of_the_inner_loss_on_the_first_dims_by_hand():
    emb, labels = _pairs()
    loss = MatryoshkaLoss(CosineRegressionLoss(), [8, 4, 2], [1.0, 0.5, 2.0])

    def by_hand(d):  # MSE of cos over the first d components against gold / 5
        cos = F.cosine_similarity(emb["anchor"][:, :d], emb["positive"][:, :d])
        return ((cos - labels / 5) ** 2).mean()

    expected = by_hand(8) + 0.5 * by_hand(4) + 2.0 * by_hand(2)
    assert float(loss(emb, labels)) == pytest.approx(float(expected), rel=1e-6)
    # the terms differ, so a wrapper that ignored the cut would fail the line above
    assert abs(float(by_hand(2)) - float(by_hand(8))) > 1e-3


@pytest.mark.parametrize(
    "inner", [CosineRegressionLoss(), CoSENTLoss(), TripletLoss(), InfoNCELoss(dim=8)]
)
def test_default_weights_are_one_and_the_full_dim_alone_is_the_inner_loss(inner):
    emb, labels = _pairs()
    emb["negative"] = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))
    cut = {c: e[:, :3] for c, e in emb.items()}
    assert float(MatryoshkaLoss(inner, [8])(emb, labels)) == pytest.approx(
        float(inner(emb, labels))
    )
    assert float(MatryoshkaLoss(inner, [8, 3])(emb, labels)) == pytest.approx(
        float(inner(emb, labels) + inner(cut, labels)), rel=1e-6
    )


def test_gradient_flows_to_the_kept_components_only():
    emb, labels = _pairs()
    leaves = {c: e.clone().requires_grad_(True) for c, e in emb.items()}
    MatryoshkaLoss(CosineRegressionLoss(), [6, 2])(leaves, labels).backward()
    for column, leaf in leaves.items():
        assert leaf.grad is not None, column
        assert leaf.grad[:, :6].abs().sum() > 0  # the kept components learn
        assert torch.all(leaf.grad[:, 6:] == 0)  # the two never kept get nothing
    # the smallest cut adds to the first two components' gradient
    plain = {c: e.clone().requires_grad_(True) for c, e in emb.items()}
    MatryoshkaLoss(CosineRegressionLoss(), [6])(plain, labels).backward()
    assert not torch.allclose(plain["anchor"].grad[:, :2], leaves["anchor"].grad[:, :2])
    assert torch.allclose(plain["anchor"].grad[:, 2:], leaves["anchor"].grad[:, 2:])


@pytest.mark.parametrize(
    ("dims", "weights", "message"),
    [
        ([], None, "expected a list of positive integers"),
        ([8, 0], None, "0 is not a positive integer"),
        ([8, -4], None, "-4 is not a positive integer"),
        ([8, 2.5], None, "2.5 is not a positive integer"),
        ([8, True], None, "True is not a positive integer"),
        ([16], None, "16 is larger than the model's 8-dimensional"),
        ([8, 8], None, "repeats a dimension"),
        ([8, 4], [1.0], "needs one number for each of matryoshka_dims"),
        ([8, 4], [1.0, -1.0], "-1.0 is not a number >= 0"),
        ([], [1.0], "given without matryoshka_dims"),
    ],
)
def test_bad_dims_and_weights_are_one_line_errors(dims, weights, message):
    with pytest.raises(FinesimError, match=message) as info:
        MatryoshkaLoss(CosineRegressionLoss(), dims, weights, full_dim=8)
    assert "\n" not in str(info.value)


def test_a_dim_beyond_the_vectors_is_refused_at_the_first_step_without_full_dim():
    emb, labels = _pairs(dim=4)
    with pytest.raises(FinesimError, match="8 is larger than the 4-dimensional vectors"):
        MatryoshkaLoss(CosineRegressionLoss(), [8, 2])(emb, labels)


@pytest.mark.parametrize(
    "inner",
    [SoftmaxLoss(dim=8), InfoNCELoss(dim=8, head="mlp"), CenterLoss(dim=8, num_classes=3)],
)
def test_losses_that_learn_over_the_full_vectors_are_refused(inner):
    with pytest.raises(FinesimError, match="over the full vectors"):
        MatryoshkaLoss(inner, [8, 4])


def test_build_loss_from_set_overrides():
    config = load_config(
        "sbert-sts", ["matryoshka_dims=[32, 16, 8]", "matryoshka_weights=[1, 1, 2]"]
    )
    loss = build_loss(config, 32)
    assert isinstance(loss, MatryoshkaLoss) and isinstance(loss.inner, CosineRegressionLoss)
    assert (loss.dims, loss.weights) == ([32, 16, 8], [1.0, 1.0, 2.0])
    assert not isinstance(build_loss(load_config("sbert-sts"), 32), MatryoshkaLoss)
    with pytest.raises(FinesimError, match="64 is larger than the model's 32"):
        build_loss(load_config("sbert-sts", ["matryoshka_dims=[64, 8]"]), 32)
    with pytest.raises(FinesimError, match="matryoshka_dims must be a list"):
        load_config("sbert-sts", ["matryoshka_dims=64"])
    with pytest.raises(FinesimError, match="SoftmaxLoss learns 'classifier'"):
        build_loss(load_config("sbert-nli", ["matryoshka_dims=[32, 8]"]), 32)


def test_train_end_to_end_with_matryoshka_dims(cli, tiny_st, tmp_path):
    data = tmp_path / "scored.csv"
    rows = [f"{SENTENCES[i % 30]},{SENTENCES[(i * 7 + 1) % 30]},{(i * 37) % 6}" for i in range(40)]
    data.write_text("sentence1,sentence2,score\n" + "\n".join(rows) + "\n")
    common = ["train", "--recipe", "sbert-sts", "-m", tiny_st, "--data", data, "--json"]
    common += ["--set", "evaluator=''", "--set", "batch_size=8", "--set", "max_steps=4"]
    code, out, err = cli(*common, "-o", tmp_path / "run", "--set", "matryoshka_dims=[32,16,8]")
    assert code == 0, err
    assert json.loads(out)["steps"] == 4
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["matryoshka_dims"] == [32, 16, 8] and saved["matryoshka_weights"] == []
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    matryoshka = [r["loss"] for r in records if "loss" in r]
    assert matryoshka and all(v > 0 for v in matryoshka)

    code, out, err = cli(*common, "-o", tmp_path / "control")
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "control" / "metrics.jsonl").open()]
    control = [r["loss"] for r in records if "loss" in r]
    # same seed and data: the sum over three cuts is a different (larger) objective
    assert matryoshka[0] > control[0]

    code, out, err = cli(*common, "-o", tmp_path / "bad", "--set", "matryoshka_dims=[64]")
    assert code == 2 and "Traceback" not in err
    assert "matryoshka_dims: 64 is larger than the model's 32-dimensional vectors" in err


def test_gradcache_gives_the_plain_gradients_with_matryoshka(tiny_st):
    """The wrapper is a function of the embeddings, so GradCache's replay (mini_batch) holds."""
    from finesim import Encoder
    from finesim.losses import backward, cached_backward

    texts = {"anchor": SENTENCES[:8], "positive": SENTENCES[8:16]}
    labels = torch.arange(8, dtype=torch.float32) % 6
    loss_fn = MatryoshkaLoss(CosineRegressionLoss(), [32, 16, 4], [1.0, 0.5, 0.25])
    grads = []
    for step in (backward, lambda *a: cached_backward(*a, mini_batch=3)):
        encoder = Encoder(tiny_st)
        encoder.eval()
        value = step(encoder, loss_fn, texts, labels)
        grads.append((value, [p.grad.clone() for p in encoder.parameters() if p.grad is not None]))
    (plain, plain_grads), (cached, cached_grads) = grads
    assert cached == pytest.approx(plain, rel=1e-5)
    assert len(plain_grads) == len(cached_grads) > 0
    for a, b in zip(plain_grads, cached_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
