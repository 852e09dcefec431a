"""Hard-negative mining: for each (anchor, positive) pair, corpus texts close to the anchor
that are not its positives, with sentence-transformers' controls (``mine_hard_negatives``).

Why here: the triples it writes train the contrastive recipes (``format: triples``), and the
closer a negative is to the anchor the more a step learns. The corpus is encoded chunk by chunk
into a faiss inner-product index and queried in chunks, so memory holds the corpus vectors and
one chunk of scores, never a queries x corpus matrix.

Semantics as sentence-transformers 6.2: the corpus is the given texts plus every positive
(deduplicated); queries are the distinct anchors; candidates are the ``range_max`` (+ the most
positives any query has) nearest texts by cosine; an anchor's positives are never its
negatives; ``absolute_margin`` / ``relative_margin`` drop candidates too close to the anchor's
weakest positive, ``max_score`` / ``min_score`` those outside a band; the first ``range_min``
survivors are skipped; ``top`` keeps the nearest ``num_negatives``, ``random`` samples them
(seeded). A cross-encoder (``rescore``) replaces the scores the filters look at, as there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from finesim._util.errors import FinesimError

if TYPE_CHECKING:
    from finesim.models.encoder import Encoder

# (query, candidate) pairs -> relevance scores (a cross-encoder's predict)
Rescore = Callable[[list[tuple[str, str]]], np.ndarray]


@dataclass(frozen=True)
class MineOptions:
    """sentence-transformers' ``mine_hard_negatives`` controls (same names and defaults)."""

    num_negatives: int = 3
    range_min: int = 0
    range_max: int | None = None
    max_score: float | None = None
    min_score: float | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = None
    sampling_strategy: str = "top"
    seed: int = 12
    batch_size: int = 32
    query_chunk: int = 4096  # queries scored at a time (bounds the score matrix)

    def filtered(self, rescoring: bool) -> bool:
        """Whether scores are filtered (then more candidates are fetched, and a cross-encoder
        rescoring them matters)."""
        bands = self.max_score is not None or (rescoring and self.min_score is not None)
        return self.absolute_margin is not None or self.relative_margin is not None or bands

    def check(self) -> None:
        if self.num_negatives < 1:
            raise FinesimError(f"num_negatives {self.num_negatives}: must be at least 1")
        if self.range_min < 0:
            raise FinesimError(f"range_min {self.range_min}: must be 0 or more")
        if self.sampling_strategy not in ("top", "random"):
            raise FinesimError(f"sampling_strategy {self.sampling_strategy!r}: top or random")
        if self.batch_size < 1 or self.query_chunk < 1:
            raise FinesimError("batch_size and query_chunk must be at least 1")


@dataclass(frozen=True)
class Triple:
    anchor: str
    positive: str
    negative: str
    score: float  # the negative's score (cosine, or the cross-encoder's)
    positive_score: float


def mine(
    encoder: Encoder,
    pairs: Sequence[tuple[str, str]],
    corpus: Sequence[str] = (),
    options: MineOptions | None = None,
    rescore: Rescore | None = None,
) -> Iterator[Triple]:
    """Triples (anchor, positive, hard negative), anchors in first-seen order."""
    import faiss

    opts = options or MineOptions()
    opts.check()
    if not pairs:
        raise FinesimError("no (anchor, positive) pairs to mine for")
    texts = list(dict.fromkeys([*corpus, *(p for _, p in pairs)]))
    row = {t: i for i, t in enumerate(texts)}
    positives: dict[str, list[int]] = {}
    for anchor, positive in pairs:
        rows = positives.setdefault(anchor, [])
        if row[positive] not in rows:
            rows.append(row[positive])
    queries = list(positives)
    most = max(len(p) for p in positives.values())
    range_max = opts.range_max
    if range_max is None:
        spread = 10 if opts.filtered(rescore is not None) else 1
        range_max = opts.range_min + opts.num_negatives * spread + most
    if opts.range_min >= range_max:
        raise FinesimError(f"range_min {opts.range_min} must be below range_max {range_max}")
    if opts.num_negatives > range_max - opts.range_min:
        raise FinesimError(
            f"cannot mine {opts.num_negatives} negatives from ranks {opts.range_min}..{range_max}"
        )
    rng = np.random.default_rng(opts.seed)
    index = faiss.IndexFlatIP(encoder.dim)
    from finesim.models.cache import task_options

    # as encode_document / encode_query for models that tell the sides apart
    doc, qdoc = task_options(encoder, "document"), task_options(encoder, "query")
    for block in encoder.encode_iter(texts, opts.batch_size, normalize=True, **doc):
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    k = min(range_max + most, len(texts))
    for start in range(0, len(queries), opts.query_chunk):
        chunk = queries[start : start + opts.query_chunk]
        qv = encoder.encode(chunk, opts.batch_size, normalize=True, show_progress=False, **qdoc)
        scores, ids = index.search(np.ascontiguousarray(qv, dtype=np.float32), k)
        pos_scores = [
            np.asarray([float(qv[i] @ index.reconstruct(p)) for p in positives[q]])
            for i, q in enumerate(chunk)
        ]
        for i, query in enumerate(chunk):
            found = _Found(positives[query], ids[i], scores[i], pos_scores[i])
            yield from _negatives(query, found, texts, range_max, opts, rescore, rng)


@dataclass
class _Found:
    """One query's positives (corpus rows and scores) and nearest corpus rows and scores."""

    positive_rows: list[int]
    ids: np.ndarray
    scores: np.ndarray
    positive_scores: np.ndarray


def _negatives(
    query: str,
    found: _Found,
    texts: Sequence[str],
    range_max: int,
    opts: MineOptions,
    rescore: Rescore | None,
    rng: np.random.Generator,
) -> Iterator[Triple]:
    """One query's triples from its nearest ``ids`` (faiss order) and their ``scores``."""
    ids, positive_rows, positive_scores = found.ids, found.positive_rows, found.positive_scores
    scores = found.scores.astype(np.float64).copy()
    valid = ids >= 0
    if rescore is not None and opts.filtered(True):
        pairs = [(query, texts[int(j)]) for j in ids[valid]]
        scores[valid] = np.asarray(rescore(pairs), dtype=np.float64)
        positive_scores = np.asarray(
            rescore([(query, texts[p]) for p in positive_rows]), dtype=np.float64
        )
    scores[~valid] = -np.inf
    scores[np.isin(ids, positive_rows)] = -np.inf
    weakest = float(positive_scores.min())
    if opts.absolute_margin is not None:
        scores[scores + opts.absolute_margin > weakest] = -np.inf
    if opts.relative_margin is not None:
        scores[scores > weakest - abs(weakest) * opts.relative_margin] = -np.inf
    if opts.max_score is not None:
        scores[scores > opts.max_score] = -np.inf
    if opts.min_score is not None:
        scores[scores < opts.min_score] = -np.inf
    order = np.argsort(-scores, kind="stable")[:range_max][opts.range_min :]
    if opts.sampling_strategy == "random":
        options = max(int(np.isfinite(scores[order]).sum()), opts.num_negatives)
        size = min(opts.num_negatives, len(order))
        picked = rng.choice(min(options, len(order)), size=size, replace=False)
        order = order[np.sort(picked)]
    chosen = [int(j) for j in order[: opts.num_negatives] if np.isfinite(scores[j])]
    for p, p_score in zip(positive_rows, positive_scores, strict=True):
        for j in chosen:
            yield Triple(query, texts[p], texts[int(ids[j])], float(scores[j]), float(p_score))
