"""A live server on a free local port: the tiny random BERT and a small labelled index."""

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from finesim import Encoder, Index
from finesim.data.documents import Document
from finesim.facets.train import train_tagger
from finesim.serve.app import create_app
from finesim.serve.server import LiveServer
from finesim.serve.service import Limits, Service
from tests.conftest import WORDS

TOPICS = [
    ["the cat sleeps on the table.", "a dog runs in the kitchen."],
    ["we propose a contrastive model for sentence embedding.", "we train the model on data."],
    ["bank rates rise and the stock market falls.", "the market is very slow."],
    ["a man plays the guitar.", "the woman sings with music."],
]


def papers(n=24, seed=0):
    """Labelled abstracts (background, method..., result) made of the tiny vocabulary."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        filler = [" ".join(rng.choice(WORDS, 6)) + "." for _ in range(int(rng.integers(1, 3)))]
        sentences = [topic[0], *filler, topic[1]]
        labels = ["background", *["method"] * len(filler), "result"]
        docs.append(Document(f"p{i}", sentences, labels, f"Paper {i}: {topic[0][:-1]}"))
    return docs


@pytest.fixture(scope="session")
def tiny_encoder(tiny_st):
    return Encoder(tiny_st)


@pytest.fixture(scope="session")
def tiny_index(tiny_encoder):
    docs = papers()
    tagger, _ = train_tagger(tiny_encoder, docs)
    return Index.build(tiny_encoder, docs, kind="flat", tagger=tagger, cache=False)


def start(encoder, name, index=None, **options):
    """A ``Service`` and a ``LiveServer`` context for it (closed by the caller's ``with``)."""
    api_key = options.pop("api_key", None)
    service = Service(encoder, name, {"papers": index} if index else {}, Limits(**options), api_key)
    return service, LiveServer(create_app(service))


@pytest.fixture(scope="module")
def server(tiny_encoder, tiny_index, tiny_st):
    """(url, service) of a server with the tiny model (named 'tiny') and the 'papers' index."""
    service, live = start(tiny_encoder, "tiny", tiny_index)
    with live as url:
        yield url, service
    service.close()


def call(url, path, body=None, *, headers=None, raw=None, method=None):
    """(status, headers, parsed JSON or text) of one request; errors are answers too."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, head, text = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        status, head, text = e.code, e.headers, e.read().decode()
    try:
        return status, head, json.loads(text)
    except json.JSONDecodeError:
        return status, head, text


def assert_error(status, body, expected, *words):
    """A JSON error of OpenAI's shape, one line, no traceback, mentioning ``words``."""
    assert status == expected, body
    message = body["error"]["message"]
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message
