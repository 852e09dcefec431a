"""``finesim mine paraphrases`` and ``finesim classify train/predict``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.jsonio import dumps
from finesim.cli.common import emit_json, load_encoder
from finesim.cli.options import (
    BatchOpt,
    FieldOpt,
    IdFieldOpt,
    InverseL2Opt,
    ModelOpt,
    OverwriteOpt,
)

mine_app = typer.Typer(help="Mine similar pairs from a collection of texts.", no_args_is_help=True)
classify_app = typer.Typer(
    help="Classify texts with a linear classifier on embeddings.", no_args_is_help=True
)

# Here --json picks the output format, to stdout or to --out, hence not cli_options.JsonFlag.
JsonFormatFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _texts(path: Path, field: str, id_field: str | None = None) -> tuple[list[Any], list[str]]:
    from finesim.data.texts import TextFile

    rows = list(TextFile(path, field=field, id_field=id_field))
    return [r[0] for r in rows], [r[1] for r in rows]


def _check_out(path: Path | None, overwrite: bool) -> None:
    if path is None:
        return
    if path.exists() and not overwrite:
        raise FinesimError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise FinesimError(f"{path.parent}: no such folder for the output")


def _write_rows(path: Path | None, header: list[str], rows: list[list[Any]], as_json: bool) -> None:
    """Rows as JSON lines (``.jsonl`` or --json), else tab- or comma-separated, to a file or
    stdout; files are written atomically."""
    if path is None:
        if as_json:
            emit_json([dict(zip(header, r, strict=True)) for r in rows])
        else:
            writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
            writer.writerows([header, *rows])
        return
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        if path.suffix == ".jsonl" or as_json:
            for r in rows:
                f.write(dumps(dict(zip(header, r, strict=True)), indent=None) + "\n")
        else:
            delimiter = "," if path.suffix == ".csv" else "\t"
            csv.writer(f, delimiter=delimiter, lineterminator="\n").writerows([header, *rows])


@mine_app.command("paraphrases")
def mine_paraphrases_command(
    input: Annotated[Path, typer.Argument(help="Texts: .txt .jsonl .csv .tsv .parquet")],
    model: ModelOpt = "minilm",
    field: FieldOpt = "text",
    id_field: IdFieldOpt = None,
    top_k: Annotated[int, typer.Option(min=1, help="Neighbours kept per text.")] = 5,
    threshold: Annotated[
        float | None, typer.Option(help="Keep pairs with cosine at or above this.")
    ] = None,
    max_pairs: Annotated[int | None, typer.Option(min=1, help="Keep the best N pairs.")] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Texts compared at a time (memory: chunk^2).")
    ] = 2048,
    batch_size: BatchOpt = 32,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".tsv, .csv or .jsonl (default: stdout).")
    ] = None,
    overwrite: OverwriteOpt = False,
    json_out: JsonFormatFlag = False,
) -> None:
    """The most similar pairs of texts in a file (paraphrases, duplicates), best first."""
    from finesim.tasks.paraphrase import mine_paraphrases

    _check_out(out, overwrite)
    ids, texts = _texts(input, field, id_field)
    vectors = load_encoder(model).encode(texts, batch_size=batch_size)
    pairs = mine_paraphrases(
        vectors, top_k=top_k, threshold=threshold, chunk=chunk_size, max_pairs=max_pairs
    )
    rows = [[round(s, 6), ids[i], ids[j], texts[i], texts[j]] for s, i, j in pairs]
    _write_rows(out, ["score", "id_a", "id_b", "text_a", "text_b"], rows, json_out)
    typer.echo(f"{len(rows)} pairs among {len(texts)} texts", err=True)


@classify_app.command("train")
def classify_train(
    data: Annotated[Path, typer.Option(help="Labelled texts: .csv .tsv .jsonl .parquet")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the classifier.")],
    model: ModelOpt = "minilm",
    text_field: Annotated[str, typer.Option(help="Column of the text.")] = "text",
    label_field: Annotated[str, typer.Option(help="Column of the label.")] = "label",
    test_fraction: Annotated[float, typer.Option(help="Share of rows held out.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Which rows are held out.")] = 0,
    c: InverseL2Opt = 4.0,
    batch_size: BatchOpt = 32,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing classifier.")] = False,
    train_encoder: Annotated[
        bool,
        typer.Option(
            "--train-encoder",
            help="First train the encoder on the training rows (recipe classify-center: "
            "center loss), then fit the classifier on its vectors.",
        ),
    ] = False,
    epochs: Annotated[int, typer.Option(min=1, help="With --train-encoder: epochs.")] = 1,
    encoder_out: Annotated[
        Path | None,
        typer.Option(help="With --train-encoder: folder for the trained encoder (OUT-encoder)."),
    ] = None,
    json_out: JsonFormatFlag = False,
) -> None:
    """Train a logistic-regression classifier on embeddings; accuracy on a held-out split."""
    from finesim.data.classes import read_labelled

    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the classifier")
    labelled = read_labelled(data, text_field, label_field)
    if train_encoder:
        from finesim.training.classify import train_encoder_and_classifier

        folder = encoder_out or out.with_name(out.name + "-encoder")
        if folder.exists() and any(folder.iterdir()):
            raise FinesimError(f"{folder}: exists and is not empty; pass another --encoder-out")
        head, report = train_encoder_and_classifier(
            model,
            labelled,
            folder,
            test_fraction=test_fraction,
            seed=seed,
            c=c,
            batch_size=batch_size,
            overrides=[f"epochs={epochs}"],
        )
    else:
        from finesim.tasks.classify import train_classifier

        head, report = train_classifier(
            load_encoder(model),
            labelled.texts,
            labelled.labels,
            test_fraction=test_fraction,
            seed=seed,
            c=c,
            batch_size=batch_size,
        )
    head.save(out, overwrite=overwrite)
    report["classifier"] = str(out)
    if json_out:
        emit_json(report)
        return
    typer.echo(
        f"classifier -> {out}: {len(report['classes'])} classes, held out {report['test_rows']} "
        f"rows: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} "
        f"(majority class {report['majority_baseline']:.4f})"
    )


@classify_app.command("predict")
def classify_predict(
    classifier: Annotated[Path, typer.Option(help="A folder from `finesim classify train`.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="Texts to label.")],
    field: FieldOpt = "text",
    id_field: IdFieldOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Default: the classifier's own model.")
    ] = None,
    batch_size: BatchOpt = 32,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".csv, .tsv or .jsonl (default: stdout).")
    ] = None,
    overwrite: OverwriteOpt = False,
    json_out: JsonFormatFlag = False,
) -> None:
    """Label each text with the classifier's most probable class."""
    from finesim.models.heads import LinearHead
    from finesim.tasks.classify import predict

    _check_out(out, overwrite)
    head = LinearHead.load(classifier)
    ids, texts = _texts(input, field, id_field)
    encoder = load_encoder(model or str(head.meta.get("model", "minilm")))
    labels, probabilities = predict(head, encoder, texts, batch_size=batch_size)
    rows = [
        [i, label, round(float(p), 6)]
        for i, label, p in zip(ids, labels, probabilities, strict=True)
    ]
    _write_rows(out, ["id", "label", "probability"], rows, json_out)
