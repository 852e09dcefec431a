import numpy as np

from finesim.docsim.lexical import Bm25


def test_bm25_ranks_by_shared_rare_words():
    index = Bm25(
        {
            "a": "contrastive learning of sentence embeddings",
            "b": "the stock market falls",
            "c": "sentence embeddings for the stock market",
        }
    )
    scores = index.scores("contrastive sentence embeddings", ["b", "c", "a"])
    assert scores[2] > scores[1] > scores[0] == 0.0
    assert np.all(index.scores("the of", ["a", "b"]) == 0)  # stop words only
    assert np.all(index.scores("zebra", ["a"]) == 0)  # unknown word
