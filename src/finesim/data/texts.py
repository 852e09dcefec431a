"""Stream texts (with ids) out of .txt, .jsonl, .csv, .tsv and .parquet files.

Every problem is reported as a ``FinesimError`` that names the file and the line (or row),
so the CLI can print one line and exit 2. Nothing is read whole into memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from finesim.errors import FinesimError

FORMATS = (".txt", ".jsonl", ".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class TextFile:
    """A file of texts and how to read it.

    ``field`` names the jsonl field or csv/tsv/parquet column; ``id_field`` the one that holds
    ids (default: the record's 0-based position). ``skip_empty`` drops empty texts instead of
    failing on them.
    """

    path: Path
    field: str = "text"
    id_field: str | None = None
    skip_empty: bool = False

    @property
    def format(self) -> str:
        return self.path.suffix.lower()

    def check(self) -> None:
        """Fail early on a missing file or an unknown format."""
        if not self.path.exists():
            raise FinesimError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise FinesimError(f"{self.path}: not a file")
        if self.format not in FORMATS:
            raise FinesimError(
                f"{self.path}: unsupported input format; use one of {', '.join(FORMATS)}"
            )

    def __iter__(self) -> Iterator[tuple[int | str, str]]:
        """Yield ``(id, text)`` for every record, in file order."""
        self.check()
        readers = {
            ".txt": self._txt,
            ".jsonl": self._jsonl,
            ".csv": self._delimited,
            ".tsv": self._delimited,
            ".parquet": self._parquet,
        }
        for index, (where, record_id, text) in enumerate(readers[self.format]()):
            if text is None or not isinstance(text, str):
                raise FinesimError(f"{where}: field {self.field!r} is not a string")
            if not text.strip():
                if self.skip_empty:
                    continue
                raise FinesimError(f"{where}: empty text (pass --skip-empty to skip empty texts)")
            yield (index if record_id is None else str(record_id)), text

    def _lines(self, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                    yield number, line if keep_ends else line.rstrip("\r\n")
                except UnicodeDecodeError:
                    raise FinesimError(f"{self.path}:{number}: not valid UTF-8") from None

    def _txt(self) -> Iterator[tuple[str, object, object]]:
        for number, line in self._lines():
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield f"{self.path}:{number}", None, line

    def _jsonl(self) -> Iterator[tuple[str, object, object]]:
        for number, line in self._lines():
            where = f"{self.path}:{number}"
            if not line.strip():
                if self.skip_empty:
                    continue
                raise FinesimError(f"{where}: empty line (pass --skip-empty to skip empty texts)")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise FinesimError(f"{where}: invalid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise FinesimError(f"{where}: expected a JSON object")
            yield where, self._id(record, where), self._get(record, self.field, where)

    def _get(self, record: dict[str, object], name: str, where: str) -> object:
        if name not in record:
            raise FinesimError(f"{where}: no field {name!r}")
        return record[name]

    def _id(self, record: dict[str, object], where: str) -> object:
        return None if self.id_field is None else self._get(record, self.id_field, where)

    def _delimited(self) -> Iterator[tuple[str, object, object]]:
        delimiter = "\t" if self.format == ".tsv" else ","
        # TSV in this field is unquoted (STS, SentEval): quotes are text, not syntax.
        lines = (line for _, line in self._lines(keep_ends=True))
        if delimiter == "\t":
            reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise FinesimError(f"{self.path}: empty file (a header row is expected)") from None
        header[0] = header[0].removeprefix("\ufeff")
        columns = {name: i for i, name in enumerate(header)}
        for name in filter(None, (self.field, self.id_field)):
            if name not in columns:
                raise FinesimError(
                    f"{self.path}: no column {name!r} (columns: {', '.join(header)})"
                )
        try:
            for row in reader:
                where = f"{self.path}:{reader.line_num}"
                if not row:
                    continue
                if len(row) != len(header):
                    raise FinesimError(f"{where}: {len(row)} fields, the header has {len(header)}")
                ident = None if self.id_field is None else row[columns[self.id_field]]
                yield where, ident, row[columns[self.field]]
        except csv.Error as e:
            raise FinesimError(f"{self.path}:{reader.line_num}: {e}") from None

    def _parquet(self) -> Iterator[tuple[str, object, object]]:
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(self.path)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise FinesimError(f"{self.path}: not a readable parquet file ({e})") from None
        names = file.schema_arrow.names
        wanted = [n for n in (self.field, self.id_field) if n]
        for name in wanted:
            if name not in names:
                raise FinesimError(f"{self.path}: no column {name!r} (columns: {', '.join(names)})")
        row = 0
        for batch in file.iter_batches(columns=wanted, batch_size=8192):
            texts = batch.column(self.field).to_pylist()
            ids = batch.column(self.id_field).to_pylist() if self.id_field else [None] * len(texts)
            for ident, text in zip(ids, texts, strict=True):
                yield f"{self.path}: row {row}", ident, text
                row += 1
