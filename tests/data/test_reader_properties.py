"""Property-based tests of every reader: for generated files, valid or hostile, either exactly
the records written come back, or a one-line ``FinesimError`` naming the file and the line
(or row) of the first bad record, never any other exception.

Hostile lines: JSON cut short, an integer of 5,000 digits (past Python's int-string limit),
nesting 5,000 deep (past the parser's recursion limit), bytes that are not UTF-8, NUL bytes,
a JSON value that is not an object, a missing or mistyped field. Each test runs a few dozen
examples (the whole module in a few seconds).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finesim import FinesimError
from finesim.data.beir import read_corpus, read_qrels
from finesim.data.csfcube import load_papers
from finesim.data.documents import read_documents
from finesim.data.pairs import read_file
from finesim.data.texts import TextFile

# FINESIM_PROPERTY_EXAMPLES=1000 for a longer hunt; no example database left in the tree
SETTINGS = settings(
    max_examples=int(os.environ.get("FINESIM_PROPERTY_EXAMPLES", "40")),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_counter = itertools.count()

# text on one line: no line breaks of any kind a reader splits on, no BOM, no NUL
LINE_TEXT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\x00\ufeff"),
    max_size=30,
)
WORDS = st.text(st.characters(categories=("L", "Nd")), min_size=1, max_size=12)
# hostile JSON lines, each an error wherever it appears (bytes: written as they are)
HOSTILE = st.sampled_from(
    [
        b'{"text": "a", "n": ' + b"9" * 5000 + b"}",  # past the int-string limit
        b'{"text": "a", "n": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # past the recursion limit
        b'{"text": "cut sho',
        b"\xff\xfe not utf-8",
        b'{"text": "a\x00"}',  # a raw NUL inside a JSON string is invalid JSON
        b"[1, 2]",
        b'"just a string"',
        b"17",
        b"null",
    ]
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


def fresh(folder: Path, name: str) -> Path:
    """A new path for one example (hypothesis runs many in one test)."""
    sub = folder / f"ex{next(_counter)}"
    sub.mkdir()
    return sub / name


def assert_names(error: FinesimError, path: Path, line: int | None = None) -> None:
    """One line that starts with the file, and with ``file:line`` when ``line`` is given."""
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    if line is None:
        assert message.startswith(f"{path}"), message
    else:
        assert re.match(rf"{re.escape(str(path))}(:|: row ){line}\b", message), (line, message)


def run(read, *args):  # noqa: ANN001, ANN201
    """The reader's records, or the FinesimError it raised (any other exception fails)."""
    try:
        return read(*args)
    except FinesimError as e:
        return e


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def mix(data: st.DataObject, good: list[bytes]) -> tuple[list[bytes], int | None]:
    """``good`` with hostile lines put in at random places; the first hostile line's number."""
    lines = list(good)
    bad = data.draw(st.lists(st.tuples(st.integers(0, len(lines)), HOSTILE), max_size=2))
    for at, line in sorted(bad, reverse=True):
        lines.insert(at, line)
    hostile = {line for _, line in bad}
    first = next((i for i, line in enumerate(lines, 1) if line in hostile), None)
    return lines, first


# ---- .txt, .jsonl, .csv, .tsv, .parquet (TextFile) ----------------------------------------


@SETTINGS
@given(texts=st.lists(LINE_TEXT, max_size=8), skip_empty=st.booleans())
def test_txt(folder, texts, skip_empty):
    path = write_lines(fresh(folder, "t.txt"), [t.encode() for t in texts])
    got = run(lambda: list(TextFile(path, skip_empty=skip_empty)))
    rows = [(i, t.rstrip("\r\n")) for i, t in enumerate(texts)]
    first_empty = next((i + 1 for i, t in rows if not t.strip()), None)
    if first_empty is not None and not skip_empty:
        assert isinstance(got, FinesimError)
        assert_names(got, path, first_empty)
    else:
        assert got == [(i, t) for i, t in rows if t.strip()]


@SETTINGS
@given(data=st.data(), texts=st.lists(LINE_TEXT, max_size=6))
def test_jsonl(folder, data, texts):
    good = [json.dumps({"id": f"r{i}", "text": t}).encode() for i, t in enumerate(texts)]
    lines, first_bad = mix(data, good)
    path = write_lines(fresh(folder, "t.jsonl"), lines)
    got = run(lambda: list(TextFile(path, id_field="id")))
    expected, first_error = [], first_bad
    for number, line in enumerate(lines, 1):
        if number == first_bad:
            break
        text = json.loads(line)["text"]
        if not text.strip():
            first_error = number
            break
        expected.append((json.loads(line)["id"], text))
    if first_error is None:
        assert got == expected
    else:
        assert isinstance(got, FinesimError), got
        assert_names(got, path, first_error)


