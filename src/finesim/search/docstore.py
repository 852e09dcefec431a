"""Titles, sentences and extra fields of indexed documents, read back one by one.

Stored as ``docs.jsonl`` with the byte offset of every line (``docs.offsets.npy``), so a search
reads only its hits' lines and an index of any size opens without parsing them all.

The file stays open while the store lives, and lines are read from that open file: when the
index folder is replaced meanwhile (``finesim index add/delete/compact`` from another
process, a server's index among them), an opened index keeps reading the documents it opened
rather than the new folder's lines at its old offsets. A compacted index's store is a
``subset`` of the old one's: it reads the kept lines of the old file until it is written out,
so compaction never holds every document in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.data.documents import Document

TEXTS, OFFSETS = "docs.jsonl", "docs.offsets.npy"
BLOCK = 1 << 22  # bytes copied at a time


class DocStore:
    """Documents on disk (from an opened index) followed by ones added since."""

    def __init__(
        self,
        path: Path | None = None,
        offsets: np.ndarray | None = None,
        rows: np.ndarray | None = None,
        file: _OpenFile | None = None,
    ) -> None:
        self.path = path
        self.offsets = offsets if offsets is not None else np.zeros(1, dtype=np.int64)
        # the lines of ``path`` this store holds, in order (default: all of them)
        self.rows = rows if rows is not None else np.arange(len(self.offsets) - 1)
        self.pending: list[bytes] = []
        # the open file the offsets describe (shared by a subset)
        self._file = file if file is not None or path is None else _OpenFile(path)

    def __len__(self) -> int:
        return len(self.rows) + len(self.pending)

    @property
    def on_disk(self) -> bool:
        """Whether the store is exactly its file (nothing added, nothing left out)."""
        return not self.pending and len(self.rows) == len(self.offsets) - 1

    def append(self, doc: Document) -> None:
        record = {"id": doc.id, "title": doc.title, "sentences": doc.sentences, **doc.extra}
        self.pending.append(json.dumps(record, ensure_ascii=False).encode() + b"\n")

    def get(self, position: int) -> dict[str, Any]:
        """The stored record of the document at ``position``."""
        on_disk = len(self.rows)
        line = self.pending[position - on_disk] if position >= on_disk else self._line(position)
        return self._parse(line, position)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in order (to index all the texts)."""
        for position in range(len(self)):
            yield self.get(position)

    def subset(self, positions: np.ndarray) -> DocStore:
        """The documents at ``positions`` (ascending), renumbered from 0; read when needed."""
        positions = np.asarray(positions, dtype=np.int64)
        on_disk = len(self.rows)
        rows = self.rows[positions[positions < on_disk]]
        kept = DocStore(self.path, self.offsets, rows, self._file)
        kept.pending = [self.pending[int(p) - on_disk] for p in positions[positions >= on_disk]]
        return kept

    def _line(self, position: int) -> bytes:
        assert self._file is not None
        row = int(self.rows[position])
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        line = os.pread(self._file.fd, end - start, start)
        if len(line) != end - start:
            raise FinesimError(f"{self.path}: shorter than the index says (changed meanwhile?)")
        return line

    def _parse(self, line: bytes, position: int) -> dict[str, Any]:
        try:
            record: dict[str, Any] = json.loads(line)
        except JSON_ERRORS:
            raise FinesimError(f"{self.path}: document {position} is unreadable") from None
        return record

    def write(self, folder: Path) -> None:
        """Copy the documents on disk (the kept lines), append the new ones, write the
        offsets."""
        sizes = np.diff(self.offsets)[self.rows]
        with (folder / TEXTS).open("wb") as f:
            if len(self.rows) == len(self.offsets) - 1:  # every line: one copy
                self._copy(f, 0, int(self.offsets[-1]))
            else:
                for row, size in zip(self.rows, sizes, strict=True):
                    self._copy(f, int(self.offsets[row]), int(size))
            for line in self.pending:
                f.write(line)
        pending = [len(line) for line in self.pending]
        offsets = np.cumsum(np.r_[0, sizes, pending], dtype=np.int64)
        np.save(folder / OFFSETS, offsets)

    def _copy(self, target: BinaryIO, start: int, size: int) -> None:
        while size > 0:
            assert self._file is not None
            block = os.pread(self._file.fd, min(size, BLOCK), start)
            if not block:
                raise FinesimError(f"{self.path}: shorter than the index says (changed meanwhile?)")
            target.write(block)
            start, size = start + len(block), size - len(block)

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
        return cls(path, offsets.astype(np.int64))

    def moved(self, folder: Path) -> None:
        """After a save into ``folder``: everything is on disk there now."""
        self.path = folder / TEXTS
        self.offsets = np.load(folder / OFFSETS).astype(np.int64)
        self.rows = np.arange(len(self.offsets) - 1)
        self.pending = []
        self._file = _OpenFile(self.path)


class _OpenFile:
    """A read-only file descriptor, closed when no store reads it any more (stores that
    share lines share it)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def __del__(self) -> None:
        os.close(self.fd)
