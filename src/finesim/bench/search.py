"""``finesim bench search``: build time, size, peak memory, latency and recall at scale.

Encoding 800,000 sentences on two cores takes hours, so the corpus is synthesised: each paper
copies a random CSFCube paper (title, sentences, facet labels) and its minilm sentence
vectors with Gaussian noise added and re-normalised (``source='csfcube'``), or takes random
unit vectors (``source='random'``). Building and querying each run in a fresh process, so
each peak RSS is that stage's own. Latency is of ``Index.search`` with a paper of the corpus
as the query (``--query-doc``): stage 1, stage 2, explanations and reading the hits' texts;
encoding a text query is not included.

Recall is of the exact multi-vector top ``RECALL_K`` (min-l2 or max-sim, the query restricted
to its facet, every sentence of every paper): brute force over the corpus synthesised again
chunk by chunk (the same seeds, so the same float vectors), for the first ``recall_queries``
timed queries, in a third process so that the search's peak RSS stays its own. Binary and pq
indexes keep their float vectors nowhere: the corpus goes to disk chunk by chunk as int8.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError

NOISE = 0.02  # per dimension; cosine to the source sentence about 0.93 at 384 dimensions
CHUNK = 5_000  # papers synthesised and added at a time
TRAIN_SAMPLE = 150_000  # vectors to train ivf centroids / int8 ranges on
RECALL_K = 100


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _base(source: str, workdir: Path) -> Path:
    """Save the papers to copy (vectors, labels, texts) once, for the stage processes."""
    path = workdir / "base.npz"
    if source == "csfcube":
        from finesim.data.csfcube import load_papers
        from finesim.data.documents import normalize_label
        from finesim.evaluation.csfcube import embed_papers
        from finesim.models.encoder import Encoder

        papers = load_papers()
        docs = embed_papers(Encoder("minilm"), papers, whole=False)
        pids = list(papers)
        vectors = np.concatenate([docs[p].vectors for p in pids])
        labels = [normalize_label(x) for p in pids for x in papers[p].labels]
        texts = [{"title": papers[p].title, "sentences": papers[p].sentences} for p in pids]
    elif source == "random":
        rng = np.random.default_rng(0)
        n, dim = 4_000, 384
        vectors = rng.standard_normal((8 * n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        labels = list(rng.choice(["background", "method", "result"], 8 * n))
        texts = [
            {"title": f"paper {i}", "sentences": [f"sentence {j}" for j in range(8)]}
            for i in range(n)
        ]
    else:
        raise FinesimError(f"unknown source {source!r}; use csfcube or random")
    sizes = [len(t["sentences"]) for t in texts]
    np.savez(
        path,
        vectors=vectors,
        starts=np.r_[0, np.cumsum(sizes)],
        labels=np.array(labels),
        texts=np.array([json.dumps(t) for t in texts]),
    )
    return path


def _synthesise(base: Path, docs: int, sentences: int, source: str) -> Iterator[tuple[Any, Any]]:
    """Chunks of (documents, sentence vectors): copies of base papers, vectors with noise."""
    from finesim.data.documents import Document

    data = np.load(base)
    vectors, starts, labels = data["vectors"], data["starts"], data["labels"]
    texts = data["texts"]
    rng = np.random.default_rng(1)
    lengths = np.diff(starts)
    picks = rng.integers(0, len(lengths), docs)
    scale = sentences / float(lengths[picks].sum())
    counts = np.maximum(1, np.floor(lengths[picks] * scale + rng.random(docs))).astype(int)
    noise = NOISE if source == "csfcube" else 0.0
    for begin in range(0, docs, CHUNK):
        chunk, rows = [], []
        for i in range(begin, min(docs, begin + CHUNK)):
            base_doc = int(picks[i])
            text = json.loads(str(texts[base_doc]))
            cycle = np.arange(counts[i]) % lengths[base_doc]
            rows.append(starts[base_doc] + cycle)
            chunk.append(
                Document(
                    f"syn{i:07d}",
                    [text["sentences"][j] for j in cycle],
                    [str(labels[starts[base_doc] + j]) for j in cycle],
                    text["title"],
                )
            )
        block = vectors[np.concatenate(rows)].astype(np.float32)
        if noise:
            block += noise * rng.standard_normal(block.shape, dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        yield chunk, block


def build_stage(args: dict[str, Any]) -> dict[str, Any]:
    """Synthesise the corpus chunk by chunk into a new index and save it."""
    from finesim.search.index import Index

    start = time.perf_counter()
    base = Path(args["base"])
    dim = int(np.load(base)["vectors"].shape[1])
    store = None
    if args.get("milvus"):
        from finesim.search.milvus import MilvusStore

        store = MilvusStore(**args["milvus"])
    index = Index.new(
        dim,
        model=f"synthetic-{args['source']}",
        fingerprint=f"synthetic-{args['source']}",
        precision=args["precision"],
        kind=args["kind"],
        expected=args["sentences"],
        store=store,
    )
    synth_seconds = 0.0
    chunks = _synthesise(base, args["docs"], args["sentences"], args["source"])
    pending: list[tuple[Any, np.ndarray]] = []
    if not index.ann.trained:  # ivf centroids / int8 ranges: learn from a sample first
        t = time.perf_counter()
        sample: list[np.ndarray] = []
        while sum(len(b) for b in sample) < TRAIN_SAMPLE:
            try:
                docs, block = next(chunks)
            except StopIteration:
                break
            sample.append(block)
            pending.append((docs, block))
        synth_seconds += time.perf_counter() - t
        index.ann.train(np.concatenate(sample)[:TRAIN_SAMPLE])
        del sample
    t_add = 0.0
    for docs, block in pending:
        t = time.perf_counter()
        index.add_vectors(docs, block)
        t_add += time.perf_counter() - t
    pending.clear()
    while True:
        t = time.perf_counter()
        item = next(chunks, None)
        synth_seconds += time.perf_counter() - t
        if item is None:
            break
        t = time.perf_counter()
        index.add_vectors(*item)
        t_add += time.perf_counter() - t
    t = time.perf_counter()
    index.save(Path(args["out"]))
    save_seconds = time.perf_counter() - t
    return {
        "build_seconds": time.perf_counter() - start - synth_seconds,
        "synthesis_seconds": synth_seconds,
        "add_seconds": t_add,
        "save_seconds": save_seconds,
        "documents": len(index),
        "sentence_vectors": index.ann.size,
        "dimension": dim,
        "kind": index.ann.kind,
        "first_stage": index.ann.describe() or None,
        "peak_rss_mb": _peak_rss_mb(),
    }


def query_stage(args: dict[str, Any]) -> dict[str, Any]:
    """Open the index (checksums verified) and time faceted query-by-document searches."""
    from finesim.search.hybrid import HybridSearcher
    from finesim.search.index import Index

    t = time.perf_counter()
    index = Index.open(Path(args["out"]))
    open_seconds = time.perf_counter() - t
    if args.get("nprobe"):
        index.search_params["nprobe"] = int(args["nprobe"])
    searcher = HybridSearcher(index)  # any scoring, hybrid included
    queries = [index.ids[i] for i in query_positions(len(index), args["queries"] + 5)]
    times, found = [], []
    for n, ident in enumerate(queries):
        t = time.perf_counter()
        hits = searcher.search(
            query_doc=ident, facet=args["facet"], scoring=args["scoring"], k=args["k"]
        )
        if n >= 5:  # the first few warm caches up
            times.append(time.perf_counter() - t)
            found.append(len(hits))
    ms = np.array(times) * 1000
    return {
        "open_seconds": open_seconds,
        "queries": len(times),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "hits_per_query": float(np.mean(found)),
        "peak_rss_mb": _peak_rss_mb(),
    }


def query_positions(documents: int, n: int) -> np.ndarray:
    """The query papers (the first five warm up): the same for the query and recall stages."""
    return np.random.default_rng(2).choice(documents, n, replace=False)


def recall_stage(args: dict[str, Any]) -> dict[str, Any]:
    """Recall of the exact top ``RECALL_K`` by the index's search, on a few queries."""
    from finesim.bench.search_recall import exact_top
    from finesim.search.index import Index

    index = Index.open(Path(args["out"]), verify=False)
    if args.get("nprobe"):
        index.search_params["nprobe"] = int(args["nprobe"])
    chosen = query_positions(len(index), args["queries"] + 5)[5:][: args["recall_queries"]]
    positions = [int(p) for p in chosen]
    scoring = args["scoring"] if args["scoring"] in ("min-l2", "max-sim") else "min-l2"
    t = time.perf_counter()
    base, docs, sentences, source = (
        Path(args["base"]),
        args["docs"],
        args["sentences"],
        args["source"],
    )

    def chunks() -> Iterator[tuple[Any, Any]]:
        return _synthesise(base, docs, sentences, source)

    truth = exact_top(chunks, positions, args["facet"], scoring, RECALL_K)
    exact_seconds = time.perf_counter() - t
    recalls = []
    for position, want in zip(positions, truth, strict=True):
        hits = index.search(
            query_doc=index.ids[position],
            facet=args["facet"],
            scoring=scoring,
            k=RECALL_K,
            explain=0,
        )
        recalls.append(len({h.id for h in hits} & set(want)) / max(1, len(want)))
    return {
        "scoring": scoring,
        "k": RECALL_K,
        "queries": len(recalls),
        "mean_recall": float(np.mean(recalls)) if recalls else None,
        "min_recall": float(np.min(recalls)) if recalls else None,
        "exact_seconds": exact_seconds,
        "what": "share of the exact float multi-vector top k (brute force over the corpus "
        "synthesised again) in the index's top k (default candidate budget)",
    }