CSV_TEXT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00\ufeff"), max_size=20
)


@SETTINGS
@given(texts=st.lists(CSV_TEXT, max_size=6), tail=st.sampled_from([b"", b"1,2,3\n"]))
def test_csv_quoting_round_trips(folder, texts, tail):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["id", "text"])
    ends = [1]  # the physical line each row ends on (a quoted field may hold line breaks)
    for i, text in enumerate(texts):
        writer.writerow([f"r{i}", text])
        ends.append(buffer.getvalue().count("\n"))
    path = fresh(folder, "t.csv")
    path.write_bytes(buffer.getvalue().encode() + tail)
    got = run(lambda: list(TextFile(path, id_field="id")))
    empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if empty is not None:
        assert isinstance(got, FinesimError), got
        assert_names(got, path, ends[empty + 1])
    elif tail:
        assert isinstance(got, FinesimError), got  # three fields under a two-column header
        assert_names(got, path, ends[-1] + 1)
    else:
        assert got == [(f"r{i}", t) for i, t in enumerate(texts)]


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            WORDS,
            st.text(
                st.characters(exclude_categories=("Cs",), exclude_characters="\t\n\r\x00\ufeff")
            ),
        ),
        max_size=6,
    ),
    short=st.booleans(),
)
def test_tsv_is_unquoted(folder, rows, short):
    lines = [b"id\ttext"] + [f"{i}\t{t}".encode() for i, t in rows]
    if short:
        lines.append(b"only-one-field")
    path = write_lines(fresh(folder, "t.tsv"), lines)
    got = run(lambda: list(TextFile(path, id_field="id")))
    empty = next((n for n, (_, t) in enumerate(rows, 2) if not t.strip()), None)
    if empty is not None:
        assert isinstance(got, FinesimError)
        assert_names(got, path, empty)
    elif short:
        assert isinstance(got, FinesimError)
        assert_names(got, path, len(lines))
    else:
        assert got == [(i, t) for i, t in rows]


PARQUET_COLUMN = st.one_of(
    st.lists(st.one_of(LINE_TEXT, st.none()), max_size=6).map(lambda v: pa.array(v, pa.string())),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3).map(pa.array),
)


@SETTINGS
@given(column=PARQUET_COLUMN, garbage=st.booleans())
def test_parquet(folder, column, garbage):
    path = fresh(folder, "t.parquet")
    pq.write_table(pa.table({"text": column}), path)
    if garbage:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    got = run(lambda: list(TextFile(path)))
    if garbage:
        assert isinstance(got, FinesimError)
        assert_names(got, path)
        return
    texts = column.to_pylist()
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()), None)
    if bad is None:
        assert got == list(enumerate(texts))
    else:
        assert isinstance(got, FinesimError)
        assert_names(got, path, bad)


# ---- BEIR -------------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.data(),
    docs=st.lists(st.tuples(LINE_TEXT, LINE_TEXT), min_size=1, max_size=5),
    repeat=st.booleans(),
)
def test_beir_corpus(folder, data, docs, repeat):
    records = [{"_id": f"d{i}", "title": t, "text": x} for i, (t, x) in enumerate(docs)]
    if repeat:
        records.append(dict(records[0]))  # a repeated id
    lines, first_bad = mix(data, [json.dumps(r).encode() for r in records])
    beir = fresh(folder, "beir")
    beir.mkdir()
    write_lines(beir / "corpus.jsonl", lines)
    got = run(lambda: list(read_corpus(beir)))
    first_error = first_bad
    if repeat:  # the second line holding the first record is the error
        same = [i for i, line in enumerate(lines, 1) if line == json.dumps(records[0]).encode()]
        first_error = same[1] if first_error is None else min(first_error, same[1])
    if first_error is None:
        assert got == [(r["_id"], f"{r['title']} {r['text']}".strip()) for r in records]
    else:
        assert isinstance(got, FinesimError), got
        assert_names(got, beir / "corpus.jsonl", first_error)


QREL_FIELD = st.one_of(WORDS, st.just("9" * 5000), st.just(""), st.just("1.5"))


