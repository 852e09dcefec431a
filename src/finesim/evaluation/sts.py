"""STS evaluation as SimCSE and sentence-transformers measure it.

Spearman and Pearson (x100) between gold scores and the cosine similarity of the two
sentences' vectors; dot, negative euclidean and negative manhattan as sentence-transformers'
``EmbeddingSimilarityEvaluator`` reports them. STS12-16 use SimCSE's "all" setting: every
subset of a year concatenated into one correlation; per-subset, mean and weighted-mean figures
come along (SentEval's ``mean``/``wmean``). Each task's Spearman and Pearson carry a 95%
interval (``ci95``: sentence pairs resampled, ``finesim.evaluation.stats``), the average one
built from the same resamples; ``per_pair`` keeps every pair's gold score and cosine, so two
results can be compared pair by pair (``finesim report compare``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.sts import TASKS, ScoredPairs, load_task
from finesim.evaluation import stats
from finesim.evaluation.correlation import pearson, spearman
from finesim.models.cache import EmbeddingCache, encode_cached
from finesim.models.encoder import Encoder


def pair_similarities(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Row-wise similarities of two aligned matrices, higher = more similar."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return {
        "cosine": (a * b).sum(1) / np.maximum(norms, 1e-12),
        "dot": (a * b).sum(1),
        "euclidean": -np.linalg.norm(a - b, axis=1),
        "manhattan": -np.abs(a - b).sum(1),
    }


def correlations(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"spearman": 100 * spearman(gold, predicted), "pearson": 100 * pearson(gold, predicted)}


def score_pairs(pairs: ScoredPairs, v1: np.ndarray, v2: np.ndarray) -> dict[str, Any]:
    """Figures of one task from the vectors of its first and second sentences."""
    sims = pair_similarities(v1, v2)
    result: dict[str, Any] = {**correlations(pairs.scores, sims["cosine"]), "n": len(pairs)}
    result["by_similarity"] = {k: correlations(pairs.scores, s) for k, s in sims.items()}
    if pairs.subsets:
        names = list(dict.fromkeys(pairs.subsets))
        labels = np.array(pairs.subsets)
        subsets = {}
        for name in names:
            mask = labels == name
            subsets[name] = {
                **correlations(pairs.scores[mask], sims["cosine"][mask]),
                "n": int(mask.sum()),
            }
        result["subsets"] = subsets
        sizes = np.array([s["n"] for s in subsets.values()], dtype=np.float64)
        for metric in ("spearman", "pearson"):
            values = np.array([s[metric] for s in subsets.values()])
            result.setdefault("mean", {})[metric] = float(values.mean())
            result.setdefault("wmean", {})[metric] = float((values * sizes).sum() / sizes.sum())
    return result


def parse_tasks(tasks: str | Sequence[str]) -> list[str]:
    """``all`` or a comma-separated list of task names, checked."""
    names = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    names = [n.strip().lower() for n in names if n.strip()]
    if names == ["all"]:
        return list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise FinesimError(f"unknown STS task(s) {unknown}; choose from {', '.join(TASKS)} or all")
    return names


def evaluate_sts(
    encoder: Encoder,
    tasks: str | Sequence[str] = "all",
    split: str = "test",
    variant: str = "raw",
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """``{"model", "tasks": {task: {...}}, "avg": {"spearman", "pearson"}}`` (x100).

    ``keep_predictions`` adds ``predictions: {task: {"gold", "cosine"}}`` for plots."""
    if variant not in ("raw", "senteval"):
        raise FinesimError(f"unknown variant {variant!r}; use raw or senteval")
    results: dict[str, Any] = {}
    predictions: dict[str, Any] = {}
    per_pair: dict[str, Any] = {}
    resampled = []
    for number, task in enumerate(parse_tasks(tasks)):
        pairs = load_task(task, split, variant)
        n = len(pairs)
        vectors = encode_cached(
            encoder, pairs.sentences1 + pairs.sentences2, batch_size=batch_size, cache=cache
        )
        results[task] = score_pairs(pairs, vectors[:n], vectors[n:])
        cosine = pair_similarities(vectors[:n], vectors[n:])["cosine"]
        distribution = stats.correlation_bootstrap(pairs.scores, cosine, stream=number)
        if distribution is not None:
            resampled.append(distribution)
            spearman_ci, pearson_ci = stats.percentile_interval(distribution)
            results[task]["ci95"] = {"spearman": spearman_ci, "pearson": pearson_ci}
        per_pair[task] = {
            "gold": pairs.scores.tolist(),
            "cosine": [round(float(c), 6) for c in cosine],
        }
        if keep_predictions:
            predictions[task] = {"gold": pairs.scores.tolist(), "cosine": cosine.tolist()}
    avg = {m: float(np.mean([r[m] for r in results.values()])) for m in ("spearman", "pearson")}
    out = {
        "model": encoder.source,
        "split": split,
        "variant": variant,
        "tasks": results,
        "avg": avg,
        "primary": "spearman",
        "score": avg["spearman"],
    }
    if len(resampled) == len(results):
        # each task resampled on its own; the average of the resampled correlations
        spearman_ci, pearson_ci = stats.percentile_interval(np.mean(resampled, axis=0))
        out["ci95"] = {"avg": {"spearman": spearman_ci, "pearson": pearson_ci}}
        out["ci95_method"] = stats.INTERVAL_METHOD
    out["per_pair"] = per_pair
    if keep_predictions:
        out["predictions"] = predictions
    return out


class STSEvaluator:
    """Callable evaluator for training loops: ``STSEvaluator("stsb", split="dev")(encoder)``.

    No disk cache by default: a model in training changes between calls.
    """

    def __init__(
        self,
        tasks: str | Sequence[str] = "stsb",
        split: str = "dev",
        variant: str = "raw",
        batch_size: int = 64,
        cache: bool = False,
    ) -> None:
        self.tasks = parse_tasks(tasks)
        self.split, self.variant, self.batch_size, self.cache = split, variant, batch_size, cache

    def __call__(self, encoder: Encoder) -> dict[str, Any]:
        return evaluate_sts(
            encoder, self.tasks, self.split, self.variant, self.batch_size, cache=self.cache
        )