STAGES = {"build": build_stage, "query": query_stage, "recall": recall_stage}


def _run_stage(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run a stage in a fresh Python process, so its peak RSS is its own (and its temp files,
    such as a compressed index's int8 rows before saving, in the bench's folder)."""
    proc = subprocess.run(
        [sys.executable, "-m", "finesim.bench.search", name, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TMPDIR": str(Path(args["out"]).parent)},
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise FinesimError(f"bench stage {name} failed: {tail[0]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _disk(folder: Path, *more: Path) -> dict[str, Any]:
    """Sizes of the index folder's files (and of ``more``: a Milvus Lite file or folder)."""
    paths = [p for root in (folder, *more) for p in [root, *sorted(root.rglob("*"))]]
    files = {p.name: p.stat().st_size for p in paths if p.is_file()}
    return {
        "total_mb": sum(files.values()) / 2**20,
        "files_mb": {k: v / 2**20 for k, v in files.items()},
    }


def run_bench(
    *,
    docs: int,
    sentences: int,
    precision: str,
    kind: str,
    source: str,
    queries: int,
    facet: str,
    scoring: str,
    k: int,
    workdir: Path | None,
    nprobe: int | None = None,
    recall_queries: int = 20,
    milvus_uri: str | None = None,
) -> dict[str, Any]:
    """Build an index of a synthetic corpus, time queries on it and measure their recall;
    returns the figures. ``milvus_uri``: keep the sentence vectors in Milvus there ('lite':
    a Milvus Lite file in the bench's folder, measured with the index)."""
    import faiss

    from finesim.bench.machine import machine_summary
    from finesim.search.ann import check_precision, choose_kind, factory_string

    chosen = choose_kind(kind, sentences, check_precision(precision))
    compressed = precision in ("binary", "pq")
    factory = None if compressed else factory_string(chosen, precision, sentences)
    if milvus_uri is not None and precision != "float32":
        raise FinesimError(f"--store milvus keeps float32 vectors; not --precision {precision}")
    with tempfile.TemporaryDirectory(dir=workdir, prefix="bench-search-") as tmp:
        folder = Path(tmp)
        args = {
            "base": str(_base(source, folder)),
            "out": str(folder / "index"),
            "docs": docs,
            "sentences": sentences,
            "precision": precision,
            "kind": kind,
            "source": source,
            "queries": queries,
            "facet": facet,
            "scoring": scoring,
            "k": k,
            "nprobe": nprobe,
            "recall_queries": recall_queries,
        }
        lite = folder / "milvus.db"
        if milvus_uri is not None:
            uri = str(lite) if milvus_uri == "lite" else milvus_uri
            args["milvus"] = {"uri": uri, "collection": f"bench_{os.getpid()}_{time.time_ns()}"}
            factory = None
        build = _run_stage("build", args)
        disk = _disk(folder / "index", *([lite] if lite.exists() else []))
        query = _run_stage("query", args)
        recall = _run_stage("recall", args) if recall_queries else None
    described = (
        f"CSFCube minilm sentence vectors (4,205 papers) copied with N(0, {NOISE}^2) noise per "
        "dimension and re-normalised; titles, sentences and facet labels copied"
        if source == "csfcube"
        else "random unit vectors"
    )
    return {
        "benchmark": "finesim bench search",
        "corpus": {
            "documents": docs,
            "sentence_vectors": build["sentence_vectors"],
            "dimension": build["dimension"],
            "vectors": described,
        },
        "index": {
            "kind": build["kind"],
            "precision": precision,
            "faiss": factory or build.get("first_stage"),
            "nprobe": nprobe or 32 if build["kind"] == "ivf" else None,
            "store": "milvus" if milvus_uri is not None else "faiss",
        },
        "build": build,
        "disk": disk,
        "search": {
            "facet": facet,
            "scoring": scoring,
            "k": k,
            "query": "a corpus paper (--query-doc)",
            **query,
        },
        "recall": recall,
        "machine": {
            **machine_summary(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "faiss": faiss.__version__,
        },
    }


if __name__ == "__main__":
    stage, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(STAGES[stage](json.loads(raw))))  # noqa: T201