@SETTINGS
@given(rows=st.lists(st.tuples(WORDS, WORDS, st.integers(-3, 3) | QREL_FIELD), max_size=6))
def test_beir_qrels(folder, rows):
    beir = fresh(folder, "beir")
    (beir / "qrels").mkdir(parents=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in rows]
    (beir / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    got = run(lambda: read_qrels(beir))
    path = beir / "qrels" / "test.tsv"
    bad = next((n for n, (_, _, s) in enumerate(rows, 2) if not _integer(s)), None)
    if bad is not None:
        assert isinstance(got, FinesimError)
        assert_names(got, path, bad)
    elif not rows:
        assert isinstance(got, FinesimError)
        assert_names(got, path)
    else:
        expected: dict[str, dict[str, int]] = {}
        for q, d, s in rows:
            expected.setdefault(q, {})[d] = int(s)
        assert got == expected


def _integer(value: object) -> bool:
    text = str(value)
    return bool(re.fullmatch(r"[+-]?\d{1,4000}", text.strip()))


# ---- documents (finesim's and CSFCube's field names) and CSFCube's abstracts file -----------

SENTENCE = WORDS.map(lambda w: w + ".")
LABEL = st.sampled_from(["background_label", "method_label", "result_label", "objective_label"])


@st.composite
def papers(draw: st.DrawFn) -> list[dict[str, object]]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        sentences = draw(st.lists(SENTENCE, min_size=1, max_size=3))
        labels = draw(st.lists(LABEL, min_size=len(sentences), max_size=len(sentences)))
        out.append(
            {"paper_id": f"p{i}", "title": draw(LINE_TEXT), "abstract": sentences,
             "pred_labels": labels}
        )  # fmt: skip
    return out


@SETTINGS
@given(data=st.data(), records=papers())
def test_csfcube_format_documents(folder, data, records):
    lines, first_bad = mix(data, [json.dumps(r).encode() for r in records])
    path = write_lines(fresh(folder, "d.jsonl"), lines)
    got = run(lambda: list(read_documents(path)))
    if first_bad is None:
        assert [(d.id, d.title, d.sentences, d.labels) for d in got] == [
            (r["paper_id"], r["title"], r["abstract"],
             [x.removesuffix("_label") for x in r["pred_labels"]])
            for r in records
        ]  # fmt: skip
    else:
        assert isinstance(got, FinesimError), got
        assert_names(got, path, first_bad)


@SETTINGS
@given(data=st.data(), records=papers())
def test_csfcube_abstracts_file(folder, data, records):
    lines, first_bad = mix(data, [json.dumps(r).encode() for r in records])
    path = write_lines(fresh(folder, "abstracts.jsonl"), lines)
    got = run(load_papers, path)
    if first_bad is None:
        assert {pid: (p.title, p.sentences, p.labels) for pid, p in got.items()} == {
            r["paper_id"]: (r["title"], r["abstract"], r["pred_labels"]) for r in records
        }
    else:
        assert isinstance(got, FinesimError), got
        assert_names(got, path, first_bad)


# ---- training pairs ---------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), pairs=st.lists(st.tuples(LINE_TEXT, LINE_TEXT), min_size=1, max_size=5))
def test_pairs_jsonl(folder, data, pairs):
    good = [json.dumps({"anchor": a, "positive": b}).encode() for a, b in pairs]
    lines, first_bad = mix(data, good)
    path = write_lines(fresh(folder, "p.jsonl"), lines)
    got = run(read_file, path, "pairs")
    first_error = first_bad
    for number, line in enumerate(lines, 1):
        if number == first_bad:
            break
        record = json.loads(line)
        if not record["anchor"].strip() or not record["positive"].strip():
            first_error = number
            break
    if first_error is None:
        assert [e.texts for e in got] == [{"anchor": a, "positive": b} for a, b in pairs]
    else:
        assert isinstance(got, FinesimError), got
        assert_names(got, path, first_error)


@SETTINGS
@given(
    rows=st.lists(st.tuples(WORDS, WORDS, st.floats(0, 5) | st.just("9" * 5000)), max_size=5),
    fmt=st.sampled_from(["csv", "tsv"]),
)
def test_scored_pairs_csv_and_tsv(folder, rows, fmt):
    sep = "," if fmt == "csv" else "\t"
    lines = [sep.join(["sentence1", "sentence2", "score"])]
    lines += [sep.join([a, b, str(s)]) for a, b, s in rows]
    path = fresh(folder, f"s.{fmt}")
    path.write_text("\n".join(lines) + "\n")
    got = run(read_file, path, "scored")
    if not rows:
        assert isinstance(got, FinesimError)
        assert_names(got, path)
    else:
        assert [(e.texts["anchor"], e.texts["positive"], e.label) for e in got] == [
            (a, b, float(s)) for a, b, s in rows
        ]
