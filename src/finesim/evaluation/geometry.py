"""Embedding geometry: anisotropy, and alignment and uniformity as SimCSE defines them.

Why: these say *how* a change (adaptation, whitening) moved the vectors, not only whether a
benchmark went up. On L2-normalised vectors (Wang & Isola, 2020; Gao et al., 2021):

- anisotropy: mean cosine of random pairs of different texts (0 = spread out, 1 = one cone);
- alignment: mean ||f(x) - f(x+)||^2 over positive pairs (lower = positives closer);
- uniformity: log mean exp(-2 ||f(x) - f(y)||^2) over pairs of different texts (lower = more
  uniform on the sphere).

A corpus has no labelled positives, so its positive pairs are two sentences of one abstract
(same topic; a weaker notion of "positive" than SimCSE's STS pairs, so compare models on the
same corpus, not with SimCSE's numbers).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim.data.documents import Document
from finesim.docsim.scoring import unit


def _unit(x: np.ndarray) -> np.ndarray:
    return unit(np.asarray(x, dtype=np.float64))


def anisotropy(vectors: np.ndarray, pairs: int = 20_000, seed: int = 0) -> float:
    """Mean cosine of ``pairs`` random pairs of different rows (all pairs if fewer)."""
    x = _unit(vectors)
    n = len(x)
    if n < 2:
        raise ValueError("anisotropy needs at least two vectors")
    if n * (n - 1) // 2 <= pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, pairs)
        j = (i + rng.integers(1, n, pairs)) % n  # never i itself
    return float((x[i] * x[j]).sum(axis=1).mean())


def alignment(x: np.ndarray, y: np.ndarray, alpha: float = 2.0) -> float:
    """Mean ||x_i - y_i||^alpha of normalised positive pairs (rows of x and y)."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("alignment needs two equally long, non-empty sets of vectors")
    return float((np.linalg.norm(_unit(x) - _unit(y), axis=1) ** alpha).mean())


def uniformity(vectors: np.ndarray, t: float = 2.0) -> float:
    """log mean exp(-t ||x_i - x_j||^2) over all pairs i < j of normalised rows."""
    x = _unit(vectors)
    if len(x) < 2:
        raise ValueError("uniformity needs at least two vectors")
    # from the Gram matrix (n x n), not from gathered row pairs (n^2/2 x dim: 12 GB for 2,000
    # vectors of 768 dimensions)
    cosines = (x @ x.T)[np.triu_indices(len(x), k=1)]
    squared = np.maximum(2.0 - 2.0 * cosines, 0.0)
    return float(np.log(np.exp(-t * squared).mean()))


def sample_texts(
    docs: Sequence[Document], sentences: int = 2000, pairs: int = 1000, seed: int = 0
) -> tuple[list[str], list[tuple[str, str]]]:
    """Random sentences, and positive pairs: two random sentences of one abstract."""
    rng = random.Random(seed)
    every = [s for d in docs for s in d.sentences if s.strip()]
    chosen = rng.sample(every, min(sentences, len(every)))
    positives = []
    for d in rng.sample(list(docs), len(docs)):
        if len(d.sentences) >= 2:
            a, b = rng.sample(range(len(d.sentences)), 2)
            positives.append((d.sentences[a], d.sentences[b]))
        if len(positives) >= pairs:
            break
    return chosen, positives


def geometry(
    embed: Callable[[list[str]], np.ndarray],
    sentences: Sequence[str],
    positives: Sequence[tuple[str, str]],
) -> dict[str, float]:
    """The three figures for one model (``embed`` maps texts to vectors)."""
    vectors = embed(list(sentences))
    out = {"anisotropy": anisotropy(vectors), "uniformity": uniformity(vectors)}
    if positives:
        left = embed([a for a, _ in positives])
        right = embed([b for _, b in positives])
        out["alignment"] = alignment(left, right)
    out["sentences"] = float(len(sentences))
    out["pairs"] = float(len(positives))
    return out


def plot_geometry(rows: dict[str, dict[str, Any]], path: Path) -> None:
    """Alignment vs uniformity (SimCSE's figure), each model a labelled point, plus a bar
    chart of anisotropy; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from finesim._util.atomic import atomic_path

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, row in rows.items():
        if "alignment" in row:
            left.scatter(row["uniformity"], row["alignment"])
            left.annotate(name, (row["uniformity"], row["alignment"]), fontsize=8)
    left.set_xlabel("uniformity (lower is better)")
    left.set_ylabel("alignment (lower is better)")
    left.set_title("alignment vs uniformity")
    names = list(rows)
    right.barh(names, [rows[n]["anisotropy"] for n in names])
    right.set_xlabel("mean cosine of random pairs")
    right.set_title("anisotropy")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
