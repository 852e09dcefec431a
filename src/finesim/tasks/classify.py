"""Text classification on sentence embeddings: logistic regression over a frozen encoder.

SimCSE and Sentence-BERT evaluate embeddings this way (SentEval's transfer tasks): the
encoder stays fixed and only a linear classifier is trained on its vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.models.cache import encode_cached
from finesim.models.encoder import Encoder
from finesim.models.heads import LinearHead, accuracy, macro_f1, split_by_group

KIND = "text-classifier"


def train_classifier(
    encoder: Encoder,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    c: float = 4.0,
    batch_size: int = 32,
) -> tuple[LinearHead, dict[str, Any]]:
    """Fit on a random share of the rows; report accuracy and macro-F1 on the rest.

    The returned classifier is the evaluated one (it never saw the held-out rows).
    """
    if len(texts) != len(labels):
        raise FinesimError(f"{len(texts)} texts but {len(labels)} labels")
    rows = [str(i) for i in range(len(texts))]
    held_out = split_by_group(rows, test_fraction, seed)
    test = np.array([r in held_out for r in rows])
    vectors = encode_cached(encoder, list(texts), batch_size=batch_size)
    y = np.array(labels, dtype=object)
    meta = {"kind": KIND, "model": encoder.source, "fingerprint": encoder.fingerprint()}
    head = LinearHead.fit(vectors[~test], list(y[~test]), c=c, meta=meta)
    gold, predicted = list(y[test]), head.predict(vectors[test])
    report = {
        "model": encoder.source,
        "train_rows": int((~test).sum()),
        "test_rows": int(test.sum()),
        "classes": head.classes,
        "test_fraction": test_fraction,
        "seed": seed,
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "majority_baseline": max(gold.count(c) for c in set(gold)) / len(gold),
    }
    head.meta["evaluation"] = {k: report[k] for k in ("accuracy", "macro_f1")}
    return head, report


def check_classifier(head: LinearHead, encoder: Encoder) -> None:
    """A classifier only understands the vectors of the model it was trained on."""
    if head.meta.get("kind") != KIND:
        raise FinesimError("not a text classifier (made by `finesim classify train`)")
    if head.meta.get("fingerprint") != encoder.fingerprint():
        raise FinesimError(
            f"the classifier was trained with model {head.meta.get('model')!r}; "
            f"model {encoder.source!r} gives other vectors"
        )


def predict(
    head: LinearHead, encoder: Encoder, texts: Sequence[str], *, batch_size: int = 32
) -> tuple[list[str], np.ndarray]:
    """A label and its probability for each text."""
    check_classifier(head, encoder)
    if not texts:
        return [], np.zeros(0, dtype=np.float32)
    probabilities = head.scores(encoder.encode(list(texts), batch_size=batch_size))
    best = probabilities.argmax(axis=1)
    return [head.classes[i] for i in best], probabilities[np.arange(len(best)), best]
