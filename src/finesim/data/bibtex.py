"""BibTeX libraries (Zotero, Mendeley, JabRef exports, a hand-kept ``.bib``) as records.

Parsed by bibtexparser 2 (pure Python; it names the line of every block it cannot parse and
notices duplicate keys, where 1.x drops a broken entry silently). ``@string`` macros are
resolved, also in ``#`` concatenations (``booktitle = acl # " 2020"``). LaTeX in values
(accents ``{\\"o}``, ``\\'{e}``, ``\\c{c}``, macros such as ``\\emph{...}`` and ``\\mbox{...}``,
math, ``--``, ``~``) is turned into Unicode text by pylatexenc and the braces are removed;
citations and references (``\\cite{...}``, ``\\ref{...}``) are dropped. Any block that does
not parse is an error naming the file, the line and the entry key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.data.records import Entry, clean_text, read_text

# bibtexparser logs every failed block itself; finesim reports the first one as its error
logging.getLogger("bibtexparser").setLevel(logging.ERROR)

_KEY = re.compile(r"@\s*\w+\s*[{(]\s*([^,\s]*)")
_VENUE_FIELDS = ("journal", "booktitle", "journaltitle", "publisher", "school")


def _clean(value: str) -> str:
    return clean_text(value, braces=True)


def _key_of(raw: str) -> str:
    found = _KEY.match(raw.lstrip())
    return found.group(1) if found and found.group(1) else "?"


def _failure(path: Path, block: Any) -> FinesimError:
    """The first block bibtexparser could not take, as one line naming line and key."""
    from bibtexparser.model import DuplicateBlockKeyBlock, DuplicateFieldKeyBlock

    inner = getattr(block, "ignore_error_block", None)
    line = int(getattr(block, "start_line", None) or getattr(inner, "start_line", 0) or 0) + 1
    key = getattr(inner, "key", None) or _key_of(str(getattr(block, "raw", "")))
    where = f"{path}:{line}: entry {key!r}"
    if isinstance(block, DuplicateBlockKeyBlock):
        first = int(getattr(block.previous_block, "start_line", 0) or 0) + 1
        return FinesimError(f"{where}: duplicate entry key (first at line {first})")
    if isinstance(block, DuplicateFieldKeyBlock):
        fields = ", ".join(sorted(block.duplicate_keys))
        return FinesimError(f"{where}: field {fields!r} given twice")
    error = getattr(block, "error", None)
    reason = getattr(error, "abort_reason", None) or str(error or "") or type(error).__name__
    return FinesimError(f"{where} is malformed ({' '.join(reason.split())})")


@lru_cache(maxsize=1)
def _decoder() -> Any:
    """pylatexenc's LaTeX-to-text, as bibtexparser configures it, plus a few macros that
    abstracts hold: ``\\mbox`` keeps its text, citations and references go."""
    from pylatexenc.latex2text import (
        LatexNodes2Text,
        MacroTextSpec,
        get_default_latex_context_db,
    )

    keep = [MacroTextSpec(name, simplify_repl="%s") for name in ("url", "mbox", "hbox", "text")]
    drop = [
        MacroTextSpec(name, simplify_repl="")
        for name in ("cite", "citep", "citet", "citealp", "citeauthor", "ref", "eqref", "label")
    ]
    context = get_default_latex_context_db()
    context.add_context_category("finesim-bibtex", prepend=True, macros=keep + drop)
    return LatexNodes2Text(latex_context=context, math_mode="text", keep_braced_groups=False)


def _pieces(value: str) -> list[str] | None:
    """The parts of ``a # "b" # {c}`` split at the ``#`` outside quotes and braces (None when
    the value is not such a concatenation)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(value):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif char == "#" and depth == 0 and not quoted:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return parts if len(parts) > 1 else None


def _concatenated(value: str, strings: Mapping[str, str]) -> str:
    """``pre # "ACL"`` with ``@string{pre = "Proc. of "}`` -> ``Proc. of ACL``."""
    parts = _pieces(value)
    if parts is None:
        return value
    out = []
    for part in parts:
        if len(part) >= 2 and (part[0], part[-1]) in (('"', '"'), ("{", "}")):
            out.append(part[1:-1])
        elif part.lower() in strings:
            out.append(strings[part.lower()])
        elif part.isdigit():
            out.append(part)
        else:
            return value  # not a concatenation after all: keep it as written
    return "".join(out)


def _text(value: str, strings: Mapping[str, str], where: str) -> str:
    """A field's value as plain text: concatenations joined, LaTeX decoded, braces gone."""
    try:
        decoded = _decoder().latex_to_text(_concatenated(value, strings))
    except Exception as e:  # pylatexenc's own parse errors (it is tolerant; rarely raised)
        raise FinesimError(f"{where}: cannot read its LaTeX ({e})") from None
    return _tidy(_clean(decoded))


def _tidy(text: str) -> str:
    """No space before closing punctuation or after an opening one, no empty brackets (what a
    dropped ``\\cite{...}`` leaves behind)."""
    text = re.sub(r"[(\[]\s*[)\]]", "", text)
    text = re.sub(r"\s+([,.;:)\]])", r"\1", text)
    return re.sub(r"([(\[])\s+", r"\1", text).strip()


def _authors(value: str) -> list[str]:
    return [a.strip() for a in re.split(r"\s+and\s+", value) if a.strip()]


def read_bibtex(path: Path) -> Iterator[Entry]:
    """The entries of a ``.bib`` file in order: key, title, abstract and a few other fields."""
    import bibtexparser

    text = read_text(path)
    try:
        library = bibtexparser.parse_string(text)
    except Exception as e:  # the parser's own errors have no common base class
        raise FinesimError(f"{path}: cannot parse BibTeX ({e})") from None
    if library.failed_blocks:
        raise _failure(path, library.failed_blocks[0])
    strings = {s.key.lower(): str(s.value) for s in library.strings}
    for entry in library.entries:
        where = f"{path}:{(entry.start_line or 0) + 1}: entry {entry.key!r}"
        values = {
            f.key.lower(): _text(f.value, strings, where)
            for f in entry.fields
            if isinstance(f.value, str)
        }
        extra: dict[str, Any] = {"type": entry.entry_type.lower()}
        if values.get("year"):
            extra["year"] = values["year"]
        if values.get("author"):
            extra["authors"] = _authors(values["author"])
        for name in ("doi", "url"):
            if values.get(name):
                extra[name] = values[name]
        venue = next((values[f] for f in _VENUE_FIELDS if values.get(f)), None)
        if venue:
            extra["venue"] = venue
        yield Entry(
            id=entry.key,
            title=values.get("title", ""),
            abstract=values.get("abstract") or None,
            where=where,
            extra=extra,
        )
