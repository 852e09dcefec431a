"""Stream texts (with ids) out of .txt, .jsonl, .csv, .tsv and .parquet files.

Every problem is reported as a ``FinesimError`` that names the file and the line (or row),
so the CLI can print one line and exit 2. Nothing is read whole into memory.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from finesim._util.errors import FinesimError
from finesim._util.jsonio import parse_json

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
            ".jsonl": self._records,
            ".csv": self._records,
            ".tsv": self._records,
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

    def _txt(self) -> Iterator[tuple[str, object, object]]:
        for number, line in read_lines(self.path):
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield f"{self.path}:{number}", None, line

    def _records(self) -> Iterator[tuple[str, object, object]]:
        wanted = [n for n in (self.field, self.id_field) if n]
        for where, record in read_records(self.path, wanted, skip_blank=self.skip_empty):
            ident = None if self.id_field is None else record[self.id_field]
            yield where, ident, record[self.field]

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


def read_lines(path: Path, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file, gzipped when it ends in ``.gz``; a line that
    is not UTF-8, or a file that cannot be read, is an error naming the file and line."""
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise FinesimError(f"{path}:{number}: not valid UTF-8") from None
                yield number, line if keep_ends else line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise FinesimError(f"{path}:{number + 1}: cannot read ({e})") from None


def read_records(
    path: Path, required: Sequence[str] = (), skip_blank: bool = False
) -> Iterator[tuple[str, dict[str, object]]]:
    """``("file:line", record)`` from .jsonl (objects) or .csv/.tsv (header row).

    Every name in ``required`` must be in every record. CSV follows the usual quoting; TSV in
    this field is unquoted (STS, SentEval), so quotes there are text, not syntax.
    """
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_records(path, required, skip_blank)
    elif suffix in (".csv", ".tsv"):
        yield from _delimited_records(path, required)
    else:
        raise FinesimError(f"{path}: unsupported format; use .jsonl, .csv or .tsv")


def _jsonl_records(
    path: Path, required: Sequence[str], skip_blank: bool
) -> Iterator[tuple[str, dict[str, object]]]:
    for number, line in read_lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            if skip_blank:
                continue
            raise FinesimError(f"{where}: empty line (pass --skip-empty to skip empty texts)")
        record = parse_json(line, where)
        if not isinstance(record, dict):
            raise FinesimError(f"{where}: expected a JSON object")
        for name in required:
            if name not in record:
                raise FinesimError(f"{where}: no field {name!r}")
        yield where, record


def _delimited_records(
    path: Path, required: Sequence[str]
) -> Iterator[tuple[str, dict[str, object]]]:
    lines = (line for _, line in read_lines(path, keep_ends=True))
    if path.suffix.lower() == ".tsv":
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise FinesimError(f"{path}: empty file (a header row is expected)") from None
    header[0] = header[0].removeprefix("\ufeff")
    for name in required:
        if name not in header:
            raise FinesimError(f"{path}: no column {name!r} (columns: {', '.join(header)})")
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                raise FinesimError(f"{where}: {len(row)} fields, the header has {len(header)}")
            yield where, dict(zip(header, row, strict=True))
    except csv.Error as e:
        raise FinesimError(f"{path}:{reader.line_num}: {e}") from None
