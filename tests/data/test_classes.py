import pytest

from finesim import FinesimError
from finesim.data.classes import load_classes, read_class_examples, read_labelled, save_classes
from finesim.data.pairs import read_file


def test_labelled_texts_become_examples_with_sorted_class_ids(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text,label\nrates rise,finance\na man sings,music\nstocks fall,finance\n")
    data = read_labelled(f)
    assert data.classes == ["finance", "music"]
    assert [(e.texts, e.label) for e in data.examples()] == [
        ({"anchor": "rates rise"}, 0.0),
        ({"anchor": "a man sings"}, 1.0),
        ({"anchor": "stocks fall"}, 0.0),
    ]
    assert [e.label for e in data.examples(["music", "finance", "sport"])] == [1.0, 0.0, 1.0]
    with pytest.raises(FinesimError, match="not in the class vocabulary"):
        data.examples(["music"])
    assert [e.label for e in read_file(f, "classes")] == [0.0, 1.0, 0.0]


def test_columns_and_bad_rows_are_named(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"s": "a", "topic": "x"}\n{"s": "b", "topic": "y"}\n')
    examples, classes = read_class_examples(f, {"text": "s", "label": "topic"})
    assert classes == ["x", "y"] and examples[1].texts == {"anchor": "b"}
    with pytest.raises(FinesimError, match="roles text and label"):
        read_class_examples(f, {"positive": "s"})
    f.write_text('{"s": "a", "topic": "x"}\n{"s": "", "topic": "y"}\n')
    with pytest.raises(FinesimError, match=r"d.jsonl:2: empty text"):
        read_class_examples(f, {"text": "s", "label": "topic"})
    f.write_text('{"s": "a", "topic": "x"}\n{"s": "b", "topic": "x"}\n')
    with pytest.raises(FinesimError, match="two different labels"):
        read_class_examples(f, {"text": "s", "label": "topic"})
    g = tmp_path / "n.csv"
    g.write_text("text\nhello\n")
    with pytest.raises(FinesimError, match="no column 'label'"):
        read_labelled(g)


def test_vocabulary_round_trips_beside_a_model(tmp_path):
    assert load_classes(tmp_path) is None
    save_classes(tmp_path, ["b", "a"])
    assert load_classes(tmp_path) == ["b", "a"]
    (tmp_path / "classes.json").write_text('{"classes": [1, 2]}')
    with pytest.raises(FinesimError, match="list of label names"):
        load_classes(tmp_path)
