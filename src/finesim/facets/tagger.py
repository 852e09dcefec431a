"""Facet tagging: which sentences of an abstract are background, method, result or other.

A linear classifier on each sentence's features plus where the sentence sits in its abstract
(backgrounds come first, results last). Objective counts as background, as in Aspire. The
features are either the sentence's embedding (``fit``) or its words (``fit_text``, TF-IDF,
``finesim.facets.text``). An embedding tagger remembers the fingerprint of the encoder it was
trained with and refuses any other, since its weights mean nothing for another model's
vectors; a text tagger works with every encoder (the one shipped with finesim is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.documents import facet_of
from finesim.facets.text import TextFeatures
from finesim.models.heads import LinearHead

CLASSES = ("background", "method", "result", "other")
POSITION_FEATURES = 6


def tag_class(label: str) -> str:
    """The tagger's class of a sentence label (``objective_label`` -> ``background``)."""
    return facet_of(label.lower())


def position_features(n: int) -> np.ndarray:
    """Per sentence of an ``n``-sentence abstract: relative position and its square, first,
    last, and distances (capped at 5) from the start and the end."""
    i = np.arange(n, dtype=np.float32)
    rel = i / max(n - 1, 1)
    return np.stack(
        [rel, rel**2, i == 0, i == n - 1, np.minimum(i, 5) / 5, np.minimum(n - 1 - i, 5) / 5],
        axis=1,
    ).astype(np.float32)


def features(vectors: np.ndarray) -> np.ndarray:
    """Tagger input for the sentence vectors of one abstract (sentences in order)."""
    return np.concatenate([vectors.astype(np.float32), position_features(len(vectors))], axis=1)


class FacetTagger:
    """Predicts a facet per sentence of one abstract from its vectors or its text."""

    def __init__(self, head: LinearHead, text: TextFeatures | None = None) -> None:
        self.head = head
        self.text = text  # None: the features are sentence vectors

    @property
    def reads_text(self) -> bool:
        """True for a tagger on the sentences' words (any encoder), False on their vectors."""
        return self.text is not None

    @property
    def fingerprint(self) -> str:
        return str(self.head.meta.get("fingerprint", ""))

    @property
    def model(self) -> str:
        """The model the tagger was trained on (a name or folder)."""
        return str(self.head.meta.get("model", ""))

    @classmethod
    def fit(
        cls,
        vectors: Sequence[np.ndarray],
        labels: Sequence[Sequence[str]],
        *,
        c: float = 4.0,
        meta: dict[str, Any] | None = None,
    ) -> FacetTagger:
        """Fit on abstracts: ``vectors[i]`` are the sentence vectors of abstract ``i``."""
        x = np.concatenate([features(v) for v in vectors])
        y = [tag_class(label) for doc in labels for label in doc]
        return cls(LinearHead.fit(x, y, c=c, meta={"kind": "facet-tagger", **(meta or {})}))

    @classmethod
    def fit_text(
        cls,
        sentences: Sequence[Sequence[str]],
        labels: Sequence[Sequence[str]],
        *,
        c: float = 4.0,
        terms: int = 4000,
        meta: dict[str, Any] | None = None,
    ) -> FacetTagger:
        """Fit on abstracts' words: ``sentences[i]`` are the sentences of abstract ``i``."""
        from scipy import sparse

        flat = [s for doc in sentences for s in doc]
        y = [tag_class(label) for doc in labels for label in doc]
        text = TextFeatures.fit(flat, y, terms=terms)
        positions = np.concatenate([position_features(len(doc)) for doc in sentences])
        x = sparse.hstack([text.transform(flat), sparse.csr_matrix(positions)]).tocsr()
        info = {"kind": "facet-tagger", **(meta or {}), "features": "text", "terms": text.dim}
        head = LinearHead.fit(x, y, c=c, meta={**info, "text_features": text.to_json()})
        return cls(head, text)

    def predict(
        self, vectors: np.ndarray | None, sentences: Sequence[str] | None = None
    ) -> list[str]:
        """One facet per sentence of one abstract: from its sentence vectors, or (a text
        tagger) its sentences."""
        if self.text is not None:
            if sentences is None:
                raise FinesimError("this facet tagger reads the sentences' text; none was given")
            if not sentences:
                return []
            words = self.text.transform(sentences).toarray()
            return self.head.predict(np.concatenate([words, position_features(len(words))], 1))
        if vectors is None:
            raise FinesimError("this facet tagger reads sentence vectors; none were given")
        return self.head.predict(features(vectors)) if len(vectors) else []

    def check(self, fingerprint: str) -> None:
        """Refuse vectors of a model other than the one the tagger was trained with."""
        if self.fingerprint and fingerprint != self.fingerprint:
            raise FinesimError(
                f"the facet tagger was trained with model {self.model!r} "
                f"(fingerprint {self.fingerprint}); the vectors here come from another model "
                f"({fingerprint})"
            )

    def save(self, folder: Path, *, overwrite: bool = False) -> Path:
        return self.head.save(folder, overwrite=overwrite)

    @classmethod
    def load(cls, folder: Path) -> FacetTagger:
        head = LinearHead.load(folder)
        if head.meta.get("kind") != "facet-tagger":
            raise FinesimError(f"{folder}: not a facet tagger (made by `finesim facets train`)")
        if head.meta.get("features") != "text":
            return cls(head)
        try:
            text = TextFeatures.from_json(head.meta.get("text_features"))
        except FinesimError as e:
            raise FinesimError(f"{folder}: {e}") from None
        if head.weight.shape[1] != text.dim + POSITION_FEATURES:
            raise FinesimError(f"{folder}: weights do not match {text.dim} terms")
        return cls(head, text)


def fill_labels(
    tagger: FacetTagger, documents: Sequence[Any], vectors: Sequence[np.ndarray] | None
) -> int:
    """Give every document without labels the tagger's; returns how many were labelled.

    ``documents`` are ``finesim.data.documents.Document``; ``vectors[i]`` the sentence vectors
    of ``documents[i]`` (None for a text tagger, which reads the sentences).
    """
    if vectors is not None and len(vectors) != len(documents):
        raise ValueError(f"{len(vectors)} vector blocks for {len(documents)} documents")
    done = 0
    for i, doc in enumerate(documents):
        if doc.labels is None:
            doc.labels = tagger.predict(None if vectors is None else vectors[i], doc.sentences)
            done += 1
    return done
