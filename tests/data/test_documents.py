import gzip
import json

import pytest

from finesim._util.errors import FinesimError
from finesim.data.documents import (
    Document,
    normalize_label,
    read_documents,
    split_sentences,
    write_documents,
)


def write(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" if not isinstance(r, str) else r for r in records))
    return path


def test_split_sentences_keeps_abbreviations_together():
    text = "We study e.g. graphs in Fig. 2 of the paper. Results improve by 3.5 points! Why?"
    assert split_sentences(text) == [
        "We study e.g. graphs in Fig. 2 of the paper.",
        "Results improve by 3.5 points!",
        "Why?",
    ]
    assert split_sentences("   ") == []


def test_read_text_lists_labels_and_csfcube_names(tmp_path):
    f = write(
        tmp_path / "d.jsonl",
        {"id": "a", "title": "T", "abstract": "First one. Second one."},
        {"id": 7, "abstract": ["x", "y"], "labels": ["Objective_label", "result"], "year": 2020},
        {"paper_id": "c", "text": ["only"], "pred_labels": ["method_label"]},
    )
    docs = list(read_documents(f))
    assert [d.id for d in docs] == ["a", "7", "c"]
    assert docs[0].sentences == ["First one.", "Second one."] and docs[0].labels is None
    assert docs[0].title == "T"
    assert docs[1].labels == ["objective", "result"] and docs[1].extra == {"year": 2020}
    assert docs[2].labels == ["method"] and docs[2].title == ""


def test_gzip_and_round_trip(tmp_path):
    f = tmp_path / "d.jsonl.gz"
    with gzip.open(f, "wt") as g:
        g.write(json.dumps({"id": "a", "abstract": ["s1", "s2"], "labels": ["method", "other"]}))
    docs = list(read_documents(f))
    out = tmp_path / "out.jsonl"
    assert write_documents(docs, out) == 1
    again = list(read_documents(out))
    assert again[0].sentences == ["s1", "s2"] and again[0].labels == ["method", "other"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{not json\n", "invalid JSON"),
        ("[1, 2]\n", "expected a JSON object"),
        ({"abstract": "x"}, "field 'id'"),
        ({"id": "a"}, "no field 'abstract'"),
        ({"id": "a", "abstract": 3}, "must be a string or a list"),
        ({"id": "a", "abstract": ["x", " "]}, "empty sentence"),
        ({"id": "a", "abstract": ""}, "is empty"),
        ({"id": "a", "abstract": ["x"], "labels": ["method", "result"]}, "2 labels for 1"),
        ({"id": "a", "abstract": ["x"], "labels": ["conclusion"]}, "unknown label"),
        ({"id": "a", "abstract": ["x"], "title": 5}, "'title'"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, record, message):
    f = write(tmp_path / "d.jsonl", {"id": "ok", "abstract": ["fine"]}, record)
    with pytest.raises(FinesimError, match=rf"d\.jsonl:2: .*{message}"):
        list(read_documents(f))


def test_duplicate_ids_and_missing_file(tmp_path):
    f = write(tmp_path / "d.jsonl", {"id": "a", "abstract": "x"}, {"id": "a", "abstract": "y"})
    with pytest.raises(FinesimError, match=r"d\.jsonl:2: duplicate id 'a'"):
        list(read_documents(f))
    with pytest.raises(FinesimError, match="no such file"):
        list(read_documents(tmp_path / "missing.jsonl"))


def test_normalize_label():
    assert normalize_label(" Background_label ") == "background"
    with pytest.raises(ValueError):
        normalize_label(3)


def test_write_documents_is_atomic(tmp_path):
    def broken():
        yield Document("a", ["x"])
        raise FinesimError("boom")

    with pytest.raises(FinesimError):
        write_documents(broken(), tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []
