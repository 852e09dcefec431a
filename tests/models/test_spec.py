"""``EncoderSpec``: JSON round trip, one-line errors naming the field, and ``Encoder.spec``."""

import json

import numpy as np
import pytest

from finesim import Encoder, EncoderSpec, FinesimError
from tests.helpers import SENTENCES


def test_json_round_trip():
    spec = EncoderSpec(
        model="some/folder",
        pooling="max",
        trust_pickle=True,
        backend="onnx",
        whitening=False,
        max_length=64,
        normalize=False,
    )
    data = json.loads(json.dumps(spec.to_json()))
    assert EncoderSpec.from_json(data) == spec
    assert EncoderSpec.from_json({}) == EncoderSpec()  # every field has a default
    assert spec.replace(pooling=None).pooling is None and spec.pooling == "max"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"model": "minilm", "pooling_mode": "mean"}, ["unknown field", "'pooling_mode'"]),
        ({"model": 3}, ["'model'", "3"]),
        ({"pooling": ["mean"]}, ["'pooling'"]),
        ({"trust_pickle": "yes"}, ["'trust_pickle'", "'yes'"]),
        ({"backend": 1}, ["'backend'"]),
        ({"whitening": None}, ["'whitening'"]),
        ({"max_length": True}, ["'max_length'", "True"]),  # a bool is not a length
        ({"max_length": 1.5}, ["'max_length'"]),
        ({"normalize": 0}, ["'normalize'"]),
        ({"truncate_dim": True}, ["'truncate_dim'", "True"]),
        ({"truncate_dim": "8"}, ["'truncate_dim'"]),
        (["minilm"], ["expected an object", "list"]),
    ],
)
def test_from_json_names_the_bad_field(data, words):
    with pytest.raises(FinesimError) as err:
        EncoderSpec.from_json(data, where="index.json")
    message = str(err.value)
    assert "\n" not in message and message.startswith("index.json: ")
    for word in words:
        assert word in message, message


def test_replace_rejects_unknown_settings():
    with pytest.raises(FinesimError, match="'device'"):
        EncoderSpec().replace(device="cuda")


def test_build_gives_the_encoders_vectors(tiny_bert, tiny_st):
    for model, pooling in ((tiny_st, None), (tiny_bert, "max")):
        spec = EncoderSpec(model=str(model), pooling=pooling, max_length=16)
        direct = Encoder(model, pooling=pooling, max_length=16)
        built = Encoder.from_spec(spec)
        assert built.fingerprint() == direct.fingerprint()
        assert np.array_equal(built.encode(SENTENCES), direct.encode(SENTENCES))


def test_encoder_spec_rebuilds_the_encoder(tiny_bert, tiny_st):
    enc = Encoder(tiny_bert, pooling="cls-before-pooler", normalize=True, max_length=12)
    assert enc.spec == EncoderSpec(
        model=str(tiny_bert),
        pooling="cls-before-pooler",
        backend="torch",  # resolved: None would be the folder's own choice
        max_length=12,
        normalize=True,
    )
    again = Encoder.from_spec(EncoderSpec.from_json(json.loads(json.dumps(enc.spec.to_json()))))
    assert again.spec == enc.spec and again.fingerprint() == enc.fingerprint()
    assert np.array_equal(again.encode(SENTENCES[:5]), enc.encode(SENTENCES[:5]))
    plain = Encoder(tiny_st)
    assert plain.spec == EncoderSpec(model=str(tiny_st), backend="torch")


def test_bad_pooling_and_backend_are_finesim_errors(tiny_bert, tiny_st):
    with pytest.raises(FinesimError, match="unknown pooling 'median'; choose one of"):
        Encoder(tiny_bert, pooling="median")
    with pytest.raises(FinesimError, match="unknown pooling 'median'"):
        Encoder.from_spec(EncoderSpec(model=str(tiny_st), pooling="median"))
    with pytest.raises(FinesimError, match="unknown backend 'tensorrt'; choose one of torch"):
        Encoder(tiny_st, backend="tensorrt")
