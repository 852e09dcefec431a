"""``finesim adapt`` and ``finesim whiten``: fit an encoder to a user's corpus, no labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim._util.jsonio import dumps
from finesim.cli.common import load_encoder
from finesim.cli.options import BatchOpt, ModelOpt, TrainBatchOpt

DataOpt = Annotated[
    str, typer.Option(help="Documents: a .jsonl/.jsonl.gz file (as for search) or 'csfcube'.")
]


def adapt_command(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (model in out/last).")],
    model: ModelOpt = "minilm",
    objectives: Annotated[
        str, typer.Option(help="Comma-separated: simcse, title-abstract, same-abstract.")
    ] = "simcse,title-abstract",
    steps: Annotated[int, typer.Option(min=1)] = 200,
    batch_size: TrainBatchOpt = 32,
    lr: Annotated[float, typer.Option(min=0.0)] = 2e-5,
    temperature: Annotated[float, typer.Option(min=1e-4)] = 0.05,
    max_length: Annotated[int, typer.Option(min=8)] = 128,
    seed: int = 42,
    checkpoint_every: Annotated[int, typer.Option(min=1)] = 50,
    resume: Annotated[bool, typer.Option(help="Continue from out/last after a crash.")] = False,
) -> None:
    """Unsupervised domain adaptation (contrastive, on the corpus texts); resumable."""
    from finesim.training.adapt import AdaptSettings, adapt

    settings = AdaptSettings(
        tuple(o.strip() for o in objectives.split(",") if o.strip()),
        steps,
        batch_size,
        lr,
        temperature,
        max_length,
        seed,
        checkpoint_every,
    )
    summary = adapt(model, data, out, settings, resume=resume)
    typer.echo(f"adapted {summary['steps']} steps; model in {out / 'last'}", err=True)


def whiten_command(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the whitened model.")],
    model: ModelOpt = "minilm",
    dim: Annotated[int | None, typer.Option(min=1, help="Keep k dimensions (default all).")] = None,
    batch_size: BatchOpt = 32,
    overwrite: bool = False,
) -> None:
    """Fit BERT-whitening on the corpus texts and save it with the model (switch it off with
    ``Encoder(folder, whitening=False)``)."""
    from finesim.data.corpus import corpus_texts, describe, load_corpus
    from finesim.models.cache import encode_cached
    from finesim.models.whitening import whiten_encoder

    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    encoder = load_encoder(model)
    if dim is not None and dim > encoder.dim:
        raise FinesimError(f"--dim {dim}: the model has only {encoder.dim} dimensions")
    docs = load_corpus(data)
    texts = corpus_texts(docs)
    vectors = encode_cached(encoder, texts, batch_size=batch_size)
    try:
        whiten_encoder(
            encoder, texts, dim, vectors=vectors, record={"model": model, **describe(data, docs)}
        )
    except ValueError as e:
        raise FinesimError(str(e)) from None
    encoder.save(out, overwrite=overwrite)
    # one line, not emit_json's indented block: the record of the saved model
    typer.echo(dumps({"out": str(out), "dim": encoder.dim, "texts": len(texts)}, indent=None))
