"""The official ``openai`` client against a live server, and vectors equal ``finesim encode``'s."""

import sys

import numpy as np
import pytest

from finesim import Encoder
from finesim.cli.main import main
from tests.helpers import require_module, start

openai = require_module("openai", "the openai client is a test requirement")

TEXTS = ["a man plays the guitar", "the woman sings", "a cat sleeps on the table"]


def client(url, key="unused"):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def test_openai_client_base64_and_float(tiny_encoder):
    service, live = start(tiny_encoder, "tiny", api_key="k1")
    with live as url:
        expected = tiny_encoder.encode(TEXTS)
        default = client(url, "k1").embeddings.create(model="tiny", input=TEXTS)  # base64
        floats = client(url, "k1").embeddings.create(
            model="tiny", input=TEXTS, encoding_format="float"
        )
        for answer in (default, floats):
            got = np.array([d.embedding for d in answer.data], dtype=np.float32)
            np.testing.assert_allclose(got, expected, atol=1e-6)
            assert answer.model == "tiny" and answer.usage.prompt_tokens == 20
        one = client(url, "k1").embeddings.create(model="tiny", input="the woman sings")
        np.testing.assert_allclose(one.data[0].embedding, expected[1], atol=1e-6)
        with pytest.raises(openai.AuthenticationError):
            client(url, "wrong").embeddings.create(model="tiny", input=TEXTS)
        with pytest.raises(openai.NotFoundError, match="no model 'text-embedding-3-small'"):
            client(url, "k1").embeddings.create(model="text-embedding-3-small", input="x")
        with pytest.raises(openai.UnprocessableEntityError, match="empty"):
            client(url, "k1").embeddings.create(model="tiny", input=[""])
        assert [m.id for m in client(url, "k1").models.list()] == ["tiny"]
    service.close()


@pytest.mark.slow
def test_minilm_vectors_equal_finesim_encode(tmp_path, monkeypatch, capsys):
    texts = [
        "A man is playing a guitar.",
        "We propose a contrastive objective for sentence embeddings.",
        "Interest rates rose sharply, and the stock market fell.",
        "Cats sleep.",
    ]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n")
    monkeypatch.setattr(
        sys, "argv", ["finesim", "encode", "-i", str(source), "-o", str(tmp_path / "v.npy")]
    )
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0, capsys.readouterr().err
    expected = np.load(tmp_path / "v.npy")
    service, live = start(Encoder("minilm"), "minilm")
    with live as url:
        answer = client(url).embeddings.create(model="minilm", input=texts)
    service.close()
    got = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert got.shape == (4, 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_openai_dimensions_truncate_and_normalise(tiny_encoder):
    service, live = start(tiny_encoder, "tiny")
    with live as url:
        expected = tiny_encoder.encode(TEXTS, truncate_dim=8, normalize=True)
        for dims in (8, 32):
            answer = client(url).embeddings.create(
                model="tiny", input=TEXTS, dimensions=dims, encoding_format="float"
            )
            got = np.array([d.embedding for d in answer.data], dtype=np.float32)
            assert got.shape == (len(TEXTS), dims)
            np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(
            got[:, :8] / np.linalg.norm(got[:, :8], axis=1)[:, None], expected, atol=1e-5
        )
        short = client(url).embeddings.create(model="tiny", input=TEXTS, dimensions=8)
        got = np.array([d.embedding for d in short.data], dtype=np.float32)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        for bad in (0, 33):
            with pytest.raises(openai.UnprocessableEntityError, match="dimensions"):
                client(url).embeddings.create(model="tiny", input=TEXTS, dimensions=bad)
    service.close()


def test_prompt_name_and_input_type(tiny_st, tmp_path):
    prompted = Encoder(tiny_st)
    prompted.prompts = {"query": "red model: ", "document": "blue paper: ", "short": "big "}
    encoder = Encoder(prompted.save(tmp_path / "prompted"))
    service, live = start(encoder, "tiny")
    with live as url:
        cases = {
            "query": ({"input_type": "query"}, encoder.encode_query(TEXTS)),
            "document": ({"input_type": "document"}, encoder.encode_document(TEXTS)),
            "short": ({"prompt_name": "short"}, encoder.encode(TEXTS, prompt_name="short")),
            "plain": ({}, encoder.encode(TEXTS)),
        }
        for extra, expected in cases.values():
            answer = client(url).embeddings.create(
                model="tiny", input=TEXTS, encoding_format="float", extra_body=extra
            )
            got = np.array([d.embedding for d in answer.data], dtype=np.float32)
            np.testing.assert_allclose(got, expected, atol=1e-5)
        assert np.abs(cases["query"][1] - cases["plain"][1]).max() > 1e-3
        with pytest.raises(openai.UnprocessableEntityError, match="prompt_name.*'nope'"):
            client(url).embeddings.create(
                model="tiny", input=TEXTS, extra_body={"prompt_name": "nope"}
            )
        with pytest.raises(openai.UnprocessableEntityError, match="input_type"):
            client(url).embeddings.create(model="tiny", input=TEXTS, extra_body={"input_type": "x"})
    service.close()
