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


def held_out(rows: int, test_fraction: float, seed: int) -> np.ndarray:
    """Which rows ``train_classifier`` holds out (a boolean mask): whoever trains the encoder
    on the same file must leave these rows out too."""
    names = [str(i) for i in range(rows)]
    chosen = split_by_group(names, test_fraction, seed)
    return np.array([r in chosen for r in names])


def fit_and_score(
    encoder: Encoder,
    train: tuple[Sequence[str], Sequence[str]],
    test: tuple[Sequence[str], Sequence[str]],
    *,
    c: float = 4.0,
    batch_size: int = 32,
) -> tuple[LinearHead, dict[str, Any], list[str]]:
    """Fit the head on ``train`` (texts, labels), score it on ``test``: the head, the report
    and the test predictions (for paired comparisons of two encoders)."""
    vectors = encode_cached(encoder, [*train[0], *test[0]], batch_size=batch_size)
    meta = {"kind": KIND, "model": encoder.source, "fingerprint": encoder.fingerprint()}
    head = LinearHead.fit(vectors[: len(train[0])], list(train[1]), c=c, meta=meta)
    gold, predicted = list(test[1]), head.predict(vectors[len(train[0]) :])
    report = {
        "model": encoder.source,
        "train_rows": len(train[0]),
        "test_rows": len(gold),
        "classes": head.classes,
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "majority_baseline": max(gold.count(c) for c in set(gold)) / len(gold),
    }
    head.meta["evaluation"] = {k: report[k] for k in ("accuracy", "macro_f1")}
    return head, report, predicted


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
    test = held_out(len(texts), test_fraction, seed)
    x, y = np.array(texts, dtype=object), np.array(labels, dtype=object)
    head, report, _ = fit_and_score(
        encoder,
        (list(x[~test]), list(y[~test])),
        (list(x[test]), list(y[test])),
        c=c,
        batch_size=batch_size,
    )
    return head, {**report, "test_fraction": test_fraction, "seed": seed}


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
