"""The ``finesim bench`` commands: each prints its result as JSON (and writes it with --json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

JsonPath = Annotated[Path | None, typer.Option("--json", help="Also write the JSON here.")]


def _emit(result: dict[str, Any], path: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if path is not None:
        path.write_text(text + "\n")
    typer.echo(text)


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def encode_command(
    model: Annotated[str, typer.Option("--model", "-m")] = "minilm",
    texts: Annotated[str, typer.Option(help="stsb (2,000 sentences) or abstracts (400).")] = "stsb",
    backends: Annotated[str, typer.Option(help="finesim backends, comma-separated.")] = (
        "torch,onnx,onnx-int8"
    ),
    against: Annotated[str, typer.Option(help="Competitors, comma-separated ('' for none).")] = (
        "sentence-transformers,fastembed"
    ),
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    reps: Annotated[int, typer.Option(min=1, help="Interleaved repetitions (median).")] = 5,
    count: Annotated[int | None, typer.Option(min=1, help="Use the first N texts.")] = None,
    profile: Annotated[
        bool, typer.Option(help="Add onnxruntime per-operator time shares.")
    ] = False,
    json_path: JsonPath = None,
) -> None:
    """Texts/s of finesim's backends next to sentence-transformers and fastembed."""
    from finesim.bench.encode import run_encode_bench

    result = run_encode_bench(
        model, texts, _names(backends), _names(against), batch_size, reps, count, profile
    )
    _emit(result, json_path)


def memory_command(
    model: Annotated[str, typer.Option("--model", "-m")] = "minilm",
    backend: Annotated[str, typer.Option()] = "onnx-int8",
    lines: Annotated[int, typer.Option(min=1)] = 1_000_000,
    output_format: Annotated[str, typer.Option("--format", help="npy or parquet.")] = "npy",
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    json_path: JsonPath = None,
) -> None:
    """Peak RSS of `finesim encode` streaming a large text file (a child process)."""
    from finesim.bench.memory import run_memory_bench

    _emit(run_memory_bench(model, backend, lines, output_format, batch_size), json_path)


def register(app: typer.Typer) -> None:
    """Add ``bench encode`` and ``bench memory`` to the ``bench`` group (made if not there)."""
    bench = next(
        (g.typer_instance for g in app.registered_groups if g.name == "bench" and g.typer_instance),
        None,
    )
    if bench is None:
        bench = typer.Typer(help="Benchmarks; each prints JSON.", no_args_is_help=True)
        app.add_typer(bench, name="bench")
    bench.command("encode")(encode_command)
    bench.command("memory")(memory_command)
