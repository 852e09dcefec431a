"""``finesim rerank``: a cross-encoder orders a file of documents for one query."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json
from finesim.cli.options import BatchOpt, FieldOpt, IdFieldOpt, JsonFlag, TrustOpt


def rerank_command(
    model: Annotated[
        str, typer.Option("--model", "-m", help="A cross-encoder folder (sentence-transformers).")
    ],
    query: Annotated[str, typer.Option("--query", "-q", help="The query text.")],
    documents: Annotated[
        Path,
        typer.Option("--documents", "-d", help="Documents: .txt (one a line) .jsonl .csv .tsv"),
    ],
    top_k: Annotated[int | None, typer.Option(min=1, help="Show the best N (default all).")] = None,
    field: FieldOpt = "text",
    id_field: IdFieldOpt = None,
    batch_size: BatchOpt = 32,
    trust_pickle: TrustOpt = False,
    json_out: JsonFlag = False,
) -> None:
    """Score every document against the query with a cross-encoder, best first."""
    from finesim.data.texts import TextFile
    from finesim.models.cross_encoder import CrossEncoder

    source = TextFile(documents, field=field, id_field=id_field)
    source.check()
    records = list(source)
    if not records:
        raise FinesimError(f"{documents}: no documents")
    if not query.strip():
        raise FinesimError("--query: the query is empty")
    reranker = CrossEncoder(model, trust_pickle=trust_pickle)
    texts = [text for _, text in records]
    hits = reranker.rank(query, texts, top_k=top_k, batch_size=batch_size)
    rows = [
        {"rank": r, "id": records[h["corpus_id"]][0], "index": h["corpus_id"], "score": h["score"]}
        for r, h in enumerate(hits, start=1)
    ]
    if json_out:
        emit_json({"model": model, "query": query, "results": rows})
        return
    for row in rows:
        text = texts[int(row["index"])]
        short = text if len(text) <= 80 else text[:77] + "..."
        typer.echo(f"{row['rank']:>4}  {row['score']:.4f}  {row['id']}  {short}")
