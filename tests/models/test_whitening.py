import json

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from finesim import Encoder, FinesimError
from finesim.models.whitening import MARKER, Whitening, fit_whitening, whiten_encoder
from tests.helpers import SENTENCES


def test_fit_makes_covariance_identity_and_reduces():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0  # correlated, off-centre
    fit = fit_whitening(x)
    white = fit.apply(x)
    assert np.abs(white.mean(axis=0)).max() < 1e-5
    assert np.abs(np.cov(white, rowvar=False) - np.eye(6)).max() < 1e-3
    small = fit_whitening(x, 2).apply(x)
    assert small.shape == (500, 2)
    # the kept directions are the two of largest variance: the same as the full map's first two
    assert np.abs(small - white[:, :2]).max() < 1e-4
    with pytest.raises(ValueError, match="between 1 and 6"):
        fit_whitening(x, 7)


def test_whitening_is_saved_applied_on_load_and_can_be_switched_off(tiny_st, tmp_path):
    base = Encoder(tiny_st)
    plain = base.encode(SENTENCES)
    whitened = whiten_encoder(Encoder(tiny_st), SENTENCES, 8, record={"data": "test"})
    ours = whitened.encode(SENTENCES)
    assert ours.shape == (len(SENTENCES), 8) and whitened.dim == 8
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # the same map as the numpy fit on the model's own vectors
    expected = fit_whitening(plain, 8).apply(plain)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.abs(np.abs((ours * expected).sum(axis=1)) - 1).max() < 1e-3

    whitened.save(tmp_path / "w")
    marker = json.loads(next((tmp_path / "w").glob(f"*_Dense/{MARKER}")).read_text())
    assert marker["dim"] == 8 and marker["data"] == "test" and marker["pre_normalize"] is True
    again = Encoder(tmp_path / "w")
    assert isinstance(again.dense[-1], Whitening)
    assert np.abs(again.encode(SENTENCES) - ours).max() < 1e-5
    theirs = SentenceTransformer(str(tmp_path / "w"), device="cpu").encode(SENTENCES)
    assert np.abs(theirs - ours).max() < 1e-4  # sentence-transformers applies it too
    off = Encoder(tmp_path / "w", whitening=False)
    assert off.dim == base.dim and off.normalize == base.normalize
    assert np.abs(off.encode(SENTENCES) - plain).max() < 1e-6  # identity when off


def test_whitening_an_unnormalised_model_keeps_it_unnormalised_when_off(tiny_bert, tmp_path):
    base = Encoder(tiny_bert, pooling="mean")
    whiten_encoder(base, SENTENCES).save(tmp_path / "w")
    off = Encoder(tmp_path / "w", whitening=False)
    assert off.normalize is False
    assert np.abs(off.encode(SENTENCES) - Encoder(tiny_bert).encode(SENTENCES)).max() < 1e-6


def test_whitening_twice_is_refused(tiny_st):
    enc = whiten_encoder(Encoder(tiny_st), SENTENCES)
    with pytest.raises(ValueError, match="already whitened"):
        whiten_encoder(enc, SENTENCES)


def test_bad_marker_is_one_clear_error(tiny_st, tmp_path):
    whiten_encoder(Encoder(tiny_st), SENTENCES).save(tmp_path / "w")
    next((tmp_path / "w").glob(f"*_Dense/{MARKER}")).write_text("{}")
    with pytest.raises(FinesimError, match="bad whitening record"):
        Encoder(tmp_path / "w")
