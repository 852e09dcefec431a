"""CSV and TSV libraries: a header row with title and abstract columns (Zotero's export too)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.data.records import Entry, clean_text, read_text, suffix, title_id

_COLUMNS = {
    "abstract": ("abstract", "abstractnote", "abstracttext"),
    "title": ("title", "papertitle", "articletitle"),
    "id": ("id", "key", "citationkey", "paperid", "corpusid"),
    "doi": ("doi",),
    "year": ("year", "publicationyear"),
    "authors": ("author", "authors"),
    "url": ("url",),
    "venue": ("venue", "journal", "publicationtitle"),
}


def _column_name(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    names = [_column_name(h) for h in header]
    found = {}
    for role, options in _COLUMNS.items():
        for option in options:
            if option in names:
                found[role] = names.index(option)
                break
    if "abstract" not in found:
        raise FinesimError(
            f"{path}:1: no 'abstract' column (columns: {', '.join(header) or 'none'})"
        )
    return found


def read_table(path: Path) -> Iterator[Entry]:
    """CSV (or TSV) rows with a header; see the module's description for the columns."""
    text = read_text(path)
    delimiter = "\t" if suffix(path) == ".tsv" else ","
    if delimiter == "," and ";" in text.partition("\n")[0] and "," not in text.partition("\n")[0]:
        delimiter = ";"  # a spreadsheet saved with a European locale
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(rows, [])
        columns = _columns(path, header)
        start = rows.line_num + 1
        for row in rows:
            where, start = f"{path}:{start}", rows.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise FinesimError(f"{where}: {len(row)} fields, the header has {len(header)}")
            yield _table_entry(row, columns, where)
    except csv.Error as e:
        raise FinesimError(f"{path}:{rows.line_num}: not valid CSV ({e})") from None


def _table_entry(row: list[str], columns: dict[str, int], where: str) -> Entry:
    def cell(role: str) -> str:
        return clean_text(row[columns[role]]) if role in columns else ""

    title = cell("title")
    extra: dict[str, Any] = {}
    for role in ("doi", "year", "url", "venue"):
        if cell(role):
            extra[role] = cell(role)
    if cell("authors"):
        extra["authors"] = [a.strip() for a in cell("authors").split(";") if a.strip()]
    ident = cell("id") or cell("doi") or title_id(title)
    if not ident:
        raise FinesimError(f"{where}: the row has no id, DOI or title to name it by")
    return Entry(ident, title, cell("abstract") or None, where, extra)


# ---- finesim's JSONL -------------------------------------------------------------------------
