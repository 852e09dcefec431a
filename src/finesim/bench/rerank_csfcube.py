"""``finesim bench rerank --part csfcube``: one reranker per fold of CSFCube's two-fold
protocol, each trained only on its fold's dev query-facets' judged pairs.

A training pair is what the ``rerank`` term scores at search time (``fusion.terms``): the
query paper's facet sentences as one text, and a judged candidate's title + abstract; its
label is the adjudicated grade 0-3 (``cross-sts``: one logit, binary cross-entropy against
grade / 3). Fold N's reranker then scores fold N's pools (``evaluation.csfcube_rerank``): its
test queries, never seen, are the figures; its dev queries, which it was trained on, are what
``--cv`` chooses and ``--learn`` fits the fusion weights on (in-sample for the reranker, so
the fusion may weigh it more than it deserves). No test judgment is read before the figures.

Three evaluations, each beside its plain counterpart on the same queries (paired):
``rerank`` alone per facet against the abstract cosine; ``--cv`` with the term in the grid
against ``--cv`` without it; ``--cv --learn`` with the term against without it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim.bench.machine import machine_summary

GRADES = 3.0  # CSFCube's top grade: the bce target is grade / 3
FOLD_NAMES = ("fold1", "fold2")


def fold_examples(fold: str) -> list[Any]:
    """The judged pairs of ``fold``'s dev query-facets: (the query's facet text, the
    candidate's title + abstract), labelled with the adjudicated grade."""
    from finesim.data.csfcube import FACETS, load_papers, load_pools, load_splits
    from finesim.data.example import Example
    from finesim.docsim.docs import facet_text

    papers = load_papers()
    keys = set(load_splits()["all"][f"{fold}_dev"])
    examples = []
    for facet in FACETS:
        for pool in load_pools(facet):
            if pool.key not in keys:
                continue
            paper = papers[pool.qpid]
            query = facet_text(paper.sentences, paper.labels or None, facet)
            for cand, grade in zip(pool.candidates, pool.grades, strict=True):
                examples.append(Example({"anchor": query, "positive": papers[cand].text}, grade))
    return examples


class Remembered:
    """A reranker that scores each distinct pair once: the three evaluations read the same
    pools, and a cross-encoder pass over them is minutes on two cores."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.source = getattr(model, "source", type(model).__name__)
        self.scores: dict[tuple[str, str], Any] = {}

    @property
    def num_labels(self) -> int:
        return int(self.model.num_labels)

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        pairs = [tuple(p) for p in pairs]  # type: ignore[misc]
        missing = [p for p in dict.fromkeys(pairs) if p not in self.scores]
        if missing:
            self.scores.update(zip(missing, np.asarray(self.model.predict(missing)), strict=True))
        return np.asarray([self.scores[p] for p in pairs])


def _settings(epochs: int, max_steps: int, batch_size: int) -> list[str]:
    return [
        f"epochs={epochs}",
        f"max_steps={max_steps}",
        f"batch_size={batch_size}",
        f"loss_args={{max_score: {GRADES}}}",
        "evaluator=''",
        "checkpoint_every=0",
        "log_every=1000000",
    ]


def _grades(examples: Sequence[Any]) -> dict[str, int]:
    counts = Counter(int(e.label) for e in examples)
    return {str(g): counts[g] for g in sorted(counts)}


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    from finesim.evaluation.csfcube import GROUPS

    return {g: result[g] for g in GROUPS} | {"ci95": result.get("ci95")}


def _versus(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """``ours`` minus ``theirs``, paired over the same test queries."""
    from finesim.evaluation.csfcube import paired

    return paired(ours["per_query"], theirs["per_query"], ["fold1_test", "fold2_test"])


def _evaluations(encoder: Any, rerankers: dict[str, Any], batch_size: int) -> dict[str, Any]:
    from finesim.evaluation.csfcube_hybrid import evaluate_cv, evaluate_hybrid, evaluate_learned
    from finesim.fusion.grid import standard_grid
    from finesim.fusion.preset import Preset

    settings: list[int | None | str] = ["off", None, encoder.dim // 3]
    alone = evaluate_hybrid(
        encoder, Preset({"rerank": 1.0}, name="rerank"), "test", "off", batch_size,
        rerankers=rerankers,
    )  # fmt: skip
    cv = {
        "with": evaluate_cv(encoder, standard_grid(rerank=True), settings, batch_size=batch_size,
                            rerankers=rerankers),
        "without": evaluate_cv(encoder, standard_grid(rerank=False), settings,
                               batch_size=batch_size),
    }  # fmt: skip
    learned = {
        "with": evaluate_learned(encoder, batch_size=batch_size, rerankers=rerankers),
        "without": evaluate_learned(encoder, batch_size=batch_size),
    }
    out: dict[str, Any] = {
        "rerank_alone": {
            **_figures(alone),
            "baseline": alone["baseline"],
            "vs_baseline": alone["vs_baseline"],
        },
    }
    for name, pair in (("cv", cv), ("cv_learn", learned)):
        out[name] = {
            "with_rerank": _figures(pair["with"]),
            "without_rerank": _figures(pair["without"]),
            "with_minus_without": _versus(pair["with"], pair["without"]),
            "chosen_with_rerank": pair["with"].get("chosen"),
        }
    return out


def bench_csfcube(
    model: str = "minilm", epochs: int = 1, max_steps: int = 0, batch_size: int = 16
) -> dict[str, Any]:
    """Train fold1's and fold2's rerankers from ``model``'s transformer, then the three
    evaluations; the per-fold numbers of training pairs and grades are in the result."""
    from finesim.bench.cross_runs import finesim_run, initial_folder
    from finesim.data.csfcube import load_splits
    from finesim.evaluation import stats
    from finesim.evaluation.csfcube_rerank import NOTE
    from finesim.models.cross_encoder import CrossEncoder
    from finesim.models.encoder import Encoder

    machine = machine_summary()
    started = time.time()
    settings = _settings(epochs, max_steps, batch_size)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="finesim-rerank-csfcube-") as tmp:
        root = Path(tmp)
        start = initial_folder(model, 1, 42, root / "initial")
        rerankers = {}
        for fold in FOLD_NAMES:
            examples = fold_examples(fold)
            run = finesim_run("cross-sts", start, examples, settings, root / fold)
            runs[fold] = {
                "trained_on": f"{fold}_dev",
                "query_facets": len(load_splits()["all"][f"{fold}_dev"]),
                "pairs": len(examples),
                "grades": _grades(examples),
                **run,
            }
            rerankers[fold] = Remembered(CrossEncoder(root / fold / "last"))
        scoring = time.time()
        figures = _evaluations(Encoder(model), rerankers, 32)
        runs["evaluation_seconds"] = time.time() - scoring
    return {
        "part": "csfcube",
        "model": model,
        "task": "CSFCube two-fold test, MAP / NDCG%20 x100 per facet and all (mean of folds)",
        "initial": f"{model}'s transformer with a fresh 1-logit head drawn with seed 42",
        "loss": f"binary cross-entropy with logits against grade / {GRADES:g}",
        "pair": "query paper's facet sentences as one text, candidate's title + abstract",
        "training": runs,
        "protocol": NOTE,
        **figures,
        "ci95_method": stats.INTERVAL_METHOD,
        "test_method": stats.TEST_METHOD,
        "seconds": time.time() - started,
        "machine": machine,
    }
