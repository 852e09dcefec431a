"""``finesim papers LIBRARY``: a researcher's library to a faceted search page, in one command.

Reads the library (BibTeX, CSL-JSON, Semantic Scholar JSON, CSV or finesim JSONL), builds the
index beside it (or adds the new papers to the index a former run built), labels sentences
with the shipped facet tagger, and serves the search page on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, load_encoder, set_threads
from finesim.cli.options import BatchOpt, JsonFlag, ThreadsOpt
from finesim.cli.search import TaggerOpt, TitleOnlyOpt

LibraryArg = Annotated[
    Path,
    typer.Argument(
        help="The library: .bib, CSL-JSON .json (Zotero, Mendeley), Semantic Scholar / S2ORC "
        ".jsonl, .csv with title and abstract columns, or finesim .jsonl.",
    ),
]


def _open_browser(url: str) -> None:
    """Open ``url`` in a graphical browser if this machine has one; say so otherwise."""
    import webbrowser

    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    try:  # without a display, webbrowser would start a text browser in this terminal
        opened = not headless and webbrowser.get().open_new_tab(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        typer.echo("finesim: note: no browser to open here; open the URL yourself", err=True)


def _tagger_name(tagger: Any) -> str:
    import numpy as np

    from finesim.facets.shipped import shipped_tagger

    if tagger is None:
        return "no facet tagger"
    shipped = shipped_tagger().head
    same = tagger.head.weight.shape == shipped.weight.shape and np.array_equal(
        tagger.head.weight, shipped.weight
    )
    return "shipped facet tagger" if same else "its own facet tagger"


def _summary(library: Any, synced: Any, out: Path) -> list[str]:
    from finesim.data.library import FORMAT_NAMES

    info = synced.index.info()
    lines = [f"{library.path}: {len(library.documents):,} papers ({FORMAT_NAMES[library.format]})"]
    lines += [f"  {note}" for note in library.notes()]
    if synced.new:
        done = f"built with {synced.added:,} papers"
    elif synced.rebuilt:
        done = f"built again ({synced.rebuilt})"
    elif synced.added:
        done = f"added {synced.added:,} new papers to the {synced.kept:,} already indexed"
    else:
        done = f"up to date ({synced.kept:,} papers)"
    how = _tagger_name(synced.index.tagger)
    lines.append(
        f"index {out}: {done}; {info['documents']:,} papers, {info['sentences']:,} sentences, "
        f"model {synced.index.model}, {how}"
    )
    return lines


def papers_command(
    library: LibraryArg,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Model name or folder (default: the index's own, else minilm)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The index folder (default: LIBRARY's name + .idx)."),
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in a browser, where there is one.")
    ] = False,
    library_format: Annotated[
        str,
        typer.Option("--format", help="auto (from the name), bibtex, csl-json, s2, csv, jsonl."),
    ] = "auto",
    title_only_ok: TitleOnlyOpt = False,
    tagger: TaggerOpt = "shipped",
    rebuild: Annotated[
        bool, typer.Option(help="Build the index afresh (another model, or a tagger change).")
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the page after building.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 8000,
    threads: ThreadsOpt = 1,
    batch_size: BatchOpt = 32,
    json_out: JsonFlag = False,
) -> None:
    """Index a library of papers (only the new ones when run again) and serve its search page."""
    from finesim._util.atomic import recover
    from finesim.data.library import read_library
    from finesim.facets.shipped import resolve_tagger
    from finesim.models.encoder import Encoder
    from finesim.search.index import Index
    from finesim.search.sync import sync_index
    from finesim.serve.server import bind, url_of

    out = out or library.with_name(Path(library.name.removesuffix(".gz")).stem + ".idx")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the index")
    head = resolve_tagger(tagger)
    found = read_library(library, format=library_format, title_only_ok=title_only_ok)
    sock = bind(host, port) if serve else None  # a taken port fails now, not after building
    try:
        recover(out)  # an index a crash left moved aside
        if model is None and out.exists():
            existing = Index.open(out)
            spec = existing.spec
            encoder = Encoder.from_spec(spec) if spec else load_encoder(existing.model)
        else:
            encoder = load_encoder(model or "minilm")
        synced = sync_index(
            out, found.documents, encoder, tagger=head, rebuild=rebuild, batch_size=batch_size
        )
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    url = f"{url_of(sock)}/" if sock is not None else None
    if json_out:
        emit_json(
            {
                "library": str(library),
                "format": found.format,
                "papers": len(found.documents),
                "without_abstract": found.without_abstract,
                "title_only": found.title_only,
                "added": synced.added,
                "rebuilt": synced.rebuilt,
                "url": url,
                **synced.index.info(),
            }
        )
    else:
        for line in _summary(found, synced, out):
            typer.echo(line, err=True)
    if sock is None or url is None:
        return
    _serve(synced.index, encoder, out, sock, url, open_page, threads, host)


def _serve(
    index: Any,
    encoder: Any,
    out: Path,
    sock: Any,
    url: str,
    open_page: bool,
    threads: int,
    host: str,
) -> None:
    from urllib.parse import urlencode

    from finesim.serve.app import create_app
    from finesim.serve.server import serve_forever
    from finesim.serve.service import Limits, Service

    set_threads(threads)
    name = out.name.removesuffix(".idx") or "papers"
    service = Service(
        encoder, encoder.source, {name: index}, Limits(), os.environ.get("FINESIM_API_KEY")
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not service.api_key:
        typer.echo(f"finesim: warning: listening on {host} without FINESIM_API_KEY", err=True)
    example = f"{url}?" + urlencode({"q": index.ids[0], "facet": "method"})
    typer.echo(f"Search page: {url}  (papers like {index.ids[0]!r}: {example}; Ctrl-C stops)")
    if open_page:
        _open_browser(url)
    try:
        serve_forever(create_app(service), sock, "warning")
    except KeyboardInterrupt:
        typer.echo("finesim: server stopped", err=True)
    finally:
        service.close()
