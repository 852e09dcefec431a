import pytest
import torch
import torch.nn.functional as F

from finesim import Encoder
from finesim.losses import (
    CoSENTLoss,
    CosineRegressionLoss,
    InfoNCELoss,
    SoftmaxLoss,
    TripletLoss,
    backward,
    cached_backward,
    info_nce,
)
from tests.helpers import SENTENCES


def _emb(n=6, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3)]


def test_info_nce_matches_a_direct_formula():
    a, p, n = _emb()
    loss = info_nce(a, p, n, temperature=0.05)
    sims = torch.cat([F.normalize(a) @ F.normalize(p).T, F.normalize(a) @ F.normalize(n).T], 1)
    expected = -torch.log_softmax(sims / 0.05, dim=1).diagonal().mean()
    assert torch.allclose(loss, expected)
    sym = info_nce(a, p, temperature=0.1, symmetric=True)
    back = -torch.log_softmax((F.normalize(p) @ F.normalize(a).T) / 0.1, 1).diagonal().mean()
    fwd = -torch.log_softmax((F.normalize(a) @ F.normalize(p).T) / 0.1, 1).diagonal().mean()
    assert torch.allclose(sym, (fwd + back) / 2)


def test_pair_losses_match_their_definitions():
    a, p, n = _emb()
    labels = torch.tensor([0.0, 1.0, 2.5, 5.0, 4.0, 2.5], dtype=torch.float64)
    cos = F.cosine_similarity(a, p)
    reg = CosineRegressionLoss()({"anchor": a, "positive": p}, labels)
    assert torch.allclose(reg, ((cos - labels / 5) ** 2).mean())
    trip = TripletLoss(margin=1.0)({"anchor": a, "positive": p, "negative": n})
    expected = torch.clamp((a - p).norm(dim=1) - (a - n).norm(dim=1) + 1.0, min=0).mean()
    assert torch.allclose(trip, expected)
    cosent = CoSENTLoss(scale=20.0)({"anchor": a, "positive": p}, labels)
    terms = [torch.tensor(0.0, dtype=torch.float64)]
    for i in range(6):
        for j in range(6):
            if labels[i] > labels[j]:
                terms.append(20.0 * (cos[j] - cos[i]))
    assert torch.allclose(cosent, torch.logsumexp(torch.stack(terms), 0))
    soft = SoftmaxLoss(8, 3).double()
    cls = torch.tensor([0, 1, 2, 0, 1, 2])
    logits = soft.classifier(torch.cat([a, p, (a - p).abs()], 1))
    assert torch.allclose(soft({"anchor": a, "positive": p}, cls), F.cross_entropy(logits, cls))


def _grads(enc):
    return {k: v.grad.clone() for k, v in enc.named_parameters() if v.grad is not None}


@pytest.mark.parametrize("with_negatives", [False, True])
def test_cached_gradients_equal_the_plain_loss(tiny_st, with_negatives):
    texts = {"anchor": SENTENCES[:12], "positive": SENTENCES[12:24]}
    if with_negatives:
        texts["negative"] = SENTENCES[6:18]
    torch.manual_seed(0)
    loss_fn = InfoNCELoss(32, temperature=0.05, head="mlp")
    enc = Encoder(tiny_st)
    enc.eval()  # no dropout: the two computations see identical networks
    plain = backward(enc, loss_fn, texts, None)
    want, head_want = _grads(enc), [p.grad.clone() for p in loss_fn.parameters()]
    enc.zero_grad()
    loss_fn.zero_grad()
    cached = cached_backward(enc, loss_fn, texts, None, mini_batch=5)
    got, head_got = _grads(enc), [p.grad.clone() for p in loss_fn.parameters()]
    assert abs(plain - cached) < 1e-6
    assert want.keys() == got.keys() and len(want) > 10
    worst = max((want[k] - got[k]).abs().max().item() for k in want)
    assert worst <= 1e-5, worst
    assert all(torch.allclose(w, g, atol=1e-6) for w, g in zip(head_want, head_got, strict=True))


def test_cached_step_replays_dropout(tiny_st):
    """With dropout on, the second pass must see the first pass's masks."""
    texts = {"anchor": SENTENCES[:8], "positive": SENTENCES[:8]}  # SimCSE: same text twice
    loss_fn = InfoNCELoss(32)
    enc = Encoder(tiny_st)
    enc.train()
    torch.manual_seed(5)
    plain = backward(enc, loss_fn, texts, None)
    want = _grads(enc)
    enc.zero_grad()
    torch.manual_seed(5)
    cached = cached_backward(enc, loss_fn, texts, None, mini_batch=8)  # same RNG order
    got = _grads(enc)
    assert plain > 0.01 and abs(plain - cached) < 1e-6
    assert max((want[k] - got[k]).abs().max().item() for k in want) <= 1e-5
