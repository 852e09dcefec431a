"""``finesim bench mine | rerank | rerank-serve``: the cross-encoder benches (hard-negative
mining, training and CSFCube reranking, /v1/rerank latency); registered by ``cli.bench``."""

from __future__ import annotations

from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, set_threads, split_names
from finesim.cli.options import BackendOpt, BenchModelOpt, JsonPathOpt, ThreadsOpt, TrainBatchOpt


def bench_mine(
    model: BenchModelOpt = "minilm",
    backend: BackendOpt = "onnx-int8",
    corpus: Annotated[int, typer.Option(min=10, help="Texts in the constructed corpus.")] = 200_000,
    pairs: Annotated[int, typer.Option(min=1, help="STS-B train pairs (score >= 4).")] = 1000,
    num_negatives: Annotated[int, typer.Option(min=1)] = 3,
    json_path: JsonPathOpt = None,
) -> None:
    """finesim mine negatives over a constructed corpus in a child process: time, peak RSS."""
    from finesim.bench.mine import run_mine_bench

    if json_path is not None and not json_path.parent.is_dir():
        raise FinesimError(f"{json_path.parent}: no such folder for the JSON output")
    emit_json(run_mine_bench(model, backend, corpus, pairs, num_negatives), json_path)


def bench_rerank(
    model: BenchModelOpt = "minilm",
    part: Annotated[str, typer.Option(help="stsb, snli, csfcube or all.")] = "stsb",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of each training run.")] = 4,
    max_steps: Annotated[
        int, typer.Option(min=0, help="Stop each run after this many steps (0: all epochs).")
    ] = 0,
    batch_size: TrainBatchOpt = 16,
    test_limit: Annotated[
        int | None, typer.Option(min=2, help="snli: a seeded subset of SNLI test (default: all).")
    ] = None,
    json_path: JsonPathOpt = None,
) -> None:
    """Cross-encoders: cross-sts beside sentence-transformers' CrossEncoderTrainer on STS-B
    (same initial folder, data, loss and settings; test Spearman, steps/s), cross-nli on SNLI
    dev scored on SNLI test, a reranker per CSFCube fold trained on its dev query-facets'
    judged pairs (test MAP / NDCG%20, alone and in --cv and --cv --learn); JSON."""
    from finesim.bench.rerank import PARTS, run_rerank_bench

    parts = list(PARTS) if part == "all" else split_names(part)
    emit_json(run_rerank_bench(model, parts, epochs, max_steps, batch_size, test_limit), json_path)


def bench_rerank_serve(
    model: BenchModelOpt = "minilm",
    reranker: Annotated[
        str | None,
        typer.Option(help="A cross-encoder folder (default: the model with a fresh head)."),
    ] = None,
    backends: Annotated[str, typer.Option(help="Reranker backends, torch among them.")] = (
        "torch,onnx,onnx-int8"
    ),
    requests: Annotated[int, typer.Option(min=1, help="Requests per backend.")] = 30,
    rounds: Annotated[int, typer.Option(min=1, help="Turns the backends take.")] = 3,
    documents: Annotated[int, typer.Option(min=1, help="Documents per request.")] = 50,
    threads: ThreadsOpt = 0,
    json_path: JsonPathOpt = None,
) -> None:
    """p50/p99 latency of /v1/rerank, 1 query x N CSFCube abstracts, on each reranker
    backend side by side, with the ONNX backends' score agreement with torch; JSON."""
    from finesim.bench.rerank_serve import run_rerank_serve_bench

    if json_path is not None and not json_path.parent.is_dir():
        raise FinesimError(f"{json_path.parent}: no such folder for the JSON output")
    set_threads(threads)
    names = split_names(backends)
    result = run_rerank_serve_bench(model, reranker, names, requests, rounds, documents)
    emit_json(result, json_path)
