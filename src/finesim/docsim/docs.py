"""Documents as sets of sentence vectors, each sentence optionally labelled with a facet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FACETS = ("background", "method", "result")


def facet_of(label: str) -> str:
    """Map a sentence label to a facet the way Aspire does: objective counts as background."""
    name = label.removesuffix("_label")
    return "background" if name == "objective" else name


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
        everything = np.arange(len(self.vectors))
        if facet is None or self.labels is None:
            return self, everything
        keep = np.array([facet_of(label) == facet for label in self.labels], dtype=bool)
        if not keep.any():
            return self, everything
        labels = [label for label, k in zip(self.labels, keep, strict=True) if k]
        return Doc(self.vectors[keep], labels, self.whole), everything[keep]
