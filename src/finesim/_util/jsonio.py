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


def dumps(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text, non-ASCII kept as is; ``indent`` None gives one line."""
    return json.dumps(data, indent=indent, ensure_ascii=False)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically: indented JSON, UTF-8, ending in a newline."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(dumps(data) + "\n", encoding="utf-8")
