"""``finesim facets train`` and ``finesim facets predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, load_encoder
from finesim.cli.options import BatchOpt, InverseL2Opt, ModelOpt, OverwriteOpt

facets_app = typer.Typer(
    help="Tag abstract sentences as background, method, result or other.", no_args_is_help=True
)


@facets_app.command("train")
def facets_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tagger.")],
    model: ModelOpt = "minilm",
    docs: Annotated[
        Path | None,
        typer.Option(help="Labelled documents jsonl(.gz) (default: CSFCube's abstracts)."),
    ] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of papers held out.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Which papers are held out.")] = 0,
    c: InverseL2Opt = 4.0,
    features: Annotated[
        str,
        typer.Option(
            help="embedding (the model's sentence vectors) or text (TF-IDF of words and word "
            "pairs: works with every model; the shipped tagger is one)."
        ),
    ] = "embedding",
    terms: Annotated[int, typer.Option(min=1, help="Vocabulary size of --features text.")] = 4000,
    batch_size: BatchOpt = 32,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing tagger.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fit the tagger on sentence features + positions; report accuracy on held-out papers."""
    from finesim.data.csfcube import ABSTRACTS
    from finesim.data.documents import read_documents
    from finesim.data.paths import data_path
    from finesim.facets.train import train_tagger

    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the tagger")
    documents = list(read_documents(docs or data_path("csfcube", ABSTRACTS)))
    tagger, report = train_tagger(
        load_encoder(model) if features == "embedding" else None,
        documents,
        test_fraction=test_fraction,
        seed=seed,
        c=c,
        batch_size=batch_size,
        features=features,
        terms=terms,
    )
    tagger.head.meta["trained_on"] = str(docs) if docs else f"$FINESIM_DATA/csfcube/{ABSTRACTS}"
    tagger.save(out, overwrite=overwrite)
    report["tagger"] = str(out)
    if json_out:
        emit_json(report)
        return
    typer.echo(
        f"facet tagger -> {out}: held-out papers {report['test_documents']} "
        f"({report['test_sentences']} sentences): accuracy {report['accuracy']:.4f}, "
        f"macro-F1 {report['macro_f1']:.4f}"
    )
    for name, row in report["per_class"].items():
        typer.echo(
            f"  {name:>10}: precision {row['precision']:.3f} recall {row['recall']:.3f} "
            f"F1 {row['f1']:.3f} (n={row['support']})"
        )


@facets_app.command("predict")
def facets_predict(
    tagger: Annotated[
        str, typer.Option(help="A tagger folder (`finesim facets train`), or shipped.")
    ],
    docs: Annotated[Path, typer.Option(help="Documents jsonl(.gz).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Documents with labels, jsonl.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Default: the tagger's own model.")
    ] = None,
    relabel: Annotated[
        bool, typer.Option(help="Replace labels the documents already have.")
    ] = False,
    batch_size: BatchOpt = 32,
    overwrite: OverwriteOpt = False,
) -> None:
    """Label the sentences of documents that have no labels (all of them with --relabel)."""
    from finesim.data.documents import read_documents, write_documents
    from finesim.facets.shipped import resolve_tagger
    from finesim.facets.tagger import fill_labels
    from finesim.models.cache import sentence_vectors

    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    head = resolve_tagger(tagger)
    if head is None:
        raise FinesimError("--tagger none: name a tagger folder, or shipped")
    documents = list(read_documents(docs))
    if relabel:
        for doc in documents:
            doc.labels = None
    vectors = None
    if not head.reads_text:  # a text tagger needs no model
        encoder = load_encoder(model or head.model)
        head.check(encoder.fingerprint())
        vectors = sentence_vectors(encoder, documents, batch_size=batch_size, cache=False)
    labelled = fill_labels(head, documents, vectors)
    write_documents(documents, out)
    typer.echo(f"labelled {labelled} of {len(documents)} documents -> {out}", err=True)
