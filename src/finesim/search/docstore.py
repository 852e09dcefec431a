"""Titles, sentences and extra fields of indexed documents, read back one by one.

Stored as ``docs.jsonl`` with the byte offset of every line (``docs.offsets.npy``), so a search
reads only its hits' lines and an index of any size opens without parsing them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.data.documents import Document

TEXTS, OFFSETS = "docs.jsonl", "docs.offsets.npy"


class DocStore:
    """Documents on disk (from an opened index) followed by ones added since."""

    def __init__(self, path: Path | None = None, offsets: np.ndarray | None = None) -> None:
        self.path = path
        self.offsets = offsets if offsets is not None else np.zeros(1, dtype=np.int64)
        self.pending: list[bytes] = []

    def __len__(self) -> int:
        return len(self.offsets) - 1 + len(self.pending)

    def append(self, doc: Document) -> None:
        record = {"id": doc.id, "title": doc.title, "sentences": doc.sentences, **doc.extra}
        self.pending.append(json.dumps(record, ensure_ascii=False).encode() + b"\n")

    def get(self, position: int) -> dict[str, Any]:
        """The stored record of the document at ``position``."""
        on_disk = len(self.offsets) - 1
        if position >= on_disk:
            line = self.pending[position - on_disk]
        else:
            assert self.path is not None
            start, end = int(self.offsets[position]), int(self.offsets[position + 1])
            with self.path.open("rb") as f:
                f.seek(start)
                line = f.read(end - start)
        return self._parse(line, position)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in order, in one pass over the file (to index all the texts)."""
        if self.path is not None:
            with self.path.open("rb") as f:
                for position in range(len(self.offsets) - 1):
                    yield self._parse(f.readline(), position)
        for i, line in enumerate(self.pending):
            yield self._parse(line, len(self.offsets) - 1 + i)

    def _parse(self, line: bytes, position: int) -> dict[str, Any]:
        try:
            record: dict[str, Any] = json.loads(line)
        except JSON_ERRORS:
            raise FinesimError(f"{self.path}: document {position} is unreadable") from None
        return record

    def write(self, folder: Path) -> None:
        """Copy the documents on disk, append the new ones, write the offsets."""
        sizes = [len(line) for line in self.pending]
        with (folder / TEXTS).open("wb") as f:
            if self.path is not None:  # exactly the bytes the offsets describe
                with self.path.open("rb") as old:
                    _copy(old, f, int(self.offsets[-1]))
            for line in self.pending:
                f.write(line)
        offsets = np.concatenate(
            [self.offsets, self.offsets[-1] + np.cumsum(sizes, dtype=np.int64)]
        )
        np.save(folder / OFFSETS, offsets.astype(np.int64))

    @classmethod
    def load(cls, folder: Path, count: int) -> DocStore:
        path = folder / TEXTS
        try:
            offsets = np.load(folder / OFFSETS)
        except (OSError, ValueError) as e:
            raise FinesimError(f"{folder / OFFSETS}: unreadable ({json_problem(e)})") from None
        size = path.stat().st_size
        if offsets.ndim != 1 or len(offsets) != count + 1 or int(offsets[-1]) != size:
            raise FinesimError(f"{folder / OFFSETS}: does not match {path}")
        return cls(path, offsets)

    def moved(self, folder: Path) -> None:
        """After a save into ``folder``: everything is on disk there now."""
        self.path = folder / TEXTS
        self.offsets = np.load(folder / OFFSETS)
        self.pending = []


def _copy(source: BinaryIO, target: BinaryIO, size: int) -> None:
    while size > 0:
        block = source.read(min(size, 1 << 22))
        if not block:
            raise FinesimError(f"{source.name}: shorter than the index says (changed meanwhile?)")
        target.write(block)
        size -= len(block)
