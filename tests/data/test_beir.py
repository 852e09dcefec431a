import gzip
import json

import pytest

from finesim import FinesimError
from finesim.data.beir import judged_queries, read_corpus, read_qrels, read_queries


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Guitar", "text": "a man plays the guitar"},
            {"_id": "d2", "title": "", "text": " the woman sings "},
            {"_id": 3, "text": "no title field", "metadata": {}},
            {"_id": "d4", "title": None, "text": "null title"},
        ],
    )
    write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "who plays?"},
            {"_id": "q2", "text": "x"},
            {"_id": "q3", "text": "y"},
        ],
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq3\td1\t1\nq1\td1\t2\nq1\td2\t0\nq3\td1\t2\n\n"
    )
    return tmp_path


def test_corpus_text_is_title_then_text(folder):
    assert list(read_corpus(folder)) == [
        ("d1", "Guitar a man plays the guitar"),
        ("d2", "the woman sings"),
        ("3", "no title field"),
        ("d4", "null title"),
    ]


def test_gzipped_corpus_reads_the_same(folder):
    expected = list(read_corpus(folder))
    plain = folder / "corpus.jsonl"
    with gzip.open(folder / "corpus.jsonl.gz", "wb") as f:
        f.write(plain.read_bytes())
    plain.unlink()
    assert list(read_corpus(folder)) == expected


def test_qrels_keep_only_the_split_and_the_last_grade(folder):
    qrels = read_qrels(folder, "test")
    assert qrels == {"q3": {"d1": 2}, "q1": {"d1": 2, "d2": 0}}
    assert list(judged_queries(folder, qrels)) == ["q3", "q1"]  # q2 is not judged
    assert read_queries(folder)["q2"] == "x"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"_id": "d9", "text": ', r"corpus.jsonl:3: invalid JSON"),
        ('{"title": "t", "text": "x"}', r"corpus.jsonl:3: no string field '_id'"),
        ('{"_id": "d9"}', r"corpus.jsonl:3: field 'text' is missing or not a string"),
        ('{"_id": "d9", "text": 4}', r"corpus.jsonl:3: field 'text' is missing"),
        ('["d9", "text"]', r"corpus.jsonl:3: expected a JSON object"),
        ('{"_id": "d1", "text": "again"}', r"corpus.jsonl:3: document id 'd1' appears twice"),
    ],
)
def test_bad_corpus_lines_name_file_and_line(tmp_path, line, message):
    good = '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n'
    (tmp_path / "corpus.jsonl").write_text(good + line + "\n")
    with pytest.raises(FinesimError, match=message):
        list(read_corpus(tmp_path))


def test_non_utf8_and_broken_gzip(tmp_path):
    (tmp_path / "corpus.jsonl").write_bytes(b'{"_id": "a", "text": "ok"}\n\xff\xfe\n')
    with pytest.raises(FinesimError, match=r"corpus.jsonl:2: not valid UTF-8"):
        list(read_corpus(tmp_path))
    (tmp_path / "corpus.jsonl").unlink()
    (tmp_path / "corpus.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(FinesimError, match=r"corpus.jsonl.gz:1: cannot read"):
        list(read_corpus(tmp_path))


def test_empty_corpus_and_missing_files(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("\n")
    with pytest.raises(FinesimError, match=r"corpus.jsonl: no documents"):
        list(read_corpus(tmp_path))
    with pytest.raises(FinesimError, match=r"queries.jsonl: no such file"):
        read_queries(tmp_path)
    with pytest.raises(FinesimError, match=r"qrels/test.tsv: no such file$"):
        read_qrels(tmp_path, "test")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(FinesimError, match=r"test.tsv: no such file \(splits here: dev\)"):
        read_qrels(tmp_path, "test")
    with pytest.raises(FinesimError, match=r"dev.tsv: no judgements"):
        read_qrels(tmp_path, "dev")
    with pytest.raises(FinesimError, match=r"nowhere: no such folder"):
        list(read_corpus(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q1\td1\t1\n", r"test.tsv:1: expected a header"),
        ("query-id\tcorpus-id\tscore\nq1\td1\n", r"test.tsv:2: 2 fields, expected 3"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\thigh\n", r"test.tsv:3: score 'high'"),
    ],
)
def test_bad_qrels_name_file_and_line(tmp_path, text, message):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(text)
    with pytest.raises(FinesimError, match=message):
        read_qrels(tmp_path)


def test_judged_query_without_text_is_an_error(folder):
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "only one"}])
    with pytest.raises(FinesimError, match=r"queries.jsonl: 1 judged queries are missing .*'q3'"):
        judged_queries(folder, read_qrels(folder))
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}])
    with pytest.raises(FinesimError, match=r"queries.jsonl:2: query id 'q1' appears twice"):
        read_queries(folder)
