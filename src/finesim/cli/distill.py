"""``finesim distill``: a static embedding model (sentence-transformers ``StaticEmbedding``)
distilled from any encoder, the model2vec way (``finesim.models.distill``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim._util.jsonio import dumps
from finesim.cli.common import load_encoder
from finesim.cli.options import BatchOpt, ModelOpt, OverwriteOpt, PoolingOpt, TrustOpt


def distill_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the static model.")],
    model: ModelOpt = "minilm",
    dim: Annotated[int, typer.Option(min=1, help="Dimensions kept by the PCA.")] = 256,
    vocab: Annotated[
        Path | None,
        typer.Option(help="Corpus (.txt, .jsonl, .csv...): its frequent unknown words join."),
    ] = None,
    vocab_field: Annotated[str, typer.Option(help="jsonl field or column of --vocab.")] = "text",
    max_words: Annotated[int, typer.Option(min=1, help="At most this many corpus words.")] = 20000,
    min_count: Annotated[int, typer.Option(min=1, help="A corpus word's least count.")] = 2,
    sif: Annotated[
        float, typer.Option(min=0.0, help="SIF coefficient of the Zipf weighting (0: none).")
    ] = 1e-4,
    batch_size: BatchOpt = 256,
    pooling: PoolingOpt = None,
    trust_pickle: TrustOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Distil a static model from --model: the teacher's vector for every token, PCA, SIF
    weights; saved as a sentence-transformers StaticEmbedding folder."""
    from finesim.data.texts import TextFile
    from finesim.models.distill import (
        DistillSettings,
        distill_tower,
        save_distilled,
        static_encoder,
    )

    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the static model")
    if vocab is not None:
        TextFile(vocab, vocab_field).check()
    settings = DistillSettings(
        dim=dim,
        sif=sif or None,
        vocab=vocab,
        max_words=max_words,
        min_count=min_count,
        vocab_field=vocab_field,
        batch_size=batch_size,
    )
    teacher = load_encoder(model, pooling=pooling, trust_pickle=trust_pickle)
    tower, record = distill_tower(teacher, settings)
    encoder = static_encoder(tower, str(out))
    save_distilled(encoder, out, record, overwrite=overwrite)
    summary = {"out": str(out), "dim": encoder.dim, "tokens": record["tokens"]}
    summary["corpus_words"] = record["corpus_words"]
    typer.echo(dumps(summary, indent=None))
