"""One record of a researcher's library as read from its file, before it becomes a Document.

Every reader (``finesim.data.bibtex``, ``finesim.data.library``) yields ``Entry`` values; the
library turns them into documents in one place, so that records without an abstract, empty
ids and duplicates are handled the same way for every format.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.data.documents import Document

_SPACE = re.compile(r"\s+")
_JATS_TITLE = re.compile(r"<jats:title>.*?</jats:title>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"</?(?:jats:)?(?:p|br|div|sec|list|list-item|li|ul|ol)\b[^<>]*>", re.I)
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(\s[^<>]*)?/?>")
_HEADING = re.compile(r"^\s*abstract\s*[:.\u2013\u2014-]\s*", re.IGNORECASE)


@dataclass
class Entry:
    """A record: its id, title and abstract (text, sentences, or None when it has none).

    ``where`` names the record in messages (``file:line``, and the entry key for BibTeX).
    ``document`` is set by finesim's own JSONL reader, whose records are documents already.
    """

    id: str
    title: str
    abstract: str | list[str] | None
    where: str
    extra: dict[str, Any] = field(default_factory=dict)
    document: Document | None = None


def clean_text(value: str, *, braces: bool = False) -> str:
    """Whitespace collapsed to single spaces (and, with ``braces``, ``{`` ``}`` removed)."""
    if braces:
        value = value.replace("{", "").replace("}", "")
    return _SPACE.sub(" ", value).strip()


def strip_markup(text: str) -> str:
    """Rich text as Zotero and Crossref give it (``<i>``, ``<sub>``, JATS ``<jats:p>``) as plain
    text, entities decoded, and a leading "Abstract:" heading dropped."""
    text = _TAG.sub("", _BLOCK.sub(" ", _JATS_TITLE.sub(" ", text)))
    return _HEADING.sub("", clean_text(html.unescape(text)))


def read_text(path: Path, data: bytes | None = None) -> str:
    """A library file's text (UTF-8, a byte-order mark allowed); a one-line error naming the
    line of the first byte that is not UTF-8."""
    data = path.read_bytes() if data is None else data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FinesimError(
            f"{path}:{line}: not valid UTF-8 (export the library as UTF-8)"
        ) from None


def suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def title_id(title: str) -> str:
    """A stable id for a record that has none: a hash of its title, lowercased."""
    if not title:
        return ""
    digest = hashlib.blake2b(clean_text(title).lower().encode(), digest_size=6).hexdigest()
    return f"title-{digest}"
