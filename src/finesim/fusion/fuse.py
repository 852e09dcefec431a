"""Fusion: several terms' raw scores of one query's candidates into one score each.

Why three: ``weighted`` (a weighted sum of per-query min-max normalised scores) is the
classic; ``zscore`` (a weighted sum of per-query z-scores) takes a term's scale from all its
scores, not only the two extremes; ``rrf`` (weighted reciprocal-rank fusion, sum of
w / (k + rank)) ignores scales altogether.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from finesim.docsim.scoring import Match, score_candidates
from finesim.fusion.preset import Preset, explaining_term
from finesim.fusion.terms import Candidates, Query, Reranker, term_scores


def normalise(scores: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] within one query's candidates (all equal: all 0)."""
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-12:
        return np.zeros_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Z-scores within one query's candidates (all equal: all 0)."""
    spread = float(scores.std())
    if spread <= 1e-12:
        return np.zeros_like(scores, dtype=np.float64)
    return (scores - scores.mean()) / spread


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, best first (ties broken by position, as the rankings are)."""
    order = np.argsort(-scores, kind="stable")
    out = np.empty(len(scores), dtype=np.float64)
    out[order] = np.arange(1, len(scores) + 1)
    return out


def fuse(terms: Mapping[str, np.ndarray], preset: Preset) -> np.ndarray:
    """One score per candidate from the term scores the preset uses."""
    missing = [t for t in preset.terms if t not in terms]
    if missing:
        raise ValueError(f"no scores for term {missing[0]!r}")
    n = len(terms[preset.terms[0]])
    total = np.zeros(n, dtype=np.float64)
    for term in preset.terms:
        weight = float(preset.weights[term])
        values = np.asarray(terms[term], dtype=np.float64)
        if preset.fusion == "rrf":
            total += weight / (preset.rrf_k + ranks(values))
        elif preset.fusion == "zscore":
            total += weight * standardise(values)
        else:
            total += weight * normalise(values)
    return total


def hybrid_scores(
    query: Query,
    candidates: Candidates,
    preset: Preset,
    *,
    facet: str | None = None,
    explain: int = 0,
    reranker: Reranker | None = None,
) -> tuple[np.ndarray, list[list[Match]] | None]:
    """Fused scores of ``candidates``; with ``explain``, the best aligned sentence pairs of
    the sentence term with the largest weight (``max-sim`` if the preset has none).
    ``reranker`` scores the term ``rerank`` (a preset that weighs it needs one)."""
    terms = term_scores(query, candidates, preset.terms, facet=facet, reranker=reranker)
    scores = fuse(terms, preset)
    if not explain:
        return scores, None
    why = explaining_term(preset)
    docs = candidates.docs
    return scores, score_candidates(query.doc, docs, why, facet=facet, explain=explain)[1]
