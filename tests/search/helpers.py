"""A synthetic corpus: documents of random unit sentence vectors with facet labels."""

import numpy as np

from finesim.data.documents import Document
from finesim.docsim import Doc
from finesim.search import Index

LABELS = ["background", "objective", "method", "result", "other"]


def corpus(n_docs=60, dim=16, seed=0, prefix="d"):
    rng = np.random.default_rng(seed)
    docs, blocks = [], []
    for i in range(n_docs):
        n = int(rng.integers(1, 7))
        v = rng.standard_normal((n, dim)).astype(np.float32)
        blocks.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        labels = list(rng.choice(LABELS, n)) if i % 7 else None
        docs.append(
            Document(
                f"{prefix}{i}",
                [f"{prefix}{i} sentence {j}" for j in range(n)],
                labels,
                f"title {i}",
            )
        )
    return docs, blocks


def wholes_of(docs, dim=16, seed=1):
    """One random unit title+abstract vector per document (hybrid scoring's ``abstract``)."""
    rows = np.random.default_rng(seed).standard_normal((len(docs), dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def index_of(docs, blocks, wholes=None, **kwargs):
    options = {"precision": "float32", "kind": "flat", **kwargs}
    index = Index.new(
        blocks[0].shape[1],
        model="synthetic",
        fingerprint="fp",
        expected=sum(map(len, blocks)),
        **options,
    )
    index.add_vectors(docs, np.concatenate(blocks), wholes)
    return index


def as_docs(docs, blocks):
    return {d.id: Doc(b, d.labels) for d, b in zip(docs, blocks, strict=True)}
