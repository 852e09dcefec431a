"""Train the facet tagger on labelled abstracts, holding out whole papers for the report.

``features="text"`` (words, any encoder) or ``"embedding"`` (the encoder's sentence vectors).
The tagger shipped with finesim is ``train_tagger(None, csfcube_abstracts, features="text")``
(``finesim.facets.shipped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finesim._util.errors import FinesimError
from finesim.data.documents import Document
from finesim.facets.tagger import CLASSES, FacetTagger, tag_class
from finesim.models.cache import sentence_vectors
from finesim.models.encoder import Encoder
from finesim.models.heads import accuracy, macro_f1, split_by_group


def per_class(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    for c in CLASSES:
        tp = sum(g == c and p == c for g, p in zip(gold, predicted, strict=True))
        n_pred, n_gold = sum(p == c for p in predicted), sum(g == c for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        out[c] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
    return out


FEATURES = ("embedding", "text")


def train_tagger(
    encoder: Encoder | None,
    documents: Sequence[Document],
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    c: float = 4.0,
    batch_size: int = 32,
    features: str = "embedding",
    terms: int = 4000,
) -> tuple[FacetTagger, dict[str, Any]]:
    """Fit on the labelled documents outside a held-out set of papers; report on those.

    The returned tagger is the one that was evaluated (it never saw the held-out papers).
    ``encoder`` is needed for ``features="embedding"`` only; ``terms`` is the vocabulary size
    of ``features="text"``.
    """
    if features not in FEATURES:
        raise FinesimError(f"unknown tagger features {features!r}; use embedding or text")
    labelled = [d for d in documents if d.labels is not None]
    if len(labelled) < 2:
        raise FinesimError("training the facet tagger needs labelled documents ('labels')")
    held_out = split_by_group([d.id for d in labelled], test_fraction, seed)
    train = [i for i, d in enumerate(labelled) if d.id not in held_out]
    test = [i for i, d in enumerate(labelled) if d.id in held_out]
    train_labels = [labelled[i].labels or [] for i in train]
    vectors: list[Any] = [None] * len(labelled)
    if features == "text":
        meta: dict[str, Any] = {"model": "", "fingerprint": ""}
        sentences = [labelled[i].sentences for i in train]
        tagger = FacetTagger.fit_text(sentences, train_labels, c=c, terms=terms, meta=meta)
    else:
        if encoder is None:
            raise FinesimError("an embedding facet tagger needs an encoder (--model)")
        vectors = sentence_vectors(encoder, labelled, batch_size=batch_size)
        meta = {"model": encoder.source, "fingerprint": encoder.fingerprint(), "dim": encoder.dim}
        tagger = FacetTagger.fit([vectors[i] for i in train], train_labels, c=c, meta=meta)
    gold = [tag_class(label) for i in test for label in labelled[i].labels or []]
    predicted = [p for i in test for p in tagger.predict(vectors[i], labelled[i].sentences)]
    report = {
        "features": features,
        "model": meta["model"],
        "fingerprint": meta["fingerprint"],
        "documents": len(labelled),
        "train_documents": len(train),
        "test_documents": len(test),
        "train_sentences": sum(len(labelled[i].sentences) for i in train),
        "test_sentences": len(gold),
        "test_fraction": test_fraction,
        "seed": seed,
        "c": c,
        **({"terms": tagger.text.dim} if tagger.text is not None else {}),
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "per_class": per_class(gold, predicted),
    }
    kept = ("accuracy", "macro_f1", "test_documents", "test_sentences", "test_fraction", "seed")
    tagger.head.meta["evaluation"] = {k: report[k] for k in kept}
    return tagger, report
