"""Sentence features that need no encoder: TF-IDF of words and word pairs.

Why: a facet tagger on these works with every model (minilm, mpnet, a folder of one's own),
so a fresh install can tag, and on CSFCube's held-out papers it beats the tagger on minilm's
sentence vectors (``benchmarks/search/facet-tagger-csfcube-text.json``). Which words say
"method" or "result" ("we propose", "outperforms") barely depends on the paper's topic.

Terms are what scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2))`` reads (lowercased words
of two or more letters or digits, and each pair of neighbouring words); a sentence's row is
``(1 + log tf) * idf``, scaled to unit length. The vocabulary is the ``terms`` with the
largest chi-squared statistic against the labels, among those in at least ``min_df``
training sentences. Everything is saved as JSON (terms and idf): loading runs no code.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from finesim._util.errors import FinesimError

TOKEN = re.compile(r"(?u)\b\w\w+\b")


def terms_of(sentence: str) -> list[str]:
    """The words of ``sentence`` (lowercased) followed by its pairs of neighbouring words."""
    words = TOKEN.findall(sentence.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _idf(document_frequency: np.ndarray, n: int) -> np.ndarray:
    """Smoothed idf, as scikit-learn's: ``ln((1 + n) / (1 + df)) + 1``."""
    return (np.log((1 + n) / (1 + document_frequency)) + 1).astype(np.float32)


@dataclass
class TextFeatures:
    """TF-IDF rows over a fixed vocabulary."""

    vocabulary: list[str]
    idf: np.ndarray
    _column: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.idf = np.asarray(self.idf, dtype=np.float32)
        if len(self.idf) != len(self.vocabulary):
            raise FinesimError(
                f"text features: {len(self.vocabulary)} terms but {len(self.idf)} idf values"
            )
        self._column = {t: i for i, t in enumerate(self.vocabulary)}

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def transform(self, sentences: Sequence[str]) -> sparse.csr_matrix:
        """One unit-length row per sentence (all zero for a sentence with no known term)."""
        rows, cols, values = [], [], []
        for i, sentence in enumerate(sentences):
            counts = Counter(self._column[t] for t in terms_of(sentence) if t in self._column)
            if not counts:
                continue
            col = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            weights = (1 + np.log(tf)) * self.idf[col]
            weights /= np.linalg.norm(weights)
            rows.extend([i] * len(col))
            cols.extend(col.tolist())
            values.extend(weights.tolist())
        shape = (len(sentences), self.dim)
        return sparse.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float32)

    @classmethod
    def fit(
        cls,
        sentences: Sequence[str],
        labels: Sequence[str],
        *,
        terms: int = 4000,
        min_df: int = 3,
    ) -> TextFeatures:
        """Choose ``terms`` terms by chi-squared against ``labels`` (one per sentence)."""
        from sklearn.feature_selection import chi2

        if len(sentences) != len(labels):
            raise ValueError("one label per sentence")
        frequency: Counter[str] = Counter()
        for sentence in sentences:
            frequency.update(set(terms_of(sentence)))
        candidates = sorted(t for t, df in frequency.items() if df >= min_df)
        if not candidates:
            raise FinesimError(f"no term occurs in {min_df} or more training sentences")
        df = np.array([frequency[t] for t in candidates], dtype=np.float64)
        everything = cls(candidates, _idf(df, len(sentences)))
        score, _ = chi2(everything.transform(sentences), list(labels))
        order = np.argsort(-np.nan_to_num(score), kind="stable")[:terms]
        chosen = sorted(order.tolist())
        return cls([candidates[i] for i in chosen], everything.idf[chosen])

    def to_json(self) -> dict[str, Any]:
        return {"terms": self.vocabulary, "idf": [float(v) for v in self.idf]}

    @classmethod
    def from_json(cls, data: Any) -> TextFeatures:
        try:
            return cls([str(t) for t in data["terms"]], np.array(data["idf"], dtype=np.float32))
        except (KeyError, TypeError, ValueError) as e:
            raise FinesimError(f"text features: unreadable terms or idf ({e})") from None
