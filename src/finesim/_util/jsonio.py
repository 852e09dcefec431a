"""JSON results as text and as files, written one way everywhere.

Why: commands and reports each had their own ``json.dumps`` with different indents, escaping
and newlines; one writer keeps every result file alike (indented, UTF-8, a final newline) and
never leaves half a file under its name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError

# What ``json.loads`` raises for hostile input besides ``JSONDecodeError`` (a ValueError):
# ValueError for an integer past Python's 4,300-digit limit (and UnicodeDecodeError, also a
# ValueError, for bytes that are not UTF-8), RecursionError for nesting deeper than the
# parser's limit (about 1,000). A reader catches these and names its file.
JSON_ERRORS = (ValueError, RecursionError)


def dumps(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text, non-ASCII kept as is; ``indent`` None gives one line."""
    return json.dumps(data, indent=indent, ensure_ascii=False)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically: indented JSON, UTF-8, ending in a newline."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(dumps(data) + "\n", encoding="utf-8")


def json_problem(error: BaseException) -> str:
    """What is wrong with a JSON text, in a few words for a user (one of ``JSON_ERRORS``)."""
    if isinstance(error, json.JSONDecodeError):
        return str(error)  # the parser's message with its line and column
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not valid UTF-8"
    text = str(error)
    if "integer string conversion" in text:  # Python's int_max_str_digits guard
        return "an integer with more digits than Python reads (4300)"
    if "allow_pickle" in text:  # numpy's advice to load unsafely: wrong for a corrupt .npy
        return "not a numpy array file"
    return text


def parse_json(text: str | bytes, where: str) -> Any:
    """``json.loads(text)`` for one line of a JSON-lines file; any failure (syntax, a huge
    integer, deep nesting) is one ``FinesimError``: ``"{where}: invalid JSON (...)"``, where
    ``where`` is ``file:line``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FinesimError(f"{where}: invalid JSON ({e.msg})") from None
    except JSON_ERRORS as e:
        raise FinesimError(f"{where}: invalid JSON ({json_problem(e)})") from None
