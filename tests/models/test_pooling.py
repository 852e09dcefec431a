import pytest
import torch

from finesim import Encoder, FinesimError
from finesim.models.pooling import POOLING_MODES, canonical_mode, pool
from tests.helpers import SENTENCES


def _outputs(enc: Encoder, texts: list[str]):
    features, _ = enc.tokenize(texts)
    with torch.inference_mode():
        out = enc.transformer(**features, output_hidden_states=True, return_dict=True)
    return features["attention_mask"], out


def _manual_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    rows = []
    for t, m in zip(tokens, mask, strict=True):
        rows.append(t[m.bool()].mean(dim=0))
    return torch.stack(rows)


def test_every_mode_matches_a_direct_computation(tiny_bert):
    texts = SENTENCES[:6]
    enc = Encoder(tiny_bert)
    mask, out = _outputs(enc, texts)
    last, hidden = out.last_hidden_state, out.hidden_states
    expected = {
        "cls": out.pooler_output,
        "cls-before-pooler": last[:, 0],
        "mean": _manual_mean(last, mask),
        "max": torch.stack(
            [t[m.bool()].max(dim=0).values for t, m in zip(last, mask, strict=True)]
        ),
        "mean-sqrt-len": _manual_mean(last, mask) * mask.sum(1, keepdim=True).sqrt(),
        "mean-first-last": _manual_mean((hidden[1] + hidden[-1]) / 2, mask),
        "mean-top2": _manual_mean((hidden[-2] + hidden[-1]) / 2, mask),
        "lasttoken": torch.stack([t[int(m.sum()) - 1] for t, m in zip(last, mask, strict=True)]),
    }
    w = []
    for t, m in zip(last, mask, strict=True):
        n = int(m.sum())
        weights = torch.arange(1, n + 1, dtype=t.dtype).unsqueeze(1)
        w.append((t[:n] * weights).sum(0) / weights.sum())
    expected["weighted-mean"] = torch.stack(w)
    assert set(expected) == set(POOLING_MODES)
    for mode, want in expected.items():
        got = pool((mode,), last, mask, hidden, out.pooler_output)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=mode)
        # the Encoder with that pooling gives the same vectors
        vectors = Encoder(tiny_bert, pooling=mode).encode(texts, convert_to="torch")
        torch.testing.assert_close(vectors, want, atol=1e-5, rtol=1e-5, msg=mode)


def test_several_modes_concatenate(tiny_bert):
    enc = Encoder(tiny_bert)
    mask, out = _outputs(enc, SENTENCES[:3])
    both = pool(("cls-before-pooler", "mean"), out.last_hidden_state, mask)
    assert both.shape == (3, 64)


def test_simcse_names_and_unknown_names():
    assert canonical_mode("avg_first_last") == "mean-first-last"
    assert canonical_mode("avg_top2") == "mean-top2"
    assert canonical_mode("cls_before_pooler") == "cls-before-pooler"
    with pytest.raises(FinesimError, match="unknown pooling"):
        canonical_mode("median")
