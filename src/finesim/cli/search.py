"""``finesim index build/add/delete/compact/info`` and ``finesim search``: faceted search over
an index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, load_encoder, split_names
from finesim.cli.options import (
    AddressOpt,
    BatchOpt,
    EngineOpt,
    IndexModelOpt,
    JsonFlag,
    ModelOpt,
    RerankOpt,
    RerankTopOpt,
    WorkersOpt,
    ray_options,
)

index_app = typer.Typer(help="Build and extend faceted search indexes.", no_args_is_help=True)

DocsOpt = Annotated[
    Path,
    typer.Option(
        "--docs",
        help="Documents: jsonl(.gz) of id, title, abstract, labels; or a library: .bib, "
        "CSL-JSON .json, Semantic Scholar .jsonl, .csv with title and abstract columns.",
    ),
]
IndexArg = Annotated[Path, typer.Argument(help="An index folder (from `finesim index build`).")]
TaggerOpt = Annotated[
    str,
    typer.Option(
        help="Facet tagger for documents without labels: shipped (finesim's, reads the words: "
        "any model), none, or a folder (`finesim facets train`).",
    ),
]
TitleOnlyOpt = Annotated[
    bool,
    typer.Option(help="Index a library's records without an abstract by their title alone."),
]


def _tagger(value: str) -> Any:
    from finesim.facets.shipped import resolve_tagger

    return resolve_tagger(value)


def read_docs(path: Path, title_only_ok: bool = False) -> list[Any]:
    """``--docs``: finesim's jsonl as always (every record needs its abstract), or a library
    file, whose records without an abstract are named on stderr and left out (or title-only)."""
    from finesim.data.documents import read_documents
    from finesim.data.library import guess_format, read_library

    if not path.is_file():
        raise FinesimError(f"{path}: no such file")
    if guess_format(path) in (None, "jsonl"):
        return list(read_documents(path))
    library = read_library(path, title_only_ok=title_only_ok)
    for line in library.notes():
        typer.echo(f"finesim: note: {line}", err=True)
    return library.documents


def _milvus_store(store: str, uri: str | None, collection: str, precision: str) -> Any:
    """``--store``, ``--uri``, ``--collection`` checked: a ``MilvusStore`` or None (faiss)."""
    from finesim.search.milvus import MilvusStore

    if store not in ("faiss", "milvus"):
        raise FinesimError(f"--store {store!r}: choose faiss or milvus")
    if store == "faiss":
        if uri is not None:
            raise FinesimError("--uri is for --store milvus")
        return None
    if uri is None:
        raise FinesimError("--store milvus needs --uri (a Milvus Lite .db file or http://...)")
    if precision != "float32":
        raise FinesimError(f"--store milvus keeps float32 vectors; not --precision {precision}")
    return MilvusStore(uri, collection).checked()


@index_app.command("build")
def index_build(
    docs: DocsOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="The index folder to write.")],
    model: ModelOpt = "minilm",
    precision: Annotated[
        str,
        typer.Option(
            help="Stored vectors: float32, float16, int8 (in RAM); binary (sign-bit codes) or "
            "pq (IVF-PQ codes) in RAM, rescored from int8 copies on disk; auto: by size and "
            "the memory available (says what it chose).",
        ),
    ] = "float32",
    kind: Annotated[str, typer.Option(help="auto (by size), flat (exact), hnsw or ivf.")] = "auto",
    tagger: TaggerOpt = "shipped",
    title_only_ok: TitleOnlyOpt = False,
    batch_size: BatchOpt = 32,
    truncate_dim: Annotated[
        int | None,
        typer.Option(
            "--truncate-dim",
            "--dim",
            min=1,
            help="Index the first N components of each vector (Matryoshka models); recorded "
            "in the index, so its queries are encoded the same way.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index.")] = False,
    store: Annotated[
        str,
        typer.Option(
            help="Where the sentence vectors live: faiss (in the index folder) or milvus "
            "(a Milvus collection at --uri; the folder keeps the rest and points to it)."
        ),
    ] = "faiss",
    uri: Annotated[
        str | None,
        typer.Option(help="--store milvus: a Milvus Lite file (.db) or http://host:port."),
    ] = None,
    collection: Annotated[
        str, typer.Option(help="--store milvus: the collection to create (must not exist).")
    ] = "finesim_sentences",
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Index the sentences of a documents file or library (written atomically)."""
    from finesim.search.ann import check_precision, choose_kind
    from finesim.search.index import Index

    on_ray = ray_options(engine, address, workers)
    milvus = _milvus_store(store, uri, collection, precision)
    choose_kind(kind, 0)
    if precision != "auto":
        check_precision(precision)
    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the index")
    head = _tagger(tagger)
    documents = read_docs(docs, title_only_ok)
    encoder = load_encoder(model, truncate_dim=truncate_dim)
    if on_ray is not None:  # the encoding on Ray; the faiss index is built here
        from finesim.engine.ray_index import build_index_ray

        settings = {"precision": precision, "kind": kind, "tagger": head, "batch_size": batch_size}
        index = build_index_ray(encoder, documents, on_ray, out.parent, store=milvus, **settings)
    else:
        index = Index.build(
            encoder,
            documents,
            precision=precision,
            kind=kind,
            tagger=head,
            batch_size=batch_size,
            store=milvus,
        )
    if index.precision_note is not None:
        typer.echo(f"finesim: {index.precision_note}", err=True)
    index.save(out, overwrite=overwrite)
    _report(index, "indexed", len(documents), json_out)


