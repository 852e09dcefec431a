"""A user's corpus for unsupervised steps (adapt, whiten, geometry): documents, no labels.

``csfcube`` names CSFCube's abstracts in the shared data folder; anything else is a jsonl of
documents as ``finesim.data.documents`` reads them. Only texts are read, never judgments.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from finesim._util.errors import FinesimError
from finesim.data.documents import Document, read_documents


def load_corpus(spec: str) -> list[Document]:
    """The documents of ``spec`` (``csfcube`` or a .jsonl/.jsonl.gz file)."""
    if spec == "csfcube":
        from finesim.data.csfcube import load_papers

        return [paper.document() for paper in load_papers().values()]
    docs = list(read_documents(Path(spec)))
    if not docs:
        raise FinesimError(f"{spec}: no documents")
    return docs


def corpus_texts(docs: list[Document]) -> list[str]:
    """Every sentence and every whole text (title + abstract): what a model will encode."""
    sentences = [s for d in docs for s in d.sentences]
    return sentences + [d.text for d in docs]


def describe(spec: str, docs: list[Document]) -> dict[str, object]:
    """A record of the data used: where, how many documents, and a hash of the texts."""
    digest = hashlib.sha256()
    for d in docs:
        digest.update(d.id.encode())
        digest.update(d.title.encode())
        for s in d.sentences:
            digest.update(s.encode())
    return {
        "data": spec,
        "documents": len(docs),
        "sentences": sum(len(d.sentences) for d in docs),
        "texts_sha256": digest.hexdigest(),
    }
