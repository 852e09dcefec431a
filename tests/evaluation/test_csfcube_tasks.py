"""CSFCube with a model that encodes queries and documents differently: the query paper is
encoded as a query, its candidates as documents; a symmetric model keeps one set of vectors."""

from __future__ import annotations

import numpy as np

from finesim import Encoder
from finesim.data.csfcube import Paper, Pool
from finesim.evaluation.csfcube import embed_papers, pool_docs, query_key

PAPERS = {
    "q": Paper("q", "a model", ["a man plays the guitar.", "we propose a model."], ["b", "m"]),
    "c1": Paper("c1", "red paper", ["the woman sings.", "a cat sleeps."], ["b", "r"]),
    "c2": Paper("c2", "blue paper", ["dogs run fast.", "we propose a method."], ["b", "m"]),
}
POOL = Pool("q", "method", ["c1", "c2"], [1, 0])


def test_query_paper_is_encoded_as_a_query(tiny_st, tmp_path):
    encoder = Encoder(tiny_st)
    encoder.prompts = {"query": "red model: ", "document": "blue paper: "}
    encoder = Encoder(encoder.save(tmp_path / "m"))
    docs = embed_papers(encoder, PAPERS, whole=True, cache=False, query_pids=["q"])
    query, candidates = pool_docs(docs, POOL)
    np.testing.assert_allclose(query.vectors, encoder.encode_query(PAPERS["q"].sentences), 1e-6)
    np.testing.assert_allclose(
        candidates[0].vectors, encoder.encode_document(PAPERS["c1"].sentences), 1e-6
    )
    assert np.abs(query.vectors - docs["q"].vectors).max() > 1e-3
    assert query.whole is not None


def test_symmetric_model_has_one_set(tiny_st):
    docs = embed_papers(Encoder(tiny_st), PAPERS, whole=False, cache=False, query_pids=["q"])
    assert query_key("q") not in docs and set(docs) == set(PAPERS)
