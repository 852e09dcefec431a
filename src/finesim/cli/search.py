"""``finesim index build/add/info``, ``finesim search`` and ``finesim bench search/agreement``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim.cli.options import (
    BatchOpt,
    IndexModelOpt,
    JsonFlag,
    JsonPathOpt,
    ModelOpt,
    bench_group,
)
from finesim.engine.options import AddressOpt, EngineOpt, WorkersOpt, ray_options

index_app = typer.Typer(help="Build and extend faceted search indexes.", no_args_is_help=True)

DocsOpt = Annotated[
    Path, typer.Option("--docs", help="Documents: jsonl(.gz) of id, title, abstract, labels.")
]
IndexArg = Annotated[Path, typer.Argument(help="An index folder (from `finesim index build`).")]


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _encoder(model: str) -> Any:
    from finesim.cli.main import _load

    return _load(model)


def _tagger(path: Path | None) -> Any:
    if path is None:
        return None
    from finesim.facets.tagger import FacetTagger

    return FacetTagger.load(path)


@index_app.command("build")
def index_build(
    docs: DocsOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="The index folder to write.")],
    model: ModelOpt = "minilm",
    precision: Annotated[
        str, typer.Option(help="Stored vectors: float32, float16 or int8.")
    ] = "float32",
    kind: Annotated[str, typer.Option(help="auto (by size), flat (exact), hnsw or ivf.")] = "auto",
    tagger: Annotated[
        Path | None,
        typer.Option(help="Facet tagger (`finesim facets train`) for unlabelled documents."),
    ] = None,
    batch_size: BatchOpt = 32,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index.")] = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Index the sentences of a documents file (written atomically)."""
    from finesim.data.documents import read_documents
    from finesim.search.ann import choose_kind, factory_string
    from finesim.search.index import Index

    on_ray = ray_options(engine, address, workers)
    choose_kind(kind, 0)
    factory_string("flat", precision, 0)
    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the index")
    documents = list(read_documents(docs))
    head = _tagger(tagger)
    if on_ray is not None:  # the encoding on Ray; the faiss index is built here
        from finesim.engine.ray_index import build_index_ray

        settings = {"precision": precision, "kind": kind, "tagger": head, "batch_size": batch_size}
        index = build_index_ray(_encoder(model), documents, on_ray, out.parent, **settings)
    else:
        index = Index.build(
            _encoder(model),
            documents,
            precision=precision,
            kind=kind,
            tagger=head,
            batch_size=batch_size,
        )
    index.save(out, overwrite=overwrite)
    _report(index, "indexed", len(documents), json_out)


@index_app.command("add")
def index_add(
    index: IndexArg,
    docs: DocsOpt,
    model: IndexModelOpt = None,
    batch_size: BatchOpt = 32,
    json_out: JsonFlag = False,
) -> None:
    """Append documents to an index (the index is rewritten atomically)."""
    from finesim.data.documents import read_documents
    from finesim.search.index import Index

    opened = Index.open(index)
    documents = list(read_documents(docs))
    opened.use(_encoder(model or opened.model))
    added = opened.add(documents, batch_size=batch_size)
    opened.save()
    _report(opened, "added", added, json_out)


@index_app.command("info")
def index_info(index: IndexArg) -> None:
    """Print an index's manifest (model, kind, precision, counts, files), after checking it."""
    from finesim.search import store

    _echo_json(store.read_manifest(index))


def _report(index: Any, verb: str, count: int, json_out: bool) -> None:
    info = index.info()
    if json_out:
        _echo_json({verb: count, **info})
        return
    typer.echo(
        f"{verb} {count} documents: {info['path']} holds {info['documents']} documents, "
        f"{info['sentences']} sentences ({info['kind']}, {info['precision']})",
        err=True,
    )


