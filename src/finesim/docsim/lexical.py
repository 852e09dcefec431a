"""BM25 over a corpus of documents (bm25s), for the lexical terms of hybrid scoring.

Why lexical at all: dense encoders blur rare technical terms (dataset names, method names)
that a reader matches exactly; BM25 keeps them. English stop words are dropped; no stemming
(bm25s needs an extra package for it), so scores depend on surface forms only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np


class Bm25:
    """BM25 scores of a query text against documents of a fixed corpus, by id."""

    def __init__(self, texts: Mapping[str, str], k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s
        from bm25s.tokenization import Tokenizer

        logging.getLogger("bm25s").setLevel(logging.ERROR)  # no "Building index" chatter

        if not texts:
            raise ValueError("BM25 needs at least one document")
        self.ids = list(texts)
        self.row = {doc_id: i for i, doc_id in enumerate(self.ids)}
        self._tokenizer = Tokenizer(stopwords="english")
        tokens = self._tokenizer.tokenize(
            [texts[i] for i in self.ids], return_as="string", show_progress=False
        )
        self._index = bm25s.BM25(k1=k1, b=b)
        self._index.index(tokens, show_progress=False)

    def scores(self, query: str, ids: Sequence[str]) -> np.ndarray:
        """Scores of the documents ``ids`` for ``query`` (0 where no query word occurs)."""
        unknown = [i for i in ids if i not in self.row]
        if unknown:
            raise KeyError(f"documents not in the BM25 corpus: {unknown[:3]}")
        words = self._tokenizer.tokenize(
            [query], return_as="string", show_progress=False, update_vocab=False
        )[0]
        words = [w for w in words if w]
        if not words:
            return np.zeros(len(ids))
        every = np.asarray(self._index.get_scores(words), dtype=np.float64)
        return every[[self.row[i] for i in ids]]

    def top(self, query: str, k: int) -> list[str]:
        """Ids of the ``k`` best documents for ``query`` with a positive score, best first."""
        every = self.scores(query, self.ids)
        k = min(k, len(every))
        best = np.argpartition(-every, k - 1)[:k] if k < len(every) else np.arange(len(every))
        best = best[np.argsort(-every[best], kind="stable")]
        return [self.ids[i] for i in best if every[i] > 0]
