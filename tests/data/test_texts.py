import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finesim import FinesimError
from finesim.data.texts import TextFile


def test_txt_keeps_lines_and_positions(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes('\ufefffirst line\r\nsecond "quoted"\n\nfourth\n'.encode())
    with pytest.raises(FinesimError, match=r"a.txt:3: empty text \(pass --skip-empty"):
        list(TextFile(f))
    assert list(TextFile(f, skip_empty=True)) == [
        (0, "first line"),
        (1, 'second "quoted"'),
        (3, "fourth"),
    ]


def test_non_utf8_names_the_line(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"ok\nalso ok\n\xff\xfe broken\n")
    with pytest.raises(FinesimError, match=r"bad.txt:3: not valid UTF-8"):
        list(TextFile(f))


def test_jsonl_fields_ids_and_errors(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"id": "x1", "body": "hello"}\n{"id": "x2", "body": "world"}\n')
    assert list(TextFile(f, field="body", id_field="id")) == [("x1", "hello"), ("x2", "world")]
    with pytest.raises(FinesimError, match=r"a.jsonl:1: no field 'text'"):
        list(TextFile(f))
    f.write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(FinesimError, match=r"a.jsonl:2: invalid JSON"):
        list(TextFile(f))
    f.write_text('{"text": "a"}\n{"text": 3}\n')
    with pytest.raises(FinesimError, match=r"a.jsonl:2: field 'text' is not a string"):
        list(TextFile(f))
    f.write_text('["a"]\n')
    with pytest.raises(FinesimError, match="expected a JSON object"):
        list(TextFile(f))


def test_csv_with_quotes_and_tsv_without(tmp_path):
    c = tmp_path / "a.csv"
    c.write_text('id,text\n1,"hello, ""world"""\n2,"two\nlines"\n3,plain\n')
    assert list(TextFile(c, id_field="id")) == [
        ("1", 'hello, "world"'),
        ("2", "two\nlines"),
        ("3", "plain"),
    ]
    t = tmp_path / "a.tsv"
    t.write_text('sentence\tscore\nhe said "hi\t3\n')
    assert list(TextFile(t, field="sentence")) == [(0, 'he said "hi')]
    with pytest.raises(FinesimError, match=r"a.tsv: no column 'text' \(columns: sentence, score\)"):
        list(TextFile(t))
    t.write_text("text\tscore\nok\t1\nshort\n")
    with pytest.raises(FinesimError, match=r"a.tsv:3: 1 fields, the header has 2"):
        list(TextFile(t))


def test_parquet(tmp_path):
    f = tmp_path / "a.parquet"
    pq.write_table(pa.table({"doc": ["a", "b", None], "k": [7, 8, 9]}), f)
    with pytest.raises(FinesimError, match=r"a.parquet: row 2: field 'doc' is not a string"):
        list(TextFile(f, field="doc"))
    pq.write_table(pa.table({"doc": ["a", "b"], "k": [7, 8]}), f)
    assert list(TextFile(f, field="doc", id_field="k")) == [("7", "a"), ("8", "b")]
    with pytest.raises(FinesimError, match="no column 'text'"):
        list(TextFile(f))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(FinesimError, match="not a readable parquet file"):
        list(TextFile(tmp_path / "bad.parquet"))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FinesimError, match="no such file"):
        TextFile(tmp_path / "nope.txt").check()
    (tmp_path / "a.docx").write_text(json.dumps({}))
    with pytest.raises(FinesimError, match="unsupported input format"):
        TextFile(tmp_path / "a.docx").check()
