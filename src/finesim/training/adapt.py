"""Unsupervised domain adaptation of an encoder on a user's own documents.

Why: a general encoder has never seen a field's vocabulary and style; contrastive training on
the field's own texts (no labels) moves it there. Objectives, mixed in one shuffled set:

- ``simcse``: each sentence against itself, dropout being the only noise (SimCSE unsup.);
- ``title-abstract``: a paper's title against its abstract (InfoNCE, in-batch negatives);
- ``same-abstract``: two different sentences of one abstract.

Training is ``finesim.train`` (InfoNCE, checkpoints, ``--resume``); ``adapt.json`` in the
output folder records the data and settings.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim._util.jsonio import write_json
from finesim.data.corpus import describe, load_corpus
from finesim.data.documents import Document
from finesim.data.pairs import Example
from finesim.training.config import TrainConfig

OBJECTIVES = ("simcse", "title-abstract", "same-abstract")


@dataclass
class AdaptSettings:
    """What ``finesim adapt`` takes besides model, data and output."""

    objectives: tuple[str, ...] = ("simcse", "title-abstract")
    steps: int = 200
    batch_size: int = 32
    lr: float = 2e-5
    temperature: float = 0.05
    max_length: int = 128
    seed: int = 42
    checkpoint_every: int = 50


def adapt_examples(
    docs: list[Document], objectives: tuple[str, ...], seed: int
) -> dict[str, list[Example]]:
    """Training pairs per objective, from the documents' texts alone."""
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown or not objectives:
        raise FinesimError(f"unknown objective {unknown[:1]}; use some of {', '.join(OBJECTIVES)}")
    rng = random.Random(seed)
    out: dict[str, list[Example]] = {}
    if "simcse" in objectives:
        sentences = dict.fromkeys(s for d in docs for s in d.sentences if s.strip())
        out["simcse"] = [Example({"anchor": s, "positive": s}, None, "simcse") for s in sentences]
    if "title-abstract" in objectives:
        out["title-abstract"] = [
            Example({"anchor": d.title, "positive": " ".join(d.sentences)}, None, d.id)
            for d in docs
            if d.title.strip() and d.sentences
        ]
    if "same-abstract" in objectives:
        out["same-abstract"] = []
        for d in docs:
            if len(d.sentences) >= 2:
                a, b = rng.sample(range(len(d.sentences)), 2)
                pair = {"anchor": d.sentences[a], "positive": d.sentences[b]}
                out["same-abstract"].append(Example(pair, None, d.id))
    if not any(out.values()):
        raise FinesimError("the documents give no training pairs for these objectives")
    return out


def adapt(
    model: str,
    data: str,
    out: Path,
    settings: AdaptSettings,
    *,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Adapt ``model`` on the documents ``data``; the model ends in ``out / 'last'``."""
    from finesim.training.trainer import train

    if settings.steps < 1 or settings.batch_size < 2:
        raise FinesimError("adapt needs steps >= 1 and batch_size >= 2 (in-batch negatives)")
    docs = load_corpus(data)
    by_objective = adapt_examples(docs, settings.objectives, settings.seed)
    examples = [e for pairs in by_objective.values() for e in pairs]
    config = TrainConfig(
        data=f"adapt:{data}",
        format="pairs",
        loss="infonce",
        loss_args={"temperature": settings.temperature},
        epochs=max(1, -(-settings.steps * settings.batch_size // len(examples))),
        max_steps=settings.steps,
        batch_size=min(settings.batch_size, len(examples)),
        lr=settings.lr,
        max_length=settings.max_length,
        seed=settings.seed,
        checkpoint_every=settings.checkpoint_every,
    )
    summary = train(
        config, model, out, resume=resume, examples=examples, show_progress=show_progress
    )
    counts = {o: len(pairs) for o, pairs in by_objective.items()}
    record = {
        "model": model,
        **describe(data, docs),
        "settings": {**asdict(settings), "objectives": list(settings.objectives)},
        "pairs": counts,
        "steps_done": summary["steps"],
    }
    write_json(out / "adapt.json", record)
    return {**summary, "record": record}
