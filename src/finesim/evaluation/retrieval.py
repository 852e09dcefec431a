"""Exact dense retrieval over a streamed corpus, and BEIR-style evaluation on top of it.

The corpus is encoded and scored chunk by chunk against all queries, keeping a running top-k,
so memory grows with queries x chunk, never with the corpus. Scores are cosine (default) or
dot products; search is exact (no index), as in BEIR's ``DenseRetrievalExactSearch``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.data.beir import Qrels, judged_queries, read_corpus, read_qrels
from finesim.evaluation import stats
from finesim.evaluation.trec_metrics import DEFAULT_MEASURES, evaluate, mean_scores, trec_order
from finesim.models.cache import EmbeddingCache, encode_cached
from finesim.models.encoder import Encoder

Score = Literal["cos", "dot"]
RunDict = dict[str, dict[str, float]]  # query id -> document id -> score
PRIMARY = "ndcg@10"
MIN_TOP_K = 100  # the largest cut-off of the reported measures


def check_score(score: str) -> None:
    """Fail early on a score name other than ``cos`` or ``dot``."""
    if score not in ("cos", "dot"):
        raise FinesimError(f"score must be 'cos' or 'dot', not {score!r}")


def prepare(vectors: np.ndarray, score: Score) -> np.ndarray:
    """float64 vectors, L2-normalised for cosine (a zero vector stays zero)."""
    check_score(score)
    out = np.asarray(vectors, dtype=np.float64)
    if score == "dot":
        return out
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def score_block(queries: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """float32 scores of prepared vectors, computed in float64.

    BLAS rounds a product differently for different matrix shapes; rounding the float64
    result to float32 removes that, so the ranking (ties included) does not depend on the
    chunk size, and float32 is what trec_eval compares anyway.
    """
    return (queries @ docs.T).astype(np.float32)


class TopK:
    """The k best-scoring columns of every row, over blocks of columns pushed one at a time.

    Among equal scores the lower column index wins, so the result does not depend on how the
    columns were split into blocks. A score of -inf marks a column that must not be returned.
    """

    def __init__(self, rows: int, k: int) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k
        self.scores = np.zeros((rows, 0), dtype=np.float32)
        self.index = np.zeros((rows, 0), dtype=np.int64)

    def push(self, scores: np.ndarray, offset: int) -> None:
        """Add a block of scores whose first column is column ``offset`` overall."""
        columns = np.arange(offset, offset + scores.shape[1], dtype=np.int64)
        cand_s = np.concatenate([self.scores, scores.astype(np.float32, copy=False)], axis=1)
        cand_i = np.concatenate([self.index, np.broadcast_to(columns, scores.shape)], axis=1)
        if cand_s.shape[1] > self.k:
            cand_s, cand_i = _best(cand_s, cand_i, self.k)
        self.scores, self.index = cand_s, cand_i

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)``, each row sorted best first (score descending, index ascending)."""
        order = np.lexsort((self.index, -self.scores), axis=1)
        return (
            np.take_along_axis(self.scores, order, axis=1),
            np.take_along_axis(self.index, order, axis=1),
        )


