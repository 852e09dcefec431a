"""Read a folder in BEIR format: ``corpus.jsonl[.gz]``, ``queries.jsonl``, ``qrels/<split>.tsv``.

The corpus is streamed (it may hold millions of documents); queries and qrels are small and
read whole. Every problem is a ``FinesimError`` naming the file and line, so the CLI can print
one line and exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from finesim._util.errors import FinesimError
from finesim._util.jsonio import parse_json
from finesim.data.texts import read_lines

Qrels = dict[str, dict[str, int]]


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise FinesimError(f"{folder}: no such folder (expected a BEIR dataset folder)")


def beir_file(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/name.gz`` when only that exists; an error if neither does."""
    _check_folder(folder)
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    raise FinesimError(f"{folder / name}: no such file (nor {name}.gz)")


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    """``(where, line)`` for each line of a plain or gzipped UTF-8 file, where = ``file:line``."""
    for number, line in read_lines(path):
        yield f"{path}:{number}", line.removeprefix("\ufeff")


def _records(path: Path) -> Iterator[tuple[str, str, dict[str, object]]]:
    """``(where, _id, record)`` for each JSON line; blank lines are skipped."""
    for where, line in _lines(path):
        if not line.strip():
            continue
        record = parse_json(line, where)
        if not isinstance(record, dict):
            raise FinesimError(f"{where}: expected a JSON object")
        ident = record.get("_id")
        if isinstance(ident, bool) or not isinstance(ident, (str, int)):
            raise FinesimError(f"{where}: no string field '_id'")
        yield where, str(ident), record


def _string(record: dict[str, object], name: str, where: str, required: bool) -> str:
    value = record.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise FinesimError(f"{where}: field {name!r} is missing or not a string")
    return value


def read_corpus(folder: Path) -> Iterator[tuple[str, str]]:
    """Stream ``(doc_id, text)`` from ``corpus.jsonl`` (or ``.jsonl.gz``), in file order.

    The text is ``title + " " + text`` when the title is non-empty, stripped, as BEIR builds
    it for sentence-transformers models, so scores are comparable with published ones.
    A repeated ``_id`` is an error: a ranking could not tell the two documents apart.
    """
    path = beir_file(folder, "corpus.jsonl")
    seen: set[str] = set()
    for where, doc_id, record in _records(path):
        if doc_id in seen:
            raise FinesimError(f"{where}: document id {doc_id!r} appears twice")
        seen.add(doc_id)
        title = _string(record, "title", where, required=False)
        text = _string(record, "text", where, required=True)
        yield doc_id, (f"{title} {text}" if title else text).strip()
    if not seen:
        raise FinesimError(f"{path}: no documents")


def read_queries(folder: Path) -> dict[str, str]:
    """``{query_id: text}`` from ``queries.jsonl`` (or ``.jsonl.gz``)."""
    queries: dict[str, str] = {}
    for where, query_id, record in _records(beir_file(folder, "queries.jsonl")):
        if query_id in queries:
            raise FinesimError(f"{where}: query id {query_id!r} appears twice")
        queries[query_id] = _string(record, "text", where, required=True)
    return queries


def read_qrels(folder: Path, split: str = "test") -> Qrels:
    """``{query_id: {doc_id: grade}}`` from ``qrels/<split>.tsv``, in file order.

    The first line is a header (``query-id  corpus-id  score``) and is skipped, as BEIR does;
    a repeated pair keeps its last grade, as BEIR's loader does.
    """
    _check_folder(folder)
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        hint = f" (splits here: {', '.join(found)})" if found else ""
        raise FinesimError(f"{path}: no such file{hint}")
    qrels: Qrels = {}
    for number, (where, line) in enumerate(_lines(path), start=1):
        fields = line.split("\t")
        if number == 1:
            if len(fields) >= 3 and _is_int(fields[2]):
                raise FinesimError(f"{where}: expected a header (query-id, corpus-id, score)")
            continue
        if not line.strip():
            continue
        if len(fields) != 3:
            raise FinesimError(f"{where}: {len(fields)} fields, expected 3 tab-separated")
        if not _is_int(fields[2]):
            raise FinesimError(f"{where}: score {fields[2]!r} is not an integer")
        qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    if not qrels:
        raise FinesimError(f"{path}: no judgements")
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def judged_queries(folder: Path, qrels: Qrels) -> dict[str, str]:
    """The queries of ``queries.jsonl`` that the qrels judge: only those are evaluated."""
    queries = read_queries(folder)
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise FinesimError(
            f"{beir_file(folder, 'queries.jsonl')}: {len(missing)} judged queries are missing "
            f"(first: {missing[0]!r})"
        )
    return {q: queries[q] for q in qrels}
