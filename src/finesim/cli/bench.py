"""``finesim bench ...``: every benchmark command, each printing its result as JSON.

Why one group in one module: the benchmarks themselves live in :mod:`finesim.bench`, which
knows nothing of the command line; here each is only its options, their checks and
``emit_json`` (stdout, and the file given with --json).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, load_encoder, set_threads, split_names
from finesim.cli.options import (
    BackendOpt,
    BatchOpt,
    BenchModelOpt,
    JsonPathOpt,
    ModelOpt,
    ThreadsOpt,
    TrainBatchOpt,
)

bench_app = typer.Typer(help="Benchmarks; each prints JSON.", no_args_is_help=True)


@bench_app.command("search")
def bench_search(
    docs: Annotated[
        int, typer.Option("--docs", "--papers", min=1, help="Documents in the corpus.")
    ] = 100_000,
    sentences: Annotated[
        int | None, typer.Option(help="Sentence vectors in all (default: 8 a document).")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="float32, float16, int8, binary or pq.")
    ] = "float16",
    kind: Annotated[str, typer.Option(help="auto, flat, hnsw or ivf.")] = "auto",
    source: Annotated[
        str,
        typer.Option(help="csfcube (its minilm vectors plus noise) or random (unit vectors)."),
    ] = "csfcube",
    queries: Annotated[int, typer.Option(min=1, help="Timed queries.")] = 200,
    facet: Annotated[str, typer.Option(help="Facet of the timed queries.")] = "method",
    scoring: Annotated[str, typer.Option(help="Scoring of the timed queries.")] = "min-l2",
    k: Annotated[int, typer.Option("-k", min=1)] = 10,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the temporary index (default: system temp).")
    ] = None,
    nprobe: Annotated[
        int | None, typer.Option(min=1, help="Lists probed by ivf kinds (default: 32).")
    ] = None,
    recall_queries: Annotated[
        int, typer.Option(min=0, help="Queries whose exact top 100 is computed (0: none).")
    ] = 20,
    part: Annotated[
        str,
        typer.Option(
            help="scale (the synthetic corpus) or quality (CSFCube figures through each "
            "precision, with --model; the other options do not apply)."
        ),
    ] = "scale",
    model: ModelOpt = "minilm",
    scorings: Annotated[
        str, typer.Option(help="--part quality: comma-separated scorings (hybrid: default preset).")
    ] = "min-l2,max-sim,hybrid",
    settings: Annotated[
        str | None,
        typer.Option(
            help="--part quality: comma-separated precision-kind pairs, the exact one first "
            "(default: float32-flat,float16-flat,int8-flat,binary-flat,binary-ivf,pq-ivf)."
        ),
    ] = None,
    store: Annotated[
        str, typer.Option(help="faiss, or milvus (the sentence vectors in Milvus at --uri).")
    ] = "faiss",
    uri: Annotated[
        str, typer.Option(help="--store milvus: lite (a Milvus Lite file here) or http://...")
    ] = "lite",
    json_out: JsonPathOpt = None,
) -> None:
    """Build an index of a synthetic corpus, time faceted queries and measure their recall;
    or (--part quality) CSFCube figures through each index precision. Prints JSON."""
    if part not in ("scale", "quality"):
        raise FinesimError(f"unknown --part {part!r}; use scale or quality")
    if part == "quality":
        from finesim.bench.search_quality import NPROBE, SCORINGS, SETTINGS, quality

        chosen = split_names(scorings)
        for name in chosen:
            if name not in SCORINGS:
                raise FinesimError(f"unknown scoring {name!r}; one of {', '.join(SCORINGS)}")
        pairs: list[tuple[str, str]] = list(SETTINGS)
        if settings is not None:
            split = [name.split("-", 1) for name in split_names(settings)]
            if any(len(pair) != 2 for pair in split):
                raise FinesimError(f"--settings: not precision-kind pairs: {settings!r}")
            pairs = [(a, b) for a, b in split]
        emit_json(quality(load_encoder(model), pairs, chosen, nprobe or NPROBE), json_out)
        return
    from finesim.bench.search import run_bench

    if store not in ("faiss", "milvus"):
        raise FinesimError(f"--store {store!r}: choose faiss or milvus")
    result = run_bench(
        milvus_uri=uri if store == "milvus" else None,
        docs=docs,
        sentences=sentences or 8 * docs,
        precision=precision,
        kind=kind,
        source=source,
        queries=queries,
        facet=facet,
        scoring=scoring,
        k=k,
        workdir=workdir,
        nprobe=nprobe,
        recall_queries=recall_queries,
    )
    emit_json(result, json_out)


@bench_app.command("agreement")
def bench_agreement(
    model: ModelOpt = "minilm",
    scoring: Annotated[str, typer.Option(help="Comma-separated scorings.")] = (
        "min-l2,max-sim,mean-vec"
    ),
    candidates: Annotated[str, typer.Option(help="Comma-separated stage-1 budgets.")] = (
        "100,200,500"
    ),
    kind: Annotated[str, typer.Option(help="auto, flat, hnsw or ivf.")] = "auto",
    precision: Annotated[str, typer.Option(help="float32, float16 or int8.")] = "float32",
    top: Annotated[int, typer.Option(min=1)] = 100,
    json_out: JsonPathOpt = None,
) -> None:
    """Recall of the index search against exhaustive scoring on all of CSFCube; JSON."""
    from finesim.bench.agreement import agreement
    from finesim.search.index import SCORINGS

    scorings = split_names(scoring)
    for s in scorings:
        if s not in SCORINGS:
            raise FinesimError(f"unknown scoring {s!r}; one of {', '.join(SCORINGS)}")
    try:
        budgets = [int(b) for b in split_names(candidates)]
    except ValueError:
        raise FinesimError(f"--candidates: not a list of numbers: {candidates!r}") from None
    result = agreement(
        load_encoder(model),
        scorings=scorings,
        budgets=budgets,
        kind=kind,
        precision=precision,
        top=top,
    )
    emit_json(result, json_out)


@bench_app.command("train")
def bench_train(
    model: BenchModelOpt = "minilm",
    part: Annotated[str, typer.Option(help="sts, simcse, throughput or all.")] = "all",
    steps: Annotated[int, typer.Option(min=1, help="Steps per throughput run.")] = 20,
    batch_size: TrainBatchOpt = 32,
    max_length: Annotated[int, typer.Option(min=8)] = 64,
    simcse_set: Annotated[
        list[str] | None, typer.Option("--simcse-set", help="Override a simcse-sup setting.")
    ] = None,
    json_out: JsonPathOpt = None,
) -> None:
    """Training evidence: STS before/after, SimCSE before/after, speed vs sentence-transformers."""
    from finesim.bench.train import PARTS, run_train_bench

    parts = list(PARTS) if part == "all" else part.split(",")
    result = run_train_bench(model, parts, steps, batch_size, max_length, simcse_set)
    emit_json(result, json_out)


@bench_app.command("matryoshka")
def bench_matryoshka(
    model: BenchModelOpt = "minilm",
    dims: Annotated[
        str, typer.Option(help="Dimensions the untrained model is truncated to, comma-separated.")
    ] = "384,256,128,64",
    train_dims: Annotated[
        str,
        typer.Option(help="matryoshka_dims of the trained run; both runs are evaluated at these."),
    ] = "384,128,64",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of each sbert-sts run.")] = 1,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting of both runs.")
    ] = None,
    json_path: JsonPathOpt = None,
) -> None:
    """STS-B test Spearman truncated to each dim: untrained, sbert-sts with MatryoshkaLoss and
    without (same seed), paired 95% intervals; with --json also a .md table beside it."""
    from finesim.bench.matryoshka import run_matryoshka_bench, write_markdown

    def ints(value: str, option: str) -> list[int]:
        try:
            return [int(d) for d in split_names(value)]
        except ValueError:
            raise FinesimError(f"{option}: not a list of numbers: {value!r}") from None

    result = run_matryoshka_bench(
        model, ints(dims, "--dims"), ints(train_dims, "--train-dims"), epochs, set_ or []
    )
    emit_json(result, json_path)
    if json_path is not None and str(json_path) != "-":
        write_markdown(result, json_path.with_suffix(".md"))


@bench_app.command("encode")
def bench_encode(
    model: BenchModelOpt = "minilm",
    texts: Annotated[str, typer.Option(help="stsb (2,000 sentences) or abstracts (400).")] = "stsb",
    backends: Annotated[str, typer.Option(help="finesim backends, comma-separated.")] = (
        "torch,onnx,onnx-int8,openvino"
    ),
    against: Annotated[str, typer.Option(help="Competitors, comma-separated ('' for none).")] = (
        "sentence-transformers,fastembed"
    ),
    batch_size: BatchOpt = 32,
    reps: Annotated[int, typer.Option(min=1, help="Interleaved repetitions (median).")] = 5,
    count: Annotated[int | None, typer.Option(min=1, help="Use the first N texts.")] = None,
    profile: Annotated[
        bool, typer.Option(help="Add onnxruntime per-operator time shares.")
    ] = False,
    json_path: JsonPathOpt = None,
) -> None:
    """Texts/s of finesim's backends next to sentence-transformers and fastembed."""
    from finesim.bench.encode import run_encode_bench

    result = run_encode_bench(
        model, texts, split_names(backends), split_names(against), batch_size, reps, count, profile
    )
    emit_json(result, json_path)


