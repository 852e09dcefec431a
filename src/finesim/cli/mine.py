"""``finesim mine negatives``: hard negatives for (anchor, positive) pairs, as training triples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import load_encoder
from finesim.cli.options import BackendOpt, BatchOpt, ModelOpt, OverwriteOpt

Opt = typer.Option


def negatives_command(
    pairs: Annotated[Path, Opt(help="(anchor, positive) pairs: .jsonl / .csv / .tsv.")],
    out: Annotated[Path, Opt(help="Triples (.jsonl: anchor, positive, negative).")],
    model: ModelOpt = "minilm",
    corpus: Annotated[
        Path | None, Opt(help="Texts to draw negatives from (default: the positives).")
    ] = None,
    field: Annotated[str, Opt(help="The corpus file's text field or column.")] = "text",
    anchor_field: Annotated[str, Opt(help="The pairs' anchor field.")] = "anchor",
    positive_field: Annotated[str, Opt(help="The pairs' positive field.")] = "positive",
    num_negatives: Annotated[int, Opt(min=1, help="Negatives per pair.")] = 3,
    range_min: Annotated[int, Opt(min=0, help="Skip the nearest N candidates.")] = 0,
    range_max: Annotated[
        int | None, Opt(min=1, help="Consider the nearest N (default from the others).")
    ] = None,
    max_score: Annotated[float | None, Opt(help="Drop candidates scoring above.")] = None,
    min_score: Annotated[float | None, Opt(help="Drop candidates scoring below.")] = None,
    absolute_margin: Annotated[
        float | None, Opt(help="Keep negatives at least this far below the positive.")
    ] = None,
    relative_margin: Annotated[
        float | None, Opt(help="Keep negatives below positive x (1 - margin).")
    ] = None,
    sampling: Annotated[str, Opt(help="top (nearest first) or random (seeded).")] = "top",
    seed: Annotated[int, Opt(help="Seed of random sampling.")] = 12,
    output_scores: Annotated[
        bool, Opt(help="Add negative_score and positive_score fields.")
    ] = False,
    batch_size: BatchOpt = 32,
    backend: BackendOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Mine hard negatives as sentence-transformers' mine_hard_negatives does, over a faiss
    index of the corpus queried in chunks (memory: the corpus vectors, not queries x corpus)."""
    from finesim._util.atomic import atomic_path
    from finesim.data.pairs import load_examples
    from finesim.data.texts import TextFile
    from finesim.search.mine import MineOptions, mine

    if out.exists() and not overwrite:
        raise FinesimError(f"{out}: exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the output")
    if out.suffix.lower() != ".jsonl":
        raise FinesimError(f"{out}: triples are written as .jsonl")
    columns = {"anchor": anchor_field, "positive": positive_field}
    examples = load_examples(str(pairs), "pairs", columns)
    pair_texts = [(e.texts["anchor"], e.texts["positive"]) for e in examples]
    texts = [t for _, t in TextFile(corpus, field=field)] if corpus is not None else []
    options = MineOptions(
        num_negatives=num_negatives,
        range_min=range_min,
        range_max=range_max,
        max_score=max_score,
        min_score=min_score,
        absolute_margin=absolute_margin,
        relative_margin=relative_margin,
        sampling_strategy=sampling,
        seed=seed,
        batch_size=batch_size,
    )
    options.check()
    encoder = load_encoder(model, backend=backend)
    written = 0
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8") as f:
        for triple in mine(encoder, pair_texts, texts, options):
            row: dict[str, object] = {
                "anchor": triple.anchor,
                "positive": triple.positive,
                "negative": triple.negative,
            }
            if output_scores:
                row["negative_score"] = round(triple.score, 6)
                row["positive_score"] = round(triple.positive_score, 6)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    typer.echo(f"mined {written} triples for {len(pair_texts)} pairs into {out}", err=True)
