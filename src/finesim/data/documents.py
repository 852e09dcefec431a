"""Documents for faceted search: jsonl records of an id, a title and abstract sentences.

One JSON object a line (``.jsonl`` or ``.jsonl.gz``)::

    {"id": "p1", "title": "...", "abstract": "text" | ["sentence", ...], "labels": [...]}

``abstract`` given as text is split into sentences with pysbd (rule based, nothing to
download). ``labels`` (optional) gives one label per sentence: background, objective,
method, result or other (a ``_label`` suffix, as in CSFCube, is accepted). CSFCube's own
names ``paper_id`` and ``pred_labels``, and ``text`` for the abstract, are read too, so its
abstracts file can be used as it is. Every problem names the file, line and field.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.jsonio import parse_json

LABELS = ("background", "objective", "method", "result", "other")
# The facets a query asks for (Aspire's): objective sentences count as background.
FACETS = ("background", "method", "result")


def facet_of(label: str) -> str:
    """Map a sentence label to a facet the way Aspire does: objective counts as background."""
    name = label.removesuffix("_label")
    return "background" if name == "objective" else name


def whole_text(title: str, sentences: Sequence[str]) -> str:
    """Title and abstract as one text: what whole-document encoders and BM25 read."""
    return " ".join([title, *sentences]).strip()


_ID_FIELDS = ("id", "paper_id")
_TEXT_FIELDS = ("abstract", "text")
_LABEL_FIELDS = ("labels", "pred_labels")


@dataclass
class Document:
    """One paper (or question, or any short text) as sentences with optional labels."""

    id: str
    sentences: list[str]
    labels: list[str] | None = None
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # other fields, kept on rewrite

    @property
    def text(self) -> str:
        """Title and abstract as one text (``whole_text``)."""
        return whole_text(self.title, self.sentences)

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "title": self.title, "abstract": self.sentences}
        if self.labels is not None:
            record["labels"] = self.labels
        return {**self.extra, **record}


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (pysbd's English rules), stripped, empty ones dropped."""
    pieces = _segmenter().segment(text) if text.strip() else []
    return [s.strip() for s in pieces if s.strip()]


def normalize_label(label: object) -> str:
    """``Method_label`` -> ``method``; raises ValueError for anything outside ``LABELS``."""
    if not isinstance(label, str):
        raise ValueError(f"label {label!r} is not a string")
    name = label.strip().lower().removesuffix("_label")
    if name not in LABELS:
        raise ValueError(f"unknown label {label!r} (use {', '.join(LABELS)})")
    return name


def _first(record: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in record:
            return name, record[name]
    return None, None


def parse_document(record: object, where: str) -> Document:
    """A ``Document`` from one decoded JSON record; ``where`` (file:line) prefixes errors."""
    if not isinstance(record, dict):
        raise FinesimError(f"{where}: expected a JSON object")
    id_name, ident = _first(record, _ID_FIELDS)
    if id_name is None or isinstance(ident, bool) or not isinstance(ident, (str, int)):
        raise FinesimError(f"{where}: field 'id' is missing or not a string")
    if not str(ident).strip():
        raise FinesimError(f"{where}: field {id_name!r} is empty")
    text_name, text = _first(record, _TEXT_FIELDS)
    if text_name is None:
        raise FinesimError(f"{where}: no field 'abstract' (text or list of sentences)")
    if isinstance(text, str):
        sentences = split_sentences(text)
    elif isinstance(text, list) and all(isinstance(s, str) for s in text):
        if any(not s.strip() for s in text):
            raise FinesimError(f"{where}: field {text_name!r} holds an empty sentence")
        sentences = [s.strip() for s in text]
    else:
        raise FinesimError(f"{where}: field {text_name!r} must be a string or a list of strings")
    if not sentences:
        raise FinesimError(f"{where}: field {text_name!r} is empty")
    title = record.get("title", "")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise FinesimError(f"{where}: field 'title' is not a string")
    return Document(
        str(ident),
        sentences,
        _labels(record, where, len(sentences)),
        title,
        {k: v for k, v in record.items() if k not in (id_name, text_name, *_LABEL_FIELDS)},
    )


def _labels(record: dict[str, Any], where: str, n: int) -> list[str] | None:
    name, labels = _first(record, _LABEL_FIELDS)
    if name is None or labels is None or labels == []:
        return None
    if not isinstance(labels, list):
        raise FinesimError(f"{where}: field {name!r} must be a list of labels")
    if len(labels) != n:
        raise FinesimError(f"{where}: field {name!r} has {len(labels)} labels for {n} sentences")
    try:
        return [normalize_label(label) for label in labels]
    except ValueError as e:
        raise FinesimError(f"{where}: field {name!r}: {e}") from None


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # type: ignore[return-value]


def read_documents(path: Path) -> Iterator[Document]:
    """Stream the documents of a ``.jsonl``/``.jsonl.gz`` file; ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise FinesimError(f"{path}: no such file")
    seen: set[str] = set()
    with _open(path) as f:
        try:
            for number, raw in enumerate(f, start=1):
                where = f"{path}:{number}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise FinesimError(f"{where}: not valid UTF-8") from None
                if not line.strip():
                    continue
                record = parse_json(line, where)
                doc = parse_document(record, where)
                if doc.id in seen:
                    raise FinesimError(f"{where}: duplicate id {doc.id!r}")
                seen.add(doc.id)
                yield doc
        except (OSError, EOFError, zlib.error) as e:  # a truncated or corrupt .gz
            raise FinesimError(f"{path}: cannot read ({e})") from None


def write_documents(documents: Iterable[Document], path: Path) -> int:
    """Write documents as jsonl (atomically); returns how many were written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FinesimError(f"{path.parent}: no such folder for the output")
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for doc in documents:
            f.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count
