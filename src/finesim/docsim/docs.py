"""Documents as sets of sentence vectors, each sentence optionally labelled with a facet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from finesim.data.documents import FACETS, facet_of

__all__ = ["FACETS", "Doc", "facet_of", "facet_positions", "facet_text"]


def facet_positions(labels: Sequence[str] | None, facet: str | None, n: int) -> np.ndarray:
    """Indices of the sentences of ``facet``; all ``n`` with no facet, no labels, or no
    sentence of that facet (a query always has something to match with)."""
    everything = np.arange(n)
    if facet is None or labels is None:
        return everything
    keep = np.array([facet_of(label) == facet for label in labels], dtype=bool)
    return everything[keep] if keep.any() else everything


def facet_text(sentences: Sequence[str], labels: Sequence[str] | None, facet: str | None) -> str:
    """The sentences of ``facet`` as one text (all of them if it has none)."""
    return " ".join(sentences[i] for i in facet_positions(labels, facet, len(sentences)))


@dataclass
class Doc:
    """``vectors`` (sentences x dim); ``labels`` a facet per sentence; ``whole`` one vector
    for the whole text (title + abstract), used by the ``abstract`` scorer."""

    vectors: np.ndarray
    labels: Sequence[str] | None = None
    whole: np.ndarray | None = None

    def restrict(self, facet: str | None) -> tuple[Doc, np.ndarray]:
        """The sentences of one facet and their indices in the full document.

        With no facet, no labels, or no sentence of that facet, the whole document is kept:
        a query always has something to match with.
        """
        index = facet_positions(self.labels, facet, len(self.vectors))
        if self.labels is None or len(index) == len(self.vectors):
            return self, index
        labels = [self.labels[i] for i in index]
        return Doc(self.vectors[index], labels, self.whole), index
