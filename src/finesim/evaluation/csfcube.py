"""CSFCube faceted query-by-example, with the protocol of CSFCube's ``ranking_eval.py``.

Each query-facet's judged pool is re-ranked (nothing outside the pool), grades are
``relevance_adju``, binary metrics use grade >= 2, and the test figure of a facet is the mean
of the fold1_test and fold2_test means (dev: fold1_dev alone; one fold's split, e.g.
``fold2_test``, is that fold alone). A sentence-level query keeps only the sentences of its
facet (objective counts as background); candidates keep all their sentences; sentence-level
scorers read the abstract sentences, ``abstract`` reads the title and abstract as one text.
Every figure comes with its 95% interval (``ci95``, ``finesim.evaluation.stats``: queries
resampled within each fold), and ``paired`` compares two systems on the same queries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.data.csfcube import Paper, Pool, load_papers, load_pools, load_splits
from finesim.docsim import FACETS, SCORERS, Doc, score_candidates
from finesim.evaluation import stats
from finesim.evaluation.ranking import query_metrics
from finesim.models.cache import EmbeddingCache, asymmetric, encode_cached
from finesim.models.encoder import Encoder

GROUPS = (*FACETS, "all")
# the figures CSFCube reports, the ones given intervals and paired tests
REPORTED = ("map", "ndcg%20")
# what each split's figure averages: the mean of these folds' means
SPLITS = {
    "test": ("fold1_test", "fold2_test"),
    "dev": ("fold1_dev",),
    **{f"fold{n}_{part}": (f"fold{n}_{part}",) for n in (1, 2) for part in ("test", "dev")},
}


def split_folds(split: str) -> list[str]:
    """The folds whose means ``split``'s figure averages (``test``: both test folds)."""
    if split not in SPLITS:
        raise FinesimError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return list(SPLITS[split])


def fold_values(
    per_query: Mapping[str, Mapping[str, float]], group: str, folds: Sequence[str], metric: str
) -> list[np.ndarray]:
    """Per fold, ``metric`` of the group's queries of that fold (in the splits' order)."""
    splits = load_splits()
    return [np.array([per_query[k][metric] for k in splits[group][fold]]) for fold in folds]


def intervals(
    per_query: Mapping[str, Mapping[str, float]],
    folds: Sequence[str],
    metrics: Sequence[str] = REPORTED,
) -> dict[str, dict[str, list[float] | None]]:
    """``{group: {metric: [low, high]}}``: the 95% interval of each reported figure."""
    return {
        g: {m: stats.mean_interval(fold_values(per_query, g, folds, m)) for m in metrics}
        for g in GROUPS
    }