@bench_app.command("memory")
def bench_memory(
    model: BenchModelOpt = "minilm",
    backend: Annotated[str, typer.Option()] = "onnx-int8",
    lines: Annotated[int, typer.Option(min=1)] = 1_000_000,
    output_format: Annotated[str, typer.Option("--format", help="npy or parquet.")] = "npy",
    batch_size: BatchOpt = 32,
    json_path: JsonPathOpt = None,
) -> None:
    """Peak RSS of `finesim encode` streaming a large text file (a child process)."""
    from finesim.bench.memory import run_memory_bench

    emit_json(run_memory_bench(model, backend, lines, output_format, batch_size), json_path)


@bench_app.command("encode-engine")
def bench_encode_engine(
    model: BenchModelOpt = "minilm",
    texts: Annotated[str, typer.Option(help="stsb (short sentences) or abstracts.")] = "stsb",
    count: Annotated[int, typer.Option(min=1, help="Use the first N texts.")] = 4000,
    workers: Annotated[str, typer.Option(help="Ray pool sizes to time, comma-separated.")] = "2",
    backend: Annotated[str, typer.Option()] = "torch",
    batch_size: BatchOpt = 32,
    json_path: JsonPathOpt = None,
) -> None:
    """`finesim encode` on the local engine and on a local Ray, end to end and per core."""
    from finesim.bench.engine import run_engine_bench

    try:
        sizes = [int(w) for w in split_names(workers)]
    except ValueError:
        raise FinesimError(f"--workers: not a list of numbers: {workers!r}") from None
    if not sizes or min(sizes) < 1:
        raise FinesimError("--workers: give pool sizes of 1 or more")
    emit_json(run_engine_bench(model, texts, count, sizes, batch_size, backend), json_path)


