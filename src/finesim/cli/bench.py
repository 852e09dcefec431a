"""The ``finesim bench`` commands: each prints its result as JSON (and writes it with --json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from finesim.cli.options import BatchOpt, BenchModelOpt, JsonPathOpt, bench_group


def _emit(result: dict[str, Any], path: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if path is not None:
        path.write_text(text + "\n")
    typer.echo(text)


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def encode_command(
    model: BenchModelOpt = "minilm",
    texts: Annotated[str, typer.Option(help="stsb (2,000 sentences) or abstracts (400).")] = "stsb",
    backends: Annotated[str, typer.Option(help="finesim backends, comma-separated.")] = (
        "torch,onnx,onnx-int8"
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
        model, texts, _names(backends), _names(against), batch_size, reps, count, profile
    )
    _emit(result, json_path)


def encode_engine_command(
    model: BenchModelOpt = "minilm",
    texts: Annotated[str, typer.Option(help="stsb (short sentences) or abstracts.")] = "stsb",
    count: Annotated[int, typer.Option(min=1, help="Use the first N texts.")] = 4000,
    workers: Annotated[str, typer.Option(help="Ray pool sizes to time, comma-separated.")] = "2",
    backend: Annotated[str, typer.Option()] = "torch",
    batch_size: BatchOpt = 32,
    json_path: JsonPathOpt = None,
) -> None:
    """`finesim encode` on the local engine and on a local Ray, end to end and per core."""
    from finesim._util.errors import FinesimError
    from finesim.bench.engine import run_engine_bench

    try:
        sizes = [int(w) for w in _names(workers)]
    except ValueError:
        raise FinesimError(f"--workers: not a list of numbers: {workers!r}") from None
    if not sizes or min(sizes) < 1:
        raise FinesimError("--workers: give pool sizes of 1 or more")
    _emit(run_engine_bench(model, texts, count, sizes, batch_size, backend), json_path)


def memory_command(
    model: BenchModelOpt = "minilm",
    backend: Annotated[str, typer.Option()] = "onnx-int8",
    lines: Annotated[int, typer.Option(min=1)] = 1_000_000,
    output_format: Annotated[str, typer.Option("--format", help="npy or parquet.")] = "npy",
    batch_size: BatchOpt = 32,
    json_path: JsonPathOpt = None,
) -> None:
    """Peak RSS of `finesim encode` streaming a large text file (a child process)."""
    from finesim.bench.memory import run_memory_bench

    _emit(run_memory_bench(model, backend, lines, output_format, batch_size), json_path)


def register(app: typer.Typer) -> None:
    """Add ``bench encode``, ``memory`` and ``encode-engine`` to ``bench`` (made if not there)."""
    bench = bench_group(app)
    bench.command("encode")(encode_command)
    bench.command("memory")(memory_command)
    bench.command("encode-engine")(encode_engine_command)
