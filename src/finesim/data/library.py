"""A researcher's library as documents: BibTeX, CSL-JSON, Semantic Scholar / S2ORC JSON,
CSV with title and abstract columns, and finesim's own JSONL.

``read_library(path)`` tells the format from the file name (and, for ``.json``/``.jsonl``,
from the first record), reads every record and returns the documents with what was left out:

- ``.bib`` (``finesim.data.bibtex``): the entry key is the id.
- ``.json``: CSL-JSON, the array Zotero, Mendeley and citeproc tools export (``id``,
  ``title``, ``abstract``; rich text such as ``<i>`` or Crossref's JATS is made plain), or a
  Semantic Scholar API answer (an array of papers, or ``{"data": [...]}``).
- ``.jsonl`` (``.gz`` too): Semantic Scholar papers (Graph API fields ``paperId``/``corpusId``,
  ``title``, ``abstract``; S2ORC 2020 ``paper_id`` with ``abstract`` as text or as paragraphs
  ``[{"text"}]``; S2ORC 2023 ``corpusid`` with ``content.text`` and its ``annotations``), or
  else finesim's documents (``finesim.data.documents``).
- ``.csv``/``.tsv``: a header row; columns ``abstract`` (also Zotero's ``Abstract Note``),
  ``title``, ``id`` (or ``key``), ``doi``, ``year``, ``author``, ``url`` matched without
  regard to case, spaces or underscores. Rows without an id get their DOI, or a hash of the
  title, so that the same paper keeps its id when the library grows.

A record without an abstract is not an error: it is left out and counted (``without_abstract``),
or with ``title_only_ok`` indexed by its title alone. A malformed record (broken syntax, an id
missing or repeated, a field of the wrong type) is a ``FinesimError`` naming the file and the
line (and for BibTeX the entry key): nothing is indexed from a library that is half read.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem, parse_json
from finesim.data.bibtex import read_bibtex
from finesim.data.documents import Document, parse_document, split_sentences
from finesim.data.records import Entry, clean_text, read_text, strip_markup, suffix, title_id
from finesim.data.tables import read_table

FORMATS = ("bibtex", "csl-json", "s2", "csv", "jsonl")
FORMAT_NAMES = {
    "bibtex": "BibTeX",
    "csl-json": "CSL-JSON",
    "s2": "Semantic Scholar JSON",
    "csv": "CSV",
    "jsonl": "finesim JSONL",
}
_S2_KEYS = ("paperId", "corpusId", "corpusid", "externalIds", "externalids")
SHOWN = 5  # ids named in a report of records left out


@dataclass
class Library:
    """The documents of a library file, and the ids of the records left out of them."""

    path: Path
    format: str
    documents: list[Document]
    without_abstract: list[str] = field(default_factory=list)  # title-only, or left out
    title_only: bool = False  # were they indexed by their title?
    empty: list[str] = field(default_factory=list)  # neither title nor abstract: left out

    def notes(self) -> list[str]:
        """One line per kind of record left out or indexed by title only (none: nothing)."""
        lines = []
        if self.without_abstract:
            n, ids = _records(len(self.without_abstract)), _first(self.without_abstract)
            if self.title_only:
                lines.append(f"{n} no abstract: indexed by the title only ({ids})")
            else:
                lines.append(
                    f"{n} no abstract: left out ({ids}); "
                    "--title-only-ok indexes such records by their title"
                )
        if self.empty:
            lines.append(
                f"{_records(len(self.empty))} neither title nor abstract: left out "
                f"({_first(self.empty)})"
            )
        return lines


def _records(n: int) -> str:
    return "1 record has" if n == 1 else f"{n:,} records have"


def _first(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN])
    return f"first: {shown}" if len(ids) > SHOWN else shown


# ---- finding the format ---------------------------------------------------------------------


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def _is_s2(record: object) -> bool:
    if not isinstance(record, dict):
        return False
    if any(k in record for k in _S2_KEYS) or isinstance(record.get("content"), dict):
        return True
    abstract = record.get("abstract")
    return isinstance(abstract, list) and any(isinstance(p, dict) for p in abstract)


def _first_record(path: Path) -> object:
    try:
        with _open(path) as f:
            for raw in f:
                if raw.strip():
                    return json.loads(raw)
    except (OSError, EOFError, *JSON_ERRORS):
        return None  # the reader names the problem with its line
    return None


def detect_format(path: Path) -> str:
    """The library format of ``path``, from its name and, for JSON, its first record."""
    found = guess_format(path)
    if found is None:
        raise FinesimError(
            f"{path}: cannot tell the library format from the name; pass --format "
            f"({', '.join(FORMATS)})"
        )
    return found


def guess_format(path: Path) -> str | None:
    """``detect_format``, or None for a name it does not know."""
    ext = suffix(path)
    if ext in (".bib", ".bibtex"):
        return "bibtex"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "s2" if _is_s2(_first_record(path)) else "jsonl"
    if ext == ".json":
        data = _json_document(path)
        items = data.get("data") if isinstance(data, dict) else data
        if isinstance(items, list) and items and _is_s2(items[0]):
            return "s2"
        return "csl-json"
    return None


# ---- JSON ------------------------------------------------------------------------------------


def _json_document(path: Path) -> Any:
    with _open(path) as f:
        text = read_text(path, f.read())
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FinesimError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    except JSON_ERRORS as e:
        raise FinesimError(f"{path}: invalid JSON ({json_problem(e)})") from None


def _json_items(path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, item) for each item of a JSON array (or of ``{"data"|"items": [...]}``),
    the line being where the item starts."""
    with _open(path) as f:
        text = read_text(path, f.read())
    decoder = json.JSONDecoder()
    at = len(text) - len(text.lstrip())
    try:
        if text.startswith("{", at):
            data, _ = decoder.raw_decode(text, at)
            items = data.get("data", data.get("items")) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise FinesimError(f"{path}: expected a JSON array of papers (or 'data': [...])")
            for number, item in enumerate(items, start=1):
                yield f"{path}: item {number}", item
            return
        if not text.startswith("[", at):
            raise FinesimError(f"{path}:1: expected a JSON array of papers")
        at += 1
        number = 0
        while True:
            at = _skip_space(text, at)
            if text.startswith("]", at):
                return
            number += 1
            item, end = decoder.raw_decode(text, at)
            yield f"{path}:{text.count(chr(10), 0, at) + 1}", item
            at = _skip_space(text, end)
            if text.startswith(",", at):
                at += 1
            elif not text.startswith("]", at):
                line = text.count("\n", 0, at) + 1
                raise FinesimError(f"{path}:{line}: expected ',' or ']' after item {number}")
    except json.JSONDecodeError as e:
        raise FinesimError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    except JSON_ERRORS as e:
        raise FinesimError(f"{path}: invalid JSON ({json_problem(e)})") from None


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, record) for each non-empty line of a JSON-lines file (``.gz`` too)."""
    try:
        with _open(path) as f:
            for number, raw in enumerate(f, start=1):
                where = f"{path}:{number}"
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise FinesimError(f"{where}: not valid UTF-8") from None
                yield where, parse_json(line, where)
    except (OSError, EOFError) as e:  # a truncated or corrupt .gz
        raise FinesimError(f"{path}: cannot read ({e})") from None


def _text_field(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FinesimError(f"{where}: field {name!r} must be text, not {type(value).__name__}")
    return value


def _ident(value: object, where: str, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise FinesimError(f"{where}: field {name!r} (the paper's id) is missing or empty")
    return str(value).strip()


def _record(where: str, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise FinesimError(f"{where}: expected a JSON object, not {type(item).__name__}")
    return item


# ---- CSL-JSON --------------------------------------------------------------------------------


def _csl_authors(value: object) -> list[str]:
    names = []
    for person in value if isinstance(value, list) else []:
        if isinstance(person, dict):
            parts = [person.get("given"), person.get("family")]
            name = person.get("literal") or " ".join(str(p) for p in parts if p)
            if name:
                names.append(clean_text(str(name)))
    return names


def _csl_year(value: object) -> str | None:
    if isinstance(value, dict):
        parts = value.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            return str(parts[0][0])
        if value.get("raw"):
            return str(value["raw"])
    return None


def read_csl_json(path: Path) -> Iterator[Entry]:
    """CSL-JSON items: ``id`` (else DOI, else a hash of the title), ``title``, ``abstract``."""
    for where, item in _json_items(path):
        record = _record(where, item)
        title = strip_markup(_text_field(record, "title", where))
        abstract = strip_markup(_text_field(record, "abstract", where))
        extra: dict[str, Any] = {}
        if isinstance(record.get("type"), str):
            extra["type"] = record["type"]
        year = _csl_year(record.get("issued"))
        if year:
            extra["year"] = year
        authors = _csl_authors(record.get("author"))
        if authors:
            extra["authors"] = authors
        for source, name in (("DOI", "doi"), ("URL", "url"), ("container-title", "venue")):
            if isinstance(record.get(source), str) and record[source].strip():
                extra[name] = clean_text(record[source])
        ident = record.get("id")
        if ident is None or ident == "":
            ident = extra.get("doi") or title_id(title)
        yield Entry(_ident(ident, where, "id"), title, abstract or None, where, extra)


# ---- Semantic Scholar / S2ORC ----------------------------------------------------------------


def _spans(content: dict[str, Any], name: str) -> str:
    """S2ORC 2023: the text of annotation ``name`` (a JSON list of {start, end} spans)."""
    text = content.get("text")
    spans = (content.get("annotations") or {}).get(name)
    if isinstance(spans, str):
        try:
            spans = json.loads(spans)
        except JSON_ERRORS:
            return ""
    if not isinstance(text, str) or not isinstance(spans, list):
        return ""
    pieces = []
    for span in spans:
        if isinstance(span, dict):
            start, end = span.get("start"), span.get("end")
            if isinstance(start, int) and isinstance(end, int):
                pieces.append(text[start:end])
    return " ".join(pieces)


def _s2_abstract(record: dict[str, Any], where: str) -> str:
    value = record.get("abstract")
    if isinstance(value, list):  # S2ORC 2020 pdf_parses: paragraphs
        texts = [p.get("text") for p in value if isinstance(p, dict)]
        return " ".join(t for t in texts if isinstance(t, str))
    if value is None and isinstance(record.get("content"), dict):
        return _spans(record["content"], "abstract")
    return _text_field(record, "abstract", where)


def _s2_entry(where: str, item: object) -> Entry:
    record = _record(where, item)
    name = next((k for k in ("paperId", "corpusId", "corpusid", "paper_id") if k in record), "")
    ident = _ident(record.get(name), where, name or "paperId")
    title = _text_field(record, "title", where)
    if not title and isinstance(record.get("content"), dict):
        title = _spans(record["content"], "title")
    extra: dict[str, Any] = {}
    if isinstance(record.get("year"), (int, str)) and record["year"]:
        extra["year"] = str(record["year"])
    authors = [a.get("name") for a in record.get("authors") or [] if isinstance(a, dict)]
    if any(authors):
        extra["authors"] = [str(a) for a in authors if a]
    ids = record.get("externalIds") or record.get("externalids") or {}
    doi = (ids.get("DOI") or ids.get("doi")) if isinstance(ids, dict) else None
    doi = doi or record.get("doi")
    if isinstance(doi, str) and doi:
        extra["doi"] = doi
    for key in ("venue", "url"):
        if isinstance(record.get(key), str) and record[key]:
            extra[key] = record[key]
    abstract = clean_text(_s2_abstract(record, where))
    return Entry(ident, clean_text(title), abstract or None, where, extra)


def read_s2(path: Path) -> Iterator[Entry]:
    """Semantic Scholar / S2ORC papers: JSON lines, or a ``.json`` API answer."""
    items = _json_items(path) if suffix(path) == ".json" else _json_lines(path)
    for where, item in items:
        yield _s2_entry(where, item)


# ---- CSV -------------------------------------------------------------------------------------


def read_finesim_jsonl(path: Path) -> Iterator[Entry]:
    """finesim's documents (``finesim.data.documents``); one without an abstract is an entry
    without one (left out or title-only), not an error."""
    for where, item in _json_lines(path):
        record = _record(where, item)
        abstract = record.get("abstract", record.get("text"))
        if abstract not in (None, "", []) and not (
            isinstance(abstract, str) and not abstract.strip()
        ):
            doc = parse_document(record, where)
            yield Entry(doc.id, doc.title, doc.sentences, where, doc.extra, document=doc)
            continue
        name = "id" if "id" in record else "paper_id"
        ident = _ident(record.get(name), where, name)
        title = clean_text(_text_field(record, "title", where))
        yield Entry(ident, title, None, where, {})


READERS: dict[str, Callable[[Path], Iterator[Entry]]] = {
    "bibtex": read_bibtex,
    "csl-json": read_csl_json,
    "s2": read_s2,
    "csv": read_table,
    "jsonl": read_finesim_jsonl,
}


# ---- entries to documents --------------------------------------------------------------------


def _sentences(entry: Entry) -> list[str]:
    if isinstance(entry.abstract, list):
        return [s.strip() for s in entry.abstract if s.strip()]
    return split_sentences(entry.abstract) if entry.abstract else []


def read_library(path: Path, *, format: str = "auto", title_only_ok: bool = False) -> Library:
    """Every paper of a library file (``format``: one of ``FORMATS``, or ``auto`` from the
    name); records without an abstract are left out and counted, or with ``title_only_ok``
    indexed by their title. Raises ``FinesimError`` naming file and line for a bad record."""
    path = Path(path)
    if not path.is_file():
        raise FinesimError(f"{path}: no such file")
    if format != "auto" and format not in FORMATS:
        raise FinesimError(f"unknown library format {format!r}; one of {', '.join(FORMATS)}")
    chosen = detect_format(path) if format == "auto" else format
    library = Library(path, chosen, [], title_only=title_only_ok)
    seen: dict[str, str] = {}
    for entry in READERS[chosen](path):
        if entry.id in seen:
            raise FinesimError(
                f"{entry.where}: duplicate id {entry.id!r} (first at {seen[entry.id]})"
            )
        seen[entry.id] = entry.where
        sentences = _sentences(entry)
        if entry.document is not None:
            library.documents.append(entry.document)
        elif sentences:
            library.documents.append(Document(entry.id, sentences, None, entry.title, entry.extra))
        elif entry.title:
            library.without_abstract.append(entry.id)
            if title_only_ok:
                extra = {**entry.extra, "indexed": "title only"}
                library.documents.append(
                    Document(entry.id, [entry.title], None, entry.title, extra)
                )
        else:
            library.empty.append(entry.id)
    if not library.documents:
        total = len(seen)
        hint = "; --title-only-ok indexes them by their title" if library.without_abstract else ""
        raise FinesimError(
            f"{path}: no paper with an abstract among its {total} records{hint}"
            if total
            else f"{path}: no records ({FORMAT_NAMES[chosen]})"
        )
    return library