@bench_app.command("serve")
def bench_serve(
    model: BenchModelOpt = "minilm",
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 8,
    requests: Annotated[int, typer.Option(min=1, help="Requests per mode.")] = 400,
    texts_per_request: Annotated[int, typer.Option(min=1)] = 1,
    max_wait_ms: Annotated[float, typer.Option(min=0)] = 5.0,
    backend: BackendOpt = None,
    threads: ThreadsOpt = 1,
    json_path: JsonPathOpt = None,
) -> None:
    """Requests/s and p50/p99 latency of /v1/embeddings, micro-batching off and on; JSON."""
    from finesim.bench.serve import run_serve_bench

    if json_path is not None and not json_path.parent.is_dir():
        raise FinesimError(f"{json_path.parent}: no such folder for the JSON output")
    set_threads(threads)
    result = run_serve_bench(model, clients, requests, texts_per_request, max_wait_ms, backend)
    emit_json(result, json_path)


PEER_BACKENDS = "onnx,onnx-int8"


@bench_app.command("serve-peer")
def bench_serve_peer(
    model: BenchModelOpt = "minilm",
    peer_python: Annotated[
        str | None,
        typer.Option(
            help="python of infinity's virtualenv (default $FINESIM_INFINITY_PYTHON).",
        ),
    ] = None,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 8,
    requests: Annotated[
        int, typer.Option(min=1, help="Timed requests per server and round.")
    ] = 400,
    texts_per_request: Annotated[int, typer.Option(min=1)] = 1,
    backends: Annotated[
        str, typer.Option(help="onnx, onnx-int8, comma-separated.")
    ] = "onnx,onnx-int8",
    rounds: Annotated[int, typer.Option(min=1, help="finesim / infinity alternations.")] = 2,
    json_path: JsonPathOpt = None,
) -> None:
    """finesim serve against infinity (infinity-emb): same model, load, client and backend
    class; requests/s, p50/p99, errors, RSS; JSON."""
    from finesim.bench.peer_serve import run_peer_bench

    python = peer_python or os.environ.get("FINESIM_INFINITY_PYTHON")
    if not python:
        raise FinesimError("--peer-python: give the python of infinity's virtualenv")
    if json_path is not None and not json_path.parent.is_dir():
        raise FinesimError(f"{json_path.parent}: no such folder for the JSON output")
    result = run_peer_bench(
        model, python, clients, requests, texts_per_request, split_names(backends), rounds
    )
    emit_json(result, json_path)


