"""A live server on a free local port: the tiny random BERT and a small labelled index."""

import pytest

from finesim import Encoder, Index
from finesim.facets.train import train_tagger
from tests.helpers import papers, start


@pytest.fixture(scope="session")
def tiny_encoder(tiny_st):
    return Encoder(tiny_st)


@pytest.fixture(scope="session")
def tiny_index(tiny_encoder):
    docs = papers()
    tagger, _ = train_tagger(tiny_encoder, docs)
    return Index.build(tiny_encoder, docs, kind="flat", tagger=tagger, cache=False)


@pytest.fixture(scope="module")
def server(tiny_encoder, tiny_index, tiny_st):
    """(url, service) of a server with the tiny model (named 'tiny') and the 'papers' index."""
    service, live = start(tiny_encoder, "tiny", tiny_index)
    with live as url:
        yield url, service
    service.close()