@index_app.command("add")
def index_add(
    index: IndexArg,
    docs: DocsOpt,
    model: IndexModelOpt = None,
    title_only_ok: TitleOnlyOpt = False,
    batch_size: BatchOpt = 32,
    json_out: JsonFlag = False,
) -> None:
    """Append documents to an index (the index is rewritten atomically)."""
    from finesim._util.atomic import recover
    from finesim.search.index import Index

    recover(index)  # an index that an older finesim's interrupted replace left moved aside
    opened = Index.open(index)
    documents = read_docs(docs, title_only_ok)
    opened.use(index_encoder(opened, model))
    added = opened.add(documents, batch_size=batch_size)
    opened.save()
    _report(opened, "added", added, json_out)


@index_app.command("delete")
def index_delete(
    index: IndexArg,
    ids: Annotated[
        str | None, typer.Option("--ids", help="Ids of the papers to delete, comma-separated.")
    ] = None,
    ids_file: Annotated[
        Path | None, typer.Option("--ids-file", help="A file of ids to delete, one a line.")
    ] = None,
    ignore_missing: Annotated[
        bool, typer.Option(help="Skip ids that are not in the index instead of refusing.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Delete papers: no search finds them from now on (the index is rewritten atomically;
    `finesim index compact` then drops their vectors)."""
    from finesim._util.atomic import recover
    from finesim.search.index import Index

    if ids is None and ids_file is None:
        raise FinesimError("give the papers to delete: --ids ID,ID... or --ids-file FILE")
    wanted = split_names(ids or "") + (_ids_file(ids_file) if ids_file is not None else [])
    recover(index)
    opened = Index.open(index)
    deleted = opened.delete(wanted, ignore_missing=ignore_missing)
    if deleted:
        opened.save()
    if json_out:  # the manifest's "deleted" counts every deleted paper, these among them
        emit_json({"deleted_ids": deleted, **opened.info()})
        return
    _report(opened, "deleted", len(deleted), json_out)


def _ids_file(path: Path) -> list[str]:
    if not path.is_file():
        raise FinesimError(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise FinesimError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return [line.strip() for line in lines if line.strip()]


@index_app.command("compact")
def index_compact(index: IndexArg, json_out: JsonFlag = False) -> None:
    """Drop deleted papers for good: the faiss structure, arrays and documents are rebuilt
    without them (written atomically); searches answer as before."""
    from finesim._util.atomic import recover
    from finesim.search.index import Index

    recover(index)
    opened = Index.open(index)
    dropped = len(opened.tombstones)
    compacted = opened.compacted()
    if dropped:
        compacted.save()
    _report(compacted, "dropped", dropped, json_out)


@index_app.command("info")
def index_info(index: IndexArg) -> None:
    """Print an index's manifest (model, kind, precision, counts, files), after checking it,
    and whether compacting it is worthwhile (``compaction``)."""
    from finesim.search import store
    from finesim.search.tombstones import advice

    manifest = store.read_manifest(index)
    documents, deleted = manifest.get("documents"), manifest.get("deleted") or 0
    if not isinstance(documents, int) or not isinstance(deleted, int):
        raise FinesimError(f"{index / store.MANIFEST}: incomplete manifest (document counts)")
    emit_json({**manifest, "compaction": advice(documents, deleted)})


def index_encoder(index: Any, model: str | None) -> Any:
    """``--model`` (default: the index's own), cut as the index was (``--truncate-dim`` at
    build), so its queries and new documents get vectors of the index's dimension."""
    return load_encoder(model or index.model, truncate_dim=index.truncate_dim)


def _report(index: Any, verb: str, count: int, json_out: bool) -> None:
    info = index.info()
    if json_out:
        emit_json({verb: count, **info})
        return
    deleted = f", {info['deleted']} deleted" if info["deleted"] else ""
    typer.echo(
        f"{verb} {count} documents: {info['path']} holds {info['documents']} documents"
        f"{deleted}, {info['sentences']} sentences ({info['kind']}, {info['precision']})",
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
    rerank: RerankOpt = None,
    rerank_top: RerankTopOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Papers similar to a query on one facet, each with the sentence pairs that match;
    with --rerank, the best hits reordered by a cross-encoder."""
    from finesim.search.index import Index

    if (query is None) == (query_doc is None):
        raise FinesimError("give one of --query TEXT or --query-doc ID")
    if preset is not None and scoring != "hybrid":
        raise FinesimError(f"--preset applies to --scoring hybrid only, not {scoring!r}")
    if rerank_top is not None and rerank is None:
        raise FinesimError("--rerank-top needs --rerank MODEL (a cross-encoder)")
    opened = Index.open(index)
    reranker = None
    if rerank is not None:
        from finesim.models.cross_encoder import CrossEncoder

        reranker = CrossEncoder(rerank)
    # hybrid encodes the query's facet sentences (an index without whole vectors refuses it)
    if query is not None or (scoring == "hybrid" and opened.wholes is not None):
        opened.use(index_encoder(opened, model))
    if query is not None and facet is not None and opened.tagger is None:
        typer.echo(
            "finesim: note: the index has no facet tagger, so every query sentence is used "
            "(build it with --tagger to restrict text queries to a facet)",
            err=True,
        )
    from finesim.search.hybrid import HybridSearcher

    hits = HybridSearcher(opened).search(
        query,
        query_doc=query_doc,
        facet=facet,
        scoring=scoring,
        k=k,
        candidates=candidates,
        explain=explain,
        preset=preset,
        rerank=reranker,
        rerank_top=rerank_top,
    )
    if json_out:
        emit_json([h.to_json() for h in hits])
        return
    for hit in hits:
        first = (
            f" (first stage {hit.first_stage_score:.4f})" if hit.rerank_score is not None else ""
        )
        typer.echo(f"{hit.rank:>3}  {hit.score:8.4f}  {hit.id}  {hit.title}{first}")
        for p in hit.pairs:
            typer.echo(
                f"       [{p.query_facet or '-'}] {p.query!r}\n"
                f"     ~ [{p.candidate_facet or '-'}] {p.candidate!r}  (L2 {p.distance:.3f})"
            )
        for name, value in hit.fields.items():
            typer.echo(f"       {name}: {value}")
