"""The ``finesim`` command line. Every user error is one line on stderr and exit status 2."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from finesim._util.errors import FinesimError
from finesim.cli.options import (
    BackendOpt,
    BatchOpt,
    FieldOpt,
    IdFieldOpt,
    JsonFlag,
    ModelOpt,
    OverwriteOpt,
    PoolingOpt,
    TrustOpt,
)
from finesim.engine.options import AddressOpt, EngineOpt, WorkersOpt, ray_options

app = typer.Typer(
    help="finesim: sentence embeddings and fine-grained text similarity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log = logging.getLogger("finesim")


def _load(
    model: str, pooling: str | None = None, trust_pickle: bool = False, backend: str | None = None
) -> Any:
    from finesim.models.encoder import Encoder

    try:
        return Encoder(model, pooling=pooling, trust_pickle=trust_pickle, backend=backend)
    except ValueError as e:  # e.g. an unknown pooling name
        raise FinesimError(str(e)) from None


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
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
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Embed a file of texts. A killed run, started again, resumes from its last shard."""
    from finesim._util.progress import progress_bar
    from finesim.data.texts import TextFile
    from finesim.engine.local import EncodeOptions, check_output, count_records, encode_file

    on_ray = ray_options(engine, address, workers)
    source = TextFile(input, field=field, id_field=id_field, skip_empty=skip_empty)
    source.check()
    check_output(output, overwrite)
    total = count_records(source)
    encoder = _load(model, pooling, trust_pickle, backend)
    options = EncodeOptions(model, batch_size, max_length, normalize, shard_size, encoder.backend)
    if on_ray is not None:
        from finesim.engine.ray_encode import encode_file_ray

        args = {"pooling": pooling, "trust_pickle": trust_pickle}
        summary = encode_file_ray(source, output, options, encoder.dim, on_ray, args)
    else:
        with progress_bar(sys.stderr.isatty(), total) as advance:
            summary = encode_file(encoder, source, output, options, total, advance)
    if json_out:
        _print_json(summary)
    note = f", {summary['truncated']} truncated at {encoder.max_length} tokens"
    typer.echo(
        f"encoded {summary['rows']} texts into {output} (dimension {summary['dimension']}"
        f"{note if summary['truncated'] else ''})",
        err=True,
    )


@app.command()
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
    vectors = _load(model, pooling, trust_pickle, backend).encode(texts, normalize=True)
    matrix = np.clip(vectors @ vectors.T, -1.0, 1.0)
    if json_out:
        _print_json({"texts": texts, "cosine": np.round(matrix, 6).tolist()})
        return
    width = len(str(len(texts) - 1))
    typer.echo(" " * (width + 1) + " ".join(f"{j:>7}" for j in range(len(texts))))
    for i, row in enumerate(matrix):
        typer.echo(f"{i:>{width}} " + " ".join(f"{v:7.4f}" for v in row) + f"  {texts[i]}")


@app.command()
def info(
    model: ModelOpt = "minilm",
    pooling: PoolingOpt = None,
    trust_pickle: TrustOpt = False,
    backend: BackendOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Print a model's dimension, max length, pooling and parameter count."""
    details = _load(model, pooling, trust_pickle, backend).info()
    if json_out:
        _print_json(details)
        return
    for key, value in details.items():
        typer.echo(f"{key:>14}: {value}")


from finesim.bench.train import register as register_train_bench  # noqa: E402
from finesim.cli.adapt import register as register_adapt  # noqa: E402
from finesim.cli.bench import register as register_bench  # noqa: E402
from finesim.cli.eval import demo, eval_app, report_app  # noqa: E402
from finesim.cli.export import export_command  # noqa: E402
from finesim.cli.search import register as register_search  # noqa: E402
from finesim.cli.serve import register as register_serve  # noqa: E402
from finesim.cli.train import train_command  # noqa: E402

app.add_typer(eval_app, name="eval")
app.add_typer(report_app, name="report")
app.command("demo")(demo)
register_search(app)  # index, search, facets, mine, classify, bench search/agreement
app.command("train")(train_command)
register_adapt(app)  # adapt, whiten
register_train_bench(app)  # bench train
app.command("export")(export_command)
register_bench(app)  # bench encode/memory
register_serve(app)  # serve, bench serve


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit status 2."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(format="finesim: %(message)s", level=logging.WARNING)
    log.setLevel(logging.INFO)
    try:
        code = app(standalone_mode=False)
    except FinesimError as e:
        typer.echo(f"finesim: error: {e}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        typer.echo("finesim: interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        typer.echo(f"finesim: error: {e}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