def search(
    index: IndexArg,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Query text.")] = None,
    query_doc: Annotated[
        str | None, typer.Option("--query-doc", help="Id of an indexed document as the query.")
    ] = None,
    facet: Annotated[
        str | None, typer.Option(help="background, method or result (default: all sentences).")
    ] = None,
    scoring: Annotated[
        str, typer.Option(help="min-l2, max-sim, ot, mean-vec or hybrid (see --preset).")
    ] = "min-l2",
    preset: Annotated[
        str | None,
        typer.Option(
            help="Hybrid scoring's preset: a shipped name or a JSON file (default: default)."
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="Hits to return.")] = 10,
    candidates: Annotated[
        int | None, typer.Option(min=1, help="Papers re-ranked exactly (default by scoring).")
    ] = None,
    explain: Annotated[int, typer.Option(min=0, help="Sentence pairs shown per hit.")] = 3,
    model: IndexModelOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Papers similar to a query on one facet, each with the sentence pairs that match."""
    from finesim.search.index import Index

    if (query is None) == (query_doc is None):
        raise FinesimError("give one of --query TEXT or --query-doc ID")
    if preset is not None and scoring != "hybrid":
        raise FinesimError(f"--preset applies to --scoring hybrid only, not {scoring!r}")
    opened = Index.open(index)
    # hybrid encodes the query's facet sentences (an index without whole vectors refuses it)
    if query is not None or (scoring == "hybrid" and opened.wholes is not None):
        opened.use(_encoder(model or opened.model))
    if query is not None and facet is not None and opened.tagger is None:
        typer.echo(
            "finesim: note: the index has no facet tagger, so every query sentence is used "
            "(build it with --tagger to restrict text queries to a facet)",
            err=True,
        )
    hits = opened.search(
        query,
        query_doc=query_doc,
        facet=facet,
        scoring=scoring,
        k=k,
        candidates=candidates,
        explain=explain,
        preset=preset,
    )
    if json_out:
        _echo_json([h.to_json() for h in hits])
        return
    for hit in hits:
        typer.echo(f"{hit.rank:>3}  {hit.score:8.4f}  {hit.id}  {hit.title}")
        for p in hit.pairs:
            typer.echo(
                f"       [{p.query_facet or '-'}] {p.query!r}\n"
                f"     ~ [{p.candidate_facet or '-'}] {p.candidate!r}  (L2 {p.distance:.3f})"
            )
        for name, value in hit.fields.items():
            typer.echo(f"       {name}: {value}")


def bench_search(
    docs: Annotated[int, typer.Option("--docs", min=1, help="Documents in the corpus.")] = 100_000,
    sentences: Annotated[
        int | None, typer.Option(help="Sentence vectors in all (default: 8 a document).")
    ] = None,
    precision: Annotated[str, typer.Option(help="float32, float16 or int8.")] = "float16",
    kind: Annotated[str, typer.Option(help="auto, flat, hnsw or ivf.")] = "auto",
    source: Annotated[
        str,
        typer.Option(help="csfcube (its minilm vectors plus noise) or random (unit vectors)."),
    ] = "csfcube",
    queries: Annotated[int, typer.Option(min=1, help="Timed queries.")] = 200,
    facet: Annotated[str, typer.Option(help="Facet of the timed queries.")] = "method",
    scoring: Annotated[str, typer.Option(help="Scoring of the timed queries.")] = "min-l2",
    k: Annotated[int, typer.Option("-k", min=1)] = 10,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the temporary index (default: system temp).")
    ] = None,
    json_out: JsonPathOpt = None,
) -> None:
    """Build an index of a synthetic corpus and time faceted queries; prints JSON."""
    from finesim.bench.search import run_bench

    result = run_bench(
        docs=docs,
        sentences=sentences or 8 * docs,
        precision=precision,
        kind=kind,
        source=source,
        queries=queries,
        facet=facet,
        scoring=scoring,
        k=k,
        workdir=workdir,
    )
    _emit(result, json_out)


def bench_agreement(
    model: ModelOpt = "minilm",
    scoring: Annotated[str, typer.Option(help="Comma-separated scorings.")] = (
        "min-l2,max-sim,mean-vec"
    ),
    candidates: Annotated[str, typer.Option(help="Comma-separated stage-1 budgets.")] = (
        "100,200,500"
    ),
    kind: Annotated[str, typer.Option(help="auto, flat, hnsw or ivf.")] = "auto",
    precision: Annotated[str, typer.Option(help="float32, float16 or int8.")] = "float32",
    top: Annotated[int, typer.Option(min=1)] = 100,
    json_out: JsonPathOpt = None,
) -> None:
    """Recall of the index search against exhaustive scoring on all of CSFCube; JSON."""
    from finesim.bench.agreement import agreement
    from finesim.search.index import SCORINGS

    scorings = [s.strip() for s in scoring.split(",") if s.strip()]
    for s in scorings:
        if s not in SCORINGS:
            raise FinesimError(f"unknown scoring {s!r}; one of {', '.join(SCORINGS)}")
    try:
        budgets = [int(b) for b in candidates.split(",") if b.strip()]
    except ValueError:
        raise FinesimError(f"--candidates: not a list of numbers: {candidates!r}") from None
    result = agreement(
        _encoder(model),
        scorings=scorings,
        budgets=budgets,
        kind=kind,
        precision=precision,
        top=top,
    )
    _emit(result, json_out)


def _emit(result: dict[str, Any], path: Path | None) -> None:
    text = json.dumps(result, indent=2)
    typer.echo(text)
    if path is not None:
        if not path.parent.is_dir():
            raise FinesimError(f"{path.parent}: no such folder for the output")
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add the search family: index, search, facets, mine, classify, bench search/agreement."""
    from finesim.cli.facets import facets_app
    from finesim.cli.tasks import classify_app, mine_app

    app.add_typer(index_app, name="index")
    app.command("search")(search)
    app.add_typer(facets_app, name="facets")
    app.add_typer(mine_app, name="mine")
    app.add_typer(classify_app, name="classify")
    bench = bench_group(app)
    bench.command("search")(bench_search)
    bench.command("agreement")(bench_agreement)
