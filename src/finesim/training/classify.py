"""Train the encoder on class labels, then fit ``finesim classify``'s head on its vectors.

SimCSE's and SentEval's transfer tasks keep the encoder frozen; when the labelled texts are
many, training the encoder itself first (center loss: texts of one class close together)
can move the classes apart. The head is then fitted on the trained vectors as usual, and
the rows it is scored on are never seen by either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.classes import LabelledTexts
from finesim.models.encoder import Encoder
from finesim.models.heads import LinearHead
from finesim.tasks.classify import fit_and_score, held_out
from finesim.training.config import load_config
from finesim.training.trainer import train

RECIPE = "classify-center"


def train_encoder(
    model: str,
    data: LabelledTexts,
    out: Path,
    *,
    recipe: str = RECIPE,
    overrides: Sequence[str] = (),
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` with ``recipe`` (default: center loss) into ``out``; the
    model is ``out/last`` with the label vocabulary beside it (``classes.json``)."""
    if len(data.classes) < 2:
        raise FinesimError("training the encoder needs at least two different labels")
    config = load_config(recipe, ["checkpoint_every=0", *overrides])  # no --resume here
    return train(
        config,
        model,
        out,
        examples=data.examples(),
        classes=data.classes,
        show_progress=show_progress,
    )


def train_encoder_and_classifier(
    model: str,
    data: LabelledTexts,
    encoder_out: Path,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    c: float = 4.0,
    batch_size: int = 32,
    overrides: Sequence[str] = (),
    show_progress: bool | None = None,
) -> tuple[LinearHead, dict[str, Any]]:
    """``finesim classify train --train-encoder``: the rows ``train_classifier`` would hold
    out are set aside first; the encoder is trained on the others, then the head is fitted
    on the trained vectors of those and scored on the held-out rows."""
    test = held_out(len(data.texts), test_fraction, seed)
    texts, labels = np.array(data.texts, dtype=object), np.array(data.labels, dtype=object)
    training = LabelledTexts(list(texts[~test]), list(labels[~test]))
    summary = train_encoder(
        model, training, encoder_out, overrides=overrides, show_progress=show_progress
    )
    encoder = Encoder((encoder_out / "last").resolve())
    head, report, _ = fit_and_score(
        encoder,
        (training.texts, training.labels),
        (list(texts[test]), list(labels[test])),
        c=c,
        batch_size=batch_size,
    )
    report.update(
        test_fraction=test_fraction,
        seed=seed,
        base_model=model,
        encoder_training={"recipe": RECIPE, "steps": summary["steps"], "out": str(encoder_out)},
    )
    head.meta["base_model"] = model
    return head, report
