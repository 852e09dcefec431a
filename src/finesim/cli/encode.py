"""``finesim encode``, ``similarity`` and ``info``: one model applied to the user's texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, load_encoder
from finesim.cli.options import (
    AddressOpt,
    AsOpt,
    BackendOpt,
    BatchOpt,
    EngineOpt,
    FieldOpt,
    IdFieldOpt,
    JsonFlag,
    ModelOpt,
    OverwriteOpt,
    PoolingOpt,
    PromptNameOpt,
    PromptOpt,
    TrustOpt,
    WorkersOpt,
    prompting,
    ray_options,
)


def encode(
    input: Annotated[
        Path, typer.Option("--input", "-i", help="Texts: .txt .jsonl .csv .tsv .parquet")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Vectors: .npy or .parquet")],
    model: ModelOpt = "minilm",
    field: FieldOpt = "text",
    id_field: IdFieldOpt = None,
    batch_size: BatchOpt = 32,
    max_length: Annotated[int | None, typer.Option(min=2, help="Cut inputs at N tokens.")] = None,
    normalize: Annotated[
        bool | None, typer.Option("--normalize/--no-normalize", help="Default: the model's own.")
    ] = None,
    overwrite: OverwriteOpt = False,
    skip_empty: Annotated[bool, typer.Option(help="Skip empty texts instead of failing.")] = False,
    shard_size: Annotated[int, typer.Option(min=1, help="Rows per resumable shard.")] = 10_000,
    pooling: PoolingOpt = None,
    trust_pickle: TrustOpt = False,
    backend: BackendOpt = None,
    truncate_dim: Annotated[
        int | None, typer.Option(min=1, help="Keep the first N components (Matryoshka).")
    ] = None,
    prompt_name: PromptNameOpt = None,
    prompt: PromptOpt = None,
    as_: AsOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Embed a file of texts. A killed run, started again, resumes from its last shard.

    ``--as query`` / ``--as document`` encode as ``encode_query`` / ``encode_document``: the
    model's prompt and route for that side (models such as e5 or a Router need it)."""
    from finesim._util.progress import progress_bar
    from finesim.data.texts import TextFile
    from finesim.engine.local import EncodeOptions, check_output, count_records, encode_file

    on_ray = ray_options(engine, address, workers)
    source = TextFile(input, field=field, id_field=id_field, skip_empty=skip_empty)
    source.check()
    check_output(output, overwrite)
    total = count_records(source)
    encoder = load_encoder(model, pooling, trust_pickle, backend, truncate_dim)
    chosen = prompting(encoder, prompt_name, prompt, as_)
    options = EncodeOptions(encoder.spec, batch_size, max_length, normalize, shard_size, **chosen)
    if on_ray is not None:
        from finesim.engine.ray_encode import encode_file_ray

        summary = encode_file_ray(source, output, options, encoder.dim, on_ray)
    else:
        with progress_bar(True, total) as advance:
            summary = encode_file(encoder, source, output, options, total, advance)
    if json_out:
        emit_json(summary)
    note = f", {summary['truncated']} truncated at {encoder.max_length} tokens"
    typer.echo(
        f"encoded {summary['rows']} texts into {output} (dimension {summary['dimension']}"
        f"{note if summary['truncated'] else ''})",
        err=True,
    )


def similarity(
    texts: Annotated[list[str], typer.Argument(help="Two or more texts.")],
    model: ModelOpt = "minilm",
    pooling: PoolingOpt = None,
    trust_pickle: TrustOpt = False,
    backend: BackendOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Print the cosine similarity matrix of the given texts."""
    import numpy as np

    if len(texts) < 2:
        raise FinesimError("similarity needs at least two texts")
    vectors = load_encoder(model, pooling, trust_pickle, backend).encode(texts, normalize=True)
    matrix = np.clip(vectors @ vectors.T, -1.0, 1.0)
    if json_out:
        emit_json({"texts": texts, "cosine": np.round(matrix, 6).tolist()})
        return
    width = len(str(len(texts) - 1))
    typer.echo(" " * (width + 1) + " ".join(f"{j:>7}" for j in range(len(texts))))
    for i, row in enumerate(matrix):
        typer.echo(f"{i:>{width}} " + " ".join(f"{v:7.4f}" for v in row) + f"  {texts[i]}")


def info(
    model: ModelOpt = "minilm",
    pooling: PoolingOpt = None,
    trust_pickle: TrustOpt = False,
    backend: BackendOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Print a model's dimension, max length, pooling and parameter count."""
    details = load_encoder(model, pooling, trust_pickle, backend).info()
    if json_out:
        emit_json(details)
        return
    for key, value in details.items():
        typer.echo(f"{key:>14}: {value}")
