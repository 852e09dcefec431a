"""What an index keeps beside its sentence vectors: a facet code per sentence, and per
document its unit mean vector and its whole-text and title vectors.

Why: hybrid scoring compares whole texts (title + abstract) and titles, one vector each per
paper; an index either keeps them for every document or (built before them) for none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.documents import LABELS, Document
from finesim.search.hits import NO_LABEL

if TYPE_CHECKING:
    from finesim.search.index import Index


@dataclass(frozen=True)
class DocVectors:
    """One vector per document beside the sentence vectors (hybrid scoring)."""

    what: str  # in messages
    about: str  # the text, in messages
    keyword: str  # the argument of add_vectors that carries them
    text: Callable[[Document], str]  # what is encoded


WHOLE = DocVectors("whole-document", "title+abstract", "wholes", lambda d: d.text)
TITLE = DocVectors("title", "title", "titles", lambda d: d.title)


def doc_vectors(
    index: Index,
    documents: Sequence[Document],
    given: np.ndarray | None,
    kept: np.ndarray | None,
    kind: DocVectors,
) -> np.ndarray | None:
    """The ``kind`` vectors of new documents (None: the index will keep none): given,
    or encoded with the index's model, as the index already keeps them or not."""
    what = kind.what
    if given is not None:
        if kept is None and index.ids:
            raise FinesimError(
                f"the index keeps no {what} vectors; add documents without them "
                "(or rebuild the index)"
            )
        if given.shape != (len(documents), index.ann.dim):
            raise FinesimError(
                f"expected {len(documents)} {what} vectors of dimension "
                f"{index.ann.dim}, got an array of shape {given.shape}"
            )
        return given.astype(np.float32)
    if kept is None:
        return None
    if index.encoder is not None:
        texts = [kind.text(d) for d in documents]
        from finesim.models.cache import task_options

        options = task_options(index.encoder, "document")
        return index.encoder.encode(texts, **options).astype(np.float32)
    if index.ids:
        raise FinesimError(
            f"the index keeps a {what} vector per document: pass the {kind.about} "
            f"vectors ({kind.keyword}) or set the index's model (Index.use(encoder))"
        )
    return None


def appended(kept: np.ndarray | None, new: np.ndarray | None, dim: int) -> np.ndarray | None:
    if new is None:
        return None
    old = kept if kept is not None else np.zeros((0, dim), dtype=np.float32)
    return np.concatenate([old, new]).astype(np.float32)


def label_codes(documents: Sequence[Document]) -> np.ndarray:
    """One int8 code per sentence: its index in ``LABELS`` (``NO_LABEL``: unlabelled)."""
    codes = [
        code
        for d in documents
        for code in (
            [NO_LABEL] * len(d.sentences)
            if d.labels is None
            else [LABELS.index(x) for x in d.labels]
        )
    ]
    return np.array(codes, dtype=np.int8)


def label_names(codes: np.ndarray) -> list[str] | None:
    """The labels of one document's sentences (None: some sentence has none)."""
    if len(codes) == 0 or (codes == NO_LABEL).any():
        return None
    return [LABELS[int(c)] for c in codes]


def unit_means(vectors: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """One unit mean vector per document of ``sizes`` consecutive sentence vectors."""
    bounds = np.r_[0, np.cumsum(sizes)[:-1]]
    means = np.add.reduceat(vectors.astype(np.float32), bounds, axis=0) / sizes[:, None]
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return means.astype(np.float32)
