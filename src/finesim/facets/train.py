"""Train the facet tagger on labelled abstracts, holding out whole papers for the report."""

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


def train_tagger(
    encoder: Encoder,
    documents: Sequence[Document],
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    c: float = 4.0,
    batch_size: int = 32,
) -> tuple[FacetTagger, dict[str, Any]]:
    """Fit on the labelled documents outside a held-out set of papers; report on those.

    The returned tagger is the one that was evaluated (it never saw the held-out papers).
    """
    labelled = [d for d in documents if d.labels is not None]
    if len(labelled) < 2:
        raise FinesimError("training the facet tagger needs labelled documents ('labels')")
    held_out = split_by_group([d.id for d in labelled], test_fraction, seed)
    vectors = sentence_vectors(encoder, labelled, batch_size=batch_size)
    train = [i for i, d in enumerate(labelled) if d.id not in held_out]
    test = [i for i, d in enumerate(labelled) if d.id in held_out]
    meta = {"model": encoder.source, "fingerprint": encoder.fingerprint(), "dim": encoder.dim}
    tagger = FacetTagger.fit(
        [vectors[i] for i in train], [labelled[i].labels or [] for i in train], c=c, meta=meta
    )
    gold = [tag_class(label) for i in test for label in labelled[i].labels or []]
    predicted = [p for i in test for p in tagger.predict(vectors[i])]
    report = {
        "model": encoder.source,
        "fingerprint": meta["fingerprint"],
        "documents": len(labelled),
        "train_documents": len(train),
        "test_documents": len(test),
        "train_sentences": sum(len(vectors[i]) for i in train),
        "test_sentences": len(gold),
        "test_fraction": test_fraction,
        "seed": seed,
        "c": c,
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "per_class": per_class(gold, predicted),
    }
    tagger.head.meta["evaluation"] = {k: report[k] for k in ("accuracy", "macro_f1")}
    return tagger, report