def paired(
    a: Mapping[str, Mapping[str, float]],
    b: Mapping[str, Mapping[str, float]],
    folds: Sequence[str],
    groups: Sequence[str] = GROUPS,
    metrics: Sequence[str] = REPORTED,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``a`` minus ``b`` (per-query figures of two systems) on the same queries of ``folds``:
    ``{group: {metric: {"difference", "ci95", "p_value", "n"}}}``."""
    return {
        g: {
            m: stats.paired_test(fold_values(a, g, folds, m), fold_values(b, g, folds, m))
            for m in metrics
        }
        for g in groups
    }


def embed_papers(
    encoder: Encoder,
    papers: Mapping[str, Paper],
    *,
    whole: bool,
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
    query_pids: Collection[str] = (),
) -> dict[str, Doc]:
    """Sentence vectors (and, with ``whole``, one title+abstract vector) for every paper.

    For a model that encodes queries and documents differently (``asymmetric``), papers are
    encoded as documents and ``query_pids`` also as queries, under ``query_key(pid)``.
    """
    docs = _embed(encoder, papers, list(papers), whole, batch_size, cache, "document")
    if asymmetric(encoder):
        queries = [p for p in dict.fromkeys(query_pids) if p in papers]
        found = _embed(encoder, papers, queries, whole, batch_size, cache, "query")
        docs.update({query_key(pid): doc for pid, doc in found.items()})
    return docs


def query_key(pid: str) -> str:
    """Where ``embed_papers`` keeps a paper's vectors encoded as a query."""
    return f"{pid}\tquery"


def _embed(
    encoder: Encoder,
    papers: Mapping[str, Paper],
    pids: list[str],
    whole: bool,
    batch_size: int,
    cache: bool | EmbeddingCache,
    task: str,
) -> dict[str, Doc]:
    options: dict[str, Any] = {"batch_size": batch_size, "cache": cache, "task": task}
    sentences = [s for pid in pids for s in papers[pid].sentences]
    vectors = encode_cached(encoder, sentences, **options)
    wholes = encode_cached(encoder, [papers[p].text for p in pids], **options) if whole else None
    docs, at = {}, 0
    for i, pid in enumerate(pids):
        n = len(papers[pid].sentences)
        labels = papers[pid].labels or None
        docs[pid] = Doc(vectors[at : at + n], labels, None if wholes is None else wholes[i])
        at += n
    return docs


def rank_pools(
    docs: Mapping[str, Doc], pools: Sequence[Pool], scoring: str
) -> dict[str, list[tuple[str, float]]]:
    """``{qpid_facet: [(candidate, score), ...]}`` best first (stable for ties)."""
    rankings = {}
    for pool in pools:
        query, candidates = pool_docs(docs, pool)
        scores, _ = score_candidates(query, candidates, scoring, facet=pool.facet)
        rankings[pool.key] = ranked(pool, scores)
    return rankings


def pool_docs(docs: Mapping[str, Doc], pool: Pool) -> tuple[Doc, list[Doc]]:
    """The query paper's (as a query, where encoded so) and the candidates' documents."""
    missing = [p for p in [pool.qpid, *pool.candidates] if p not in docs]
    if missing:
        raise FinesimError(f"CSFCube papers missing from the abstracts file: {missing[:3]}")
    query = docs.get(query_key(pool.qpid), docs[pool.qpid])
    return query, [docs[c] for c in pool.candidates]


def ranked(pool: Pool, scores: np.ndarray) -> list[tuple[str, float]]:
    """The pool's candidates with their scores, best first (stable on ties)."""
    order = np.argsort(-scores, kind="stable")
    return [(pool.candidates[i], float(scores[i])) for i in order]


def score_rankings(
    rankings: Mapping[str, Sequence[tuple[str, float]]],
    split: str = "test",
    *,
    folds: Sequence[str] | None = None,
    with_intervals: bool = True,
) -> dict[str, Any]:
    """Metrics (x100) per facet and for all 50 query-facets, with per-query figures, the
    folds the figures average (``folds``: those of ``split`` unless given) and their 95%
    intervals (``ci95``; ``with_intervals=False`` leaves them out, for ``--cv``'s thousands
    of settings).

    ``rankings`` maps ``qpid_facet`` to its candidates, best first."""
    folds = list(folds) if folds is not None else split_folds(split)
    grades = {
        p.key: dict(zip(p.candidates, p.grades, strict=True)) for f in FACETS for p in load_pools(f)
    }
    per_query = {}
    for key, ranked in rankings.items():
        if key not in grades:
            raise FinesimError(f"ranking for unknown query-facet {key!r}")
        judged = grades[key]
        unknown = [c for c, _ in ranked if c not in judged]
        if unknown:
            raise FinesimError(f"ranking of {key} holds unjudged candidates: {unknown[:3]}")
        # As CSFCube's script: metrics are over the ranked list (a candidate left out of a
        # submitted ranking is simply absent; SPECTER's sample rankings miss a few).
        per_query[key] = query_metrics([judged[c] for c, _ in ranked])
    splits = load_splits()
    result: dict[str, Any] = {}
    for group in GROUPS:
        fold_means = []
        for fold in folds:
            keys = splits[group][fold]
            missing = [k for k in keys if k not in per_query]
            if missing:
                raise FinesimError(f"no ranking for {missing[0]} (needed for {group} {fold})")
            fold_means.append(
                {m: np.mean([per_query[k][m] for k in keys]) for m in per_query[keys[0]]}
            )
        result[group] = {m: 100 * float(np.mean([f[m] for f in fold_means])) for m in fold_means[0]}
    result["per_query"] = {k: {m: 100 * v for m, v in q.items()} for k, q in per_query.items()}
    result["folds"] = folds
    if with_intervals:
        result["ci95"] = intervals(result["per_query"], folds)
        result["ci95_method"] = stats.INTERVAL_METHOD
    return result


def evaluate_csfcube(
    encoder: Encoder,
    scoring: str = "min-l2",
    split: str = "test",
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
) -> dict[str, Any]:
    """Rank every judged pool with ``scoring`` and score it; also returns the rankings."""
    if scoring not in SCORERS:
        raise FinesimError(f"unknown scoring {scoring!r}; one of {', '.join(SCORERS)}")
    papers = load_papers()
    pools = [p for f in FACETS for p in load_pools(f)]
    docs = embed_papers(
        encoder,
        papers,
        whole=scoring == "abstract",
        batch_size=batch_size,
        cache=cache,
        query_pids=[p.qpid for p in pools],
    )
    rankings = rank_pools(docs, pools, scoring)
    result: dict[str, Any] = {"model": encoder.source, "scoring": scoring, "split": split}
    result.update(score_rankings(rankings, split))
    result["primary"], result["score"] = "map", result["all"]["map"]
    result["rankings"] = rankings
    return result


def read_ranking_dir(folder: Path) -> dict[str, list[tuple[str, float]]]:
    """Rankings shaped like CSFCube's ``sample_ranked_pools``: one file per facet,
    ``{qpid: [[cand, distance], ...]}`` in rank order (best first)."""
    if not folder.is_dir():
        raise FinesimError(f"{folder}: no such folder of rankings")
    rankings: dict[str, list[tuple[str, float]]] = {}
    for facet in FACETS:
        files = sorted(folder.glob(f"*-{facet}-ranked.json"))
        if len(files) != 1:
            raise FinesimError(
                f"{folder}: expected one *-{facet}-ranked.json file, found {len(files)}"
            )
        try:
            data = json.loads(files[0].read_text(encoding="utf-8"))
            for qpid, ranked in data.items():
                rankings[f"{qpid}_{facet}"] = [(str(c), float(s)) for c, s in ranked]
        except (OSError, *JSON_ERRORS, AttributeError, TypeError) as e:
            raise FinesimError(f"{files[0]}: not a ranked-pool file ({json_problem(e)})") from None
    return rankings


def write_run_file(
    rankings: Mapping[str, Sequence[tuple[str, float]]], path: Path, tag: str
) -> None:
    """TREC run format: ``qpid_facet Q0 candidate rank score tag``."""
    tag = re.sub(r"\s+", "_", tag) or "finesim"
    with atomic_path(path) as tmp, tmp.open("w") as f:
        for key, ranked in rankings.items():
            for rank, (cand, score) in enumerate(ranked, start=1):
                f.write(f"{key}\tQ0\t{cand}\t{rank}\t{score:.6f}\t{tag}\n")


class CSFCubeEvaluator:
    """Callable evaluator for training loops; its primary metric is the aggregated MAP.

    ``split`` is the queries it scores (``fold1_dev``, ``fold2_dev``, ...): a checkpoint chosen
    on fold N's dev queries may be reported on fold N's test queries only (``dev`` is
    ``fold1_dev``, which are fold 2's test queries)."""

    def __init__(self, scoring: str = "min-l2", split: str = "dev", batch_size: int = 64) -> None:
        self.scoring, self.split, self.batch_size = scoring, split, batch_size

    def __call__(self, encoder: Encoder) -> dict[str, Any]:
        result = evaluate_csfcube(encoder, self.scoring, self.split, self.batch_size, cache=False)
        result.pop("rankings")
        return result