@bench_app.command("soak")
def bench_soak(
    model: BenchModelOpt = "minilm",
    requests: Annotated[int, typer.Option(min=1, help="Mixed requests of the soak.")] = 5000,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 4,
    papers: Annotated[int, typer.Option(min=1, help="CSFCube papers in the index.")] = 300,
    long_texts: Annotated[
        int, typer.Option(min=1, help="Abstracts in the long request of the head-of-line test.")
    ] = 256,
    max_batch_tokens: Annotated[
        int, typer.Option(min=1, help="The server's token budget, compared with none.")
    ] = 1024,
    backend: BackendOpt = None,
    threads: ThreadsOpt = 1,
    json_path: JsonPathOpt = None,
) -> None:
    """finesim serve under a bounded soak (errors, RSS before/after) and a one-sentence
    request's latency behind a long one, token budget off and on; JSON."""
    from finesim.bench.soak import run_soak_bench

    result = run_soak_bench(
        model, backend, requests, clients, papers, long_texts, max_batch_tokens, threads
    )
    emit_json(result, json_path)


@bench_app.command("classify")
def bench_classify(
    model: BenchModelOpt = "minilm",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of center loss on SNLI dev.")] = 1,
    train_limit: Annotated[
        int | None, typer.Option(min=2, help="A seeded subset of SNLI dev (default: all).")
    ] = None,
    test_limit: Annotated[
        int | None, typer.Option(min=2, help="A seeded subset of SNLI test (default: all).")
    ] = None,
    batch_size: BatchOpt = 32,
    json_path: JsonPathOpt = None,
) -> None:
    """SNLI test accuracy of `finesim classify` on the frozen encoder and on the encoder
    trained with center loss (classify-center) on SNLI dev; JSON, and NAME.md beside --json."""
    from finesim._util.atomic import atomic_path
    from finesim.bench.classify import markdown, run_classify_bench

    result = run_classify_bench(
        model, epochs=epochs, train_limit=train_limit, test_limit=test_limit, batch_size=batch_size
    )
    emit_json(result, json_path)
    if json_path is not None:
        with atomic_path(json_path.with_suffix(".md")) as tmp:
            tmp.write_text(markdown(result), encoding="utf-8")


@bench_app.command("static")
def bench_static(
    model: BenchModelOpt = "minilm",
    dim: Annotated[int, typer.Option(min=1, help="PCA width of every distilled model.")] = 256,
    systems: Annotated[str, typer.Option(help="Systems, comma-separated.")] = (
        "sentence-transformers,teacher,finesim-static,finesim-static-trained,st-static,model2vec"
    ),
    parts: Annotated[str, typer.Option(help="speed, quality or both.")] = "speed,quality",
    texts: Annotated[str, typer.Option(help="Timed text sets: stsb, abstracts.")] = (
        "stsb,abstracts"
    ),
    reps: Annotated[int, typer.Option(min=1, help="Interleaved repetitions (best).")] = 5,
    batch_size: BatchOpt = 32,
    static_batch_size: Annotated[int, typer.Option(min=1, help="Batch of static models.")] = 1024,
    count: Annotated[int | None, typer.Option(min=1, help="Time the first N texts.")] = None,
    sts_tasks: Annotated[str, typer.Option(help="STS tasks scored (all: the 7).")] = "all",
    train_recipe: Annotated[
        str, typer.Option(help="Recipe of the trained static model ('' for none).")
    ] = "simcse-sup",
    train_set: Annotated[
        list[str] | None, typer.Option("--train-set", help="Override a training setting.")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the distilled and trained models here.")
    ] = None,
    threads: ThreadsOpt = 0,
    json_path: JsonPathOpt = None,
) -> None:
    """Static models (finesim distill, + training, model2vec) against their teacher:
    sentences/s, STS, CSFCube abstract, size; JSON, and NAME.md beside --json."""
    from finesim._util.atomic import atomic_path
    from finesim.bench.static import StaticBench, check, run_static_bench
    from finesim.bench.static_report import markdown

    bench = StaticBench(
        model=model,
        dim=dim,
        systems=split_names(systems),
        parts=split_names(parts),
        texts=split_names(texts),
        reps=reps,
        batch_size=batch_size,
        static_batch_size=static_batch_size,
        count=count,
        sts_tasks=sts_tasks,
        train_recipe=train_recipe,
        train_set=list(train_set or []),
        workdir=workdir,
    )
    check(bench)
    set_threads(threads)
    result = run_static_bench(bench)
    emit_json(result, json_path)
    if json_path is not None and str(json_path) != "-":
        with atomic_path(json_path.with_suffix(".md")) as tmp:
            tmp.write_text(markdown(result), encoding="utf-8")


def _register_cross_benches() -> None:
    from finesim.cli.bench_rerank import bench_mine, bench_rerank, bench_rerank_serve

    bench_app.command("mine")(bench_mine)
    bench_app.command("rerank")(bench_rerank)
    bench_app.command("rerank-serve")(bench_rerank_serve)


_register_cross_benches()
