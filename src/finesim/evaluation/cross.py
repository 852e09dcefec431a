"""Cross-encoders on STS and NLI: the trainer's dev evaluators and the benchmark's test figures.

STS as sentence-transformers' ``CrossEncoderCorrelationEvaluator`` measures it: Spearman and
Pearson (x100) between the gold scores and the model's score of each pair (its own activation,
a sigmoid for a one-logit model; Spearman does not depend on it). NLI: accuracy of the arg-max
label against SNLI's (entailment 0, neutral 1, contradiction 2, ``data.pairs.NLI_LABELS``).
Both carry 95% bootstrap intervals (``evaluation.stats``) and keep what a paired comparison
needs (``predicted``, ``correct``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from finesim.data.pairs import nli_labelled
from finesim.data.sts import load_task
from finesim.evaluation import stats
from finesim.evaluation.correlation import pearson, spearman
from finesim.models.cross_encoder import CrossEncoder


def sts_figures(
    model: CrossEncoder,
    task: str = "stsb",
    split: str = "dev",
    batch_size: int = 64,
    intervals: bool = True,
) -> dict[str, Any]:
    """Spearman and Pearson x100 of the model's pair scores on an STS task's split, with
    intervals (unless ``intervals`` is False: a training run's evaluations need none);
    ``gold`` and ``predicted`` per pair for paired comparisons."""
    pairs = load_task(task, split)
    predicted = np.asarray(
        model.predict(
            list(zip(pairs.sentences1, pairs.sentences2, strict=True)),
            batch_size=batch_size,
            show_progress=False,
        ),
        dtype=np.float64,
    )
    if predicted.ndim != 1:
        raise ValueError("an STS evaluation needs a one-score cross-encoder")
    out: dict[str, Any] = {
        "spearman": 100 * spearman(pairs.scores, predicted),
        "pearson": 100 * pearson(pairs.scores, predicted),
        "n": len(pairs),
        "task": f"{task} {split}",
    }
    resampled = stats.correlation_bootstrap(pairs.scores, predicted) if intervals else None
    if resampled is not None:
        spearman_ci, pearson_ci = stats.percentile_interval(resampled)
        out["ci95"] = {"spearman": spearman_ci, "pearson": pearson_ci}
    out["gold"] = pairs.scores.tolist()
    out["predicted"] = predicted.tolist()
    return out


def nli_figures(
    model: CrossEncoder, split: str = "dev", limit: int | None = None, batch_size: int = 64
) -> dict[str, Any]:
    """Accuracy (x100) on SNLI ``split`` with its interval over the pairs; ``limit``: a seeded
    random subset of that many pairs (the same every run). ``correct`` per pair (0/1)."""
    examples = nli_labelled(split)
    if limit is not None and limit < len(examples):
        rows = np.sort(np.random.default_rng(0).permutation(len(examples))[:limit])
        examples = [examples[i] for i in rows]
    logits = np.asarray(
        model.predict(
            [(e.texts["anchor"], e.texts["positive"]) for e in examples],
            batch_size=batch_size,
            activation="identity",
            show_progress=False,
        )
    )
    if logits.ndim != 2:
        raise ValueError("an NLI evaluation needs a cross-encoder with a label per class")
    gold = np.array([int(e.label or 0) for e in examples])
    correct = (logits.argmax(axis=1) == gold).astype(np.float64)
    interval = stats.mean_interval([correct])
    return {
        "accuracy": 100 * float(correct.mean()),
        "ci95": None if interval is None else [100 * v for v in interval],
        "n": len(examples),
        "task": f"snli {split}",
        "correct": correct.tolist(),
    }


class CrossSTSEvaluator:
    """The trainer's evaluator: ``CrossSTSEvaluator("stsb", "dev")(model)`` -> Spearman."""

    def __init__(self, task: str = "stsb", split: str = "dev") -> None:
        self.task, self.split = task, split

    def __call__(self, model: CrossEncoder) -> dict[str, Any]:
        figures = sts_figures(model, self.task, self.split, intervals=False)
        return {"primary": "spearman", "score": figures["spearman"], "pearson": figures["pearson"]}


class CrossNLIEvaluator:
    """The trainer's evaluator: ``CrossNLIEvaluator("dev")(model)`` -> SNLI accuracy."""

    def __init__(self, split: str = "dev") -> None:
        self.split = split

    def __call__(self, model: CrossEncoder) -> dict[str, Any]:
        figures = nli_figures(model, self.split)
        return {"primary": "accuracy", "score": figures["accuracy"]}
