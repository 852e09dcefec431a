"""One training example: named texts (anchor, positive, ...) and an optional label."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Example:
    """``where`` names the file and line it came from, for error messages."""

    texts: dict[str, str]
    label: float | None = None
    where: str = field(default="", compare=False)
