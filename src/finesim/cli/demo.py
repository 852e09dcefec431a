"""``finesim demo`` (what ``make demo`` runs): the main job on CSFCube, then its figures.

Prints two faceted queries by example (top 3, with the sentence pairs that explain each),
then the evaluation table beside the published anchors, and writes the HTML report. Each
stage says on stderr what it is doing, and encoding reports its progress.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from finesim.cli.common import load_encoder
from finesim.cli.options import BatchOpt, ModelOpt


def _stage(start: float, text: str) -> None:
    typer.echo(f"finesim: [{time.monotonic() - start:5.1f} s] {text}", err=True)


def _print_example(example: dict[str, Any]) -> None:
    query = example["query"]
    facet = query["facet"]
    typer.echo(
        f"\nPapers like {query['id']} “{query['title']}” on its {facet}"
        f" ({example['scoring']}, all {example['corpus']:,} papers):"
    )
    for s in query["sentences"]:
        if s["facet"] == facet:
            typer.echo(f"  query [{facet}] {s['text']}")
    for hit in example["hits"]:
        judged = (
            f"judged {hit['grade']} ({hit['grade_name']})"
            if hit["grade"] is not None
            else "not judged"
        )
        typer.echo(f"  {hit['rank']}. {hit['title']}  [{hit['id']}, {judged}]")
        for p in hit["pairs"]:
            typer.echo(
                f"       [{p['query_facet'] or '-'}] {p['query']}\n"
                f"     ~ [{p['candidate_facet'] or '-'}] {p['candidate']}  "
                f"(cosine {p['similarity']:.2f})"
            )


def _print_rows(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from finesim.evaluation.stats import with_interval

    table = Table(title="CSFCube, all facets, two-fold test: MAP and NDCG%20 [95% interval]")
    for name in ("system", "MAP", "NDCG%20", "queries"):
        table.add_column(name, justify="left" if name in ("system", "queries") else "right")
    for row in rows:
        ci = (row.get("ci95") or {}).get("all") or {}
        figures = row["figures"]["all"]
        table.add_row(
            row["name"],
            *(with_interval(figures[m], ci.get(m)) for m in ("map", "ndcg%20")),
            row["queries"],
        )
    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough for one line a row
        console = Console(width=118)
    console.print(table)
    for row in rows:
        typer.echo(f"  {row['name']}: {row['note']}")


def demo(
    model: ModelOpt = "minilm",
    report: Annotated[Path, typer.Option(help="Folder for the HTML report.")] = Path(
        "demo-output/report"
    ),
    batch_size: BatchOpt = 32,
) -> None:
    """On CSFCube: two faceted queries by example, explained; the evaluation table beside the
    published figures; an HTML report."""
    from finesim.evaluation.demo import (
        demo_index,
        describe,
        evaluation_rows,
        example_pools,
        query_by_example,
    )
    from finesim.evaluation.demo_report import write_demo_report

    start = time.monotonic()
    _stage(start, f"loading {model}")
    encoder = load_encoder(model)
    _stage(start, "indexing CSFCube's 4,205 abstracts sentence by sentence (cached after once)")
    index = demo_index(encoder, batch_size)
    examples = []
    first = None
    for pool in example_pools():
        _stage(start, f"searching the papers like {pool.qpid} on its {pool.facet}")
        example = query_by_example(index, pool)
        _print_example(example)
        examples.append(example)
        first = first if first is not None else time.monotonic() - start
    _stage(start, "evaluating: min-l2, abstract, hybrid (preset; weights fitted per fold)")
    rows = evaluation_rows(encoder, batch_size)
    typer.echo("")
    _print_rows(rows)
    total = time.monotonic() - start
    timings = {"first_result": first or total, "total": total}
    result = {
        "about": describe(encoder, index, examples),
        "examples": examples,
        "rows": rows,
        "timings": timings,
    }
    report.parent.mkdir(parents=True, exist_ok=True)
    page = write_demo_report(result, report)
    typer.echo(f"\nreport: {page}", err=True)
    typer.echo(
        f"done in {total:.0f} s (first result after {timings['first_result']:.0f} s)", err=True
    )
