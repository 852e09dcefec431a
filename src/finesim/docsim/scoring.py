"""Score candidate documents against a query document, batched over candidates.

Scorers (higher score = more similar):

- ``min-l2``: minus the smallest L2 distance over all query x candidate sentence pairs
  (Aspire's tsAspire);
- ``max-sim``: mean over query sentences of their best cosine with a candidate sentence;
- ``mean-vec``: cosine of the mean sentence vectors;
- ``ot``: minus the entropy-regularised optimal transport cost between the two sentence sets
  (Aspire's otAspire: Sinkhorn, uniform sentence weights, L2 cost);
- ``abstract``: cosine of one vector per document (title + abstract).

Each can return an explanation: the aligned sentence pairs with their distances (and, for
``ot``, transport weights), best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from finesim.docsim.docs import Doc

SCORERS = ("min-l2", "max-sim", "mean-vec", "ot", "abstract")


@dataclass(frozen=True)
class Match:
    """One aligned pair: sentence indices in the query and the candidate."""

    query: int
    candidate: int
    distance: float  # L2 distance between the two sentence vectors
    similarity: float  # cosine
    weight: float | None = None  # transport mass (ot only)


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero); the dtype is kept."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _stack(candidates: Sequence[Doc]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = np.array([len(c.vectors) for c in candidates])
    if (sizes == 0).any():
        raise ValueError("every candidate needs at least one sentence vector")
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    return np.concatenate([c.vectors for c in candidates]).astype(np.float64), offsets, sizes


def _l2(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    squared = (q * q).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * q @ c.T
    return np.sqrt(np.maximum(squared, 0.0))


def score_candidates(
    query: Doc,
    candidates: Sequence[Doc],
    scoring: str = "min-l2",
    *,
    facet: str | None = None,
    explain: int = 0,
    ot_epsilon: float = 0.05,
) -> tuple[np.ndarray, list[list[Match]] | None]:
    """Scores of ``candidates`` for ``query`` (restricted to ``facet`` sentences).

    ``explain`` > 0 also returns, per candidate, its best ``explain`` aligned sentence pairs
    (indices into the full query and candidate documents).
    """
    if scoring not in SCORERS:
        raise ValueError(f"unknown scoring {scoring!r}; one of {', '.join(SCORERS)}")
    if not candidates:
        return np.zeros(0), [] if explain else None
    if scoring == "abstract":
        return _abstract(query, candidates), ([[] for _ in candidates] if explain else None)
    q_doc, q_index = query.restrict(facet)
    q = q_doc.vectors.astype(np.float64)
    c, offsets, sizes = _stack(candidates)
    distances = _l2(q, c)  # query sentences x all candidate sentences
    cosines = unit(q) @ unit(c).T
    weights = None
    if scoring == "min-l2":
        scores = -np.minimum.reduceat(distances.min(axis=0), offsets)
    elif scoring == "max-sim":
        scores = np.maximum.reduceat(cosines, offsets, axis=1).mean(axis=0)
    elif scoring == "mean-vec":
        means = np.add.reduceat(c, offsets, axis=0) / sizes[:, None]
        scores = unit(q.mean(axis=0, keepdims=True)) @ unit(means).T
        scores = scores[0]
    else:
        scores, weights = _transport(distances, offsets, sizes, ot_epsilon)
    if not explain:
        return scores, None
    return scores, _explain(distances, cosines, weights, offsets, sizes, q_index, scoring, explain)


def _abstract(query: Doc, candidates: Sequence[Doc]) -> np.ndarray:
    if query.whole is None or any(c.whole is None for c in candidates):
        raise ValueError("scoring 'abstract' needs a whole-document vector for every document")
    matrix = np.stack([c.whole for c in candidates]).astype(np.float64)  # type: ignore[misc]
    return (unit(matrix) @ unit(query.whole.astype(np.float64)[None, :]).T)[:, 0]


def _transport(
    distances: np.ndarray,
    offsets: np.ndarray,
    sizes: np.ndarray,
    epsilon: float,
    iterations: int = 10_000,
    tolerance: float = 1e-8,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Batched log-domain Sinkhorn with epsilon scaling; uniform weights, L2 cost.

    The blur starts at the largest cost and shrinks by 0.9 per step to ``epsilon`` (as
    geomloss does), then iterates until the query-side marginals are within ``tolerance``.
    Returns minus the transport cost <plan, cost> per candidate, and each plan.
    """
    m, width, n = distances.shape[0], int(sizes.max()), len(sizes)
    cost = torch.zeros((n, m, width), dtype=torch.float64)
    valid = torch.zeros((n, width), dtype=torch.bool)
    for i, (start, size) in enumerate(zip(offsets, sizes, strict=True)):
        cost[i, :, :size] = torch.from_numpy(distances[:, start : start + size])
        valid[i, :size] = True
    minus_inf = torch.tensor(-np.inf, dtype=torch.float64)
    log_a = torch.full((n, m, 1), -np.log(m), dtype=torch.float64)
    log_b = torch.where(valid, -torch.log(torch.from_numpy(sizes).double())[:, None], minus_inf)
    log_b = log_b[:, None, :]
    cost = torch.where(valid[:, None, :], cost, torch.zeros_like(cost))

    def softmin(eps: float, potential: torch.Tensor, log_w: torch.Tensor, dim: int) -> torch.Tensor:
        return -eps * torch.logsumexp(log_w + (potential - cost) / eps, dim=dim, keepdim=True)

    f = torch.zeros((n, m, 1), dtype=torch.float64)
    g = torch.zeros((n, 1, width), dtype=torch.float64)
    eps = max(float(cost.max()), epsilon)
    schedule = []
    while eps > epsilon:
        schedule.append(eps)
        eps *= 0.9
    for step in range(len(schedule) + iterations):
        eps = schedule[step] if step < len(schedule) else epsilon
        f = softmin(eps, g, log_b, 2)
        g = softmin(eps, f, log_a, 1)
        if step >= len(schedule) and step % 10 == 0:
            plan = torch.exp(log_a + log_b + (f + g - cost) / epsilon)
            if float((plan.sum(dim=2) - 1.0 / m).abs().max()) < tolerance:
                break
    plan = torch.exp(log_a + log_b + (f + g - cost) / epsilon)
    total = (plan * cost).sum(dim=(1, 2))
    plans = [plan[i, :, :size].numpy() for i, size in enumerate(sizes)]
    return -total.numpy(), plans


def _explain(
    distances: np.ndarray,
    cosines: np.ndarray,
    weights: list[np.ndarray] | None,
    offsets: np.ndarray,
    sizes: np.ndarray,
    q_index: np.ndarray,
    scoring: str,
    top: int,
) -> list[list[Match]]:
    out = []
    for i, (start, size) in enumerate(zip(offsets, sizes, strict=True)):
        d = distances[:, start : start + size]
        s = cosines[:, start : start + size]
        if weights is not None:
            order = np.argsort(-weights[i], axis=None)
        elif scoring in ("max-sim", "mean-vec"):
            # each query sentence with its best candidate sentence, best pairs first
            best = s.argmax(axis=1)
            rows = np.argsort(-s[np.arange(len(s)), best])
            order = rows * size + best[rows]
        else:
            order = np.argsort(d, axis=None)
        matches = []
        for flat in order[:top]:
            qi, ci = divmod(int(flat), size)
            w = float(weights[i][qi, ci]) if weights is not None else None
            matches.append(Match(int(q_index[qi]), int(ci), float(d[qi, ci]), float(s[qi, ci]), w))
        out.append(matches)
    return out