def _best(scores: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best entries of each row (unsorted); ties at the cut go to the lower index."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_s = np.take_along_axis(scores, part, axis=1)
    best_i = np.take_along_axis(index, part, axis=1)
    cut = best_s.min(axis=1, keepdims=True)
    # argpartition picks arbitrarily among scores equal to the k-th; redo those rare rows.
    split_ties = (scores == cut).sum(axis=1) > (best_s == cut).sum(axis=1)
    for row in np.flatnonzero(split_ties):
        order = np.lexsort((index[row], -scores[row]))[:k]
        best_s[row], best_i[row] = scores[row, order], index[row, order]
    return best_s, best_i


def search(
    queries: np.ndarray, chunks: Iterable[np.ndarray], k: int, *, score: Score = "cos"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k corpus rows for each query over corpus vectors arriving in chunks.

    Returns ``(scores, indices)`` of shape (queries, min(k, corpus)), best first; indices
    count rows across all chunks.
    """
    prepared = prepare(queries, score)
    top = TopK(len(prepared), k)
    offset = 0
    for block in chunks:
        top.push(score_block(prepared, prepare(block, score)), offset)
        offset += len(block)
    return top.result()


def _chunks(items: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def retrieve(
    encoder: Encoder,
    queries: Mapping[str, str],
    corpus: Iterable[tuple[str, str]],
    top_k: int = MIN_TOP_K,
    *,
    score: Score = "cos",
    batch_size: int = 32,
    chunk_size: int = 4096,
    cache: bool = True,
    ignore_identical_ids: bool = True,
    show_progress: bool = False,
) -> RunDict:
    """Encode ``corpus`` (``(doc_id, text)`` pairs) chunk by chunk and return each query's top k.

    ``cache`` keeps vectors on disk keyed by the model's fingerprint, so a second run over the
    same corpus encodes nothing (turn it off for a model that is still training).
    ``ignore_identical_ids`` skips a document whose id equals the query id, as BEIR does (in
    some datasets the query is itself a corpus document); the query still gets k others.
    """
    if batch_size < 1 or chunk_size < 1:
        raise FinesimError("batch_size and chunk_size must be >= 1")
    check_score(score)
    query_ids = list(queries)
    row_of = {q: r for r, q in enumerate(query_ids)}
    store = EmbeddingCache(encoder.fingerprint()) if cache else None

    def vectors(texts: list[str], task: str) -> np.ndarray:
        found = encode_cached(
            encoder,
            texts,
            batch_size=batch_size,
            cache=store if store is not None else False,
            show_progress=False,
            task=task,
        )
        return prepare(found, score)

    try:
        query_vectors = vectors([queries[q] for q in query_ids], "query")
        top = TopK(len(query_ids), top_k)
        doc_ids: list[str] = []
        with progress_bar(show_progress, None, "corpus") as advance:
            for chunk in _chunks(corpus, chunk_size):
                block = score_block(query_vectors, vectors([text for _, text in chunk], "document"))
                if ignore_identical_ids:
                    for col, (doc_id, _) in enumerate(chunk):
                        if doc_id in row_of:
                            block[row_of[doc_id], col] = -np.inf
                top.push(block, len(doc_ids))
                doc_ids.extend(doc_id for doc_id, _ in chunk)
                if advance is not None:
                    advance(len(chunk))
    finally:
        if store is not None:
            store.close()
    scores, index = top.result()
    return {
        q: {doc_ids[j]: float(s) for s, j in zip(scores[r], index[r], strict=True) if s > -np.inf}
        for r, q in enumerate(query_ids)
    }


def summarize(
    qrels: Qrels, run: Mapping[str, Mapping[str, float]], *, per_query: bool = False
) -> dict[str, Any]:
    """Mean nDCG@10, MAP@100, Recall@100, MRR@10 (x100) with ``primary``/``score`` keys, and
    each mean's 95% interval over the queries (``ci95``)."""
    figures = evaluate(qrels, run, DEFAULT_MEASURES)
    result: dict[str, Any] = {**mean_scores(figures), "n_queries": len(figures)}
    result.update(primary=PRIMARY, score=result[PRIMARY])
    names = list(next(iter(figures.values()), {}))
    result["ci95"] = {
        m: stats.mean_interval([[100.0 * q[m] for q in figures.values()]]) for m in names
    }
    result["ci95_method"] = stats.INTERVAL_METHOD
    if per_query:
        result["per_query"] = figures
    return result


def run_beir(
    encoder: Encoder,
    data_dir: str | os.PathLike[str],
    split: str = "test",
    *,
    batch_size: int = 32,
    chunk_size: int = 4096,
    top_k: int = MIN_TOP_K,
    score: Score = "cos",
    cache: bool = True,
    per_query: bool = False,
    run_file: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``encoder`` on a BEIR-format folder; what ``finesim eval beir`` prints.

    Returns ``{"ndcg@10", "map@100", "recall@100", "mrr@10", "n_queries", "primary",
    "score"}`` (plus ``"per_query"`` if asked); only queries judged in ``split`` are searched.
    ``run_file`` also writes the ranking as a TREC run file, for trec_eval or other tools.
    """
    if top_k < MIN_TOP_K:
        raise FinesimError(f"top_k must be at least {MIN_TOP_K} (MAP@100 and Recall@100 need it)")
    folder = Path(data_dir)
    qrels = read_qrels(folder, split)
    queries = judged_queries(folder, qrels)
    run = retrieve(
        encoder,
        queries,
        read_corpus(folder),
        top_k,
        score=score,
        batch_size=batch_size,
        chunk_size=chunk_size,
        cache=cache,
        show_progress=show_progress,
    )
    if run_file is not None:
        write_run(run_file, run)
    return summarize(qrels, run, per_query=per_query)


class RetrievalEvaluator:
    """BEIR retrieval as a callable for a training loop: ``evaluator(encoder) -> dict``.

    Queries and qrels are read once, here (so a bad folder fails before training starts); the
    corpus is streamed on every call. The result is ``run_beir``'s, whose ``score`` is the
    ``primary`` measure. ``cache`` is off by default: a training model changes at every step.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        split: str = "test",
        *,
        batch_size: int = 32,
        chunk_size: int = 4096,
        score: Score = "cos",
        cache: bool = False,
    ) -> None:
        self.folder = Path(data_dir)
        self.qrels = read_qrels(self.folder, split)
        self.queries = judged_queries(self.folder, self.qrels)
        check_score(score)
        self.options: dict[str, Any] = dict(
            score=score, batch_size=batch_size, chunk_size=chunk_size, cache=cache
        )

    def __call__(self, encoder: Encoder) -> dict[str, Any]:
        training = encoder.training
        encoder.eval()  # no dropout while evaluating; the caller's mode is restored after
        try:
            corpus = read_corpus(self.folder)
            run = retrieve(encoder, self.queries, corpus, MIN_TOP_K, **self.options)
        finally:
            encoder.train(training)
        return summarize(self.qrels, run)


def write_run(path: str | os.PathLike[str], run: Mapping[str, Mapping[str, float]]) -> Path:
    """Write ``run`` as a TREC run file (``qid Q0 docid rank score finesim``), atomically."""
    target = Path(path)
    if not target.parent.is_dir():
        raise FinesimError(f"{target.parent}: no such folder for the run file")
    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8") as f:
        for query_id, scores in run.items():
            for rank, doc_id in enumerate(trec_order(scores), start=1):
                if any(c.isspace() for c in query_id + doc_id):
                    raise FinesimError(f"{target}: id {doc_id!r} or {query_id!r} has a space")
                f.write(f"{query_id} Q0 {doc_id} {rank} {scores[doc_id]:.9g} finesim\n")
    return target
