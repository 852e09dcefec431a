"""``finesim distill``: a folder sentence-transformers loads, its record, and bad input as one
line and exit status 2 with nothing written."""

from __future__ import annotations

import json

import numpy as np

from finesim import Encoder
from finesim.models.distill import RECORD_FILE
from tests.helpers import SENTENCES


def test_distill_writes_a_static_folder(cli, tiny_st, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"body": "playful dogs"}) + "\n" for _ in range(3)))
    out = tmp_path / "static"
    code, stdout, err = cli(
        "distill",
        "-m",
        tiny_st,
        "-o",
        out,
        "--dim",
        "8",
        "--vocab",
        corpus,
        "--vocab-field",
        "body",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["dim"] == 8 and summary["corpus_words"] == 2
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["teacher"] == str(tiny_st) and record["sif"] == 1e-4
    static = Encoder(out)
    assert static.dim == 8 and static.info()["architecture"] == "StaticEmbedding"
    vectors = static.encode(SENTENCES[:4])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    code, _, err = cli("distill", "-m", tiny_st, "-o", out, "--dim", "4", "--overwrite")
    assert code == 0, err
    assert Encoder(out).dim == 4


def test_bad_input_is_one_line_and_writes_nothing(cli, tiny_st, tmp_path):
    out = tmp_path / "static"
    cases = [
        (("-m", tmp_path / "no-model"), "no-model"),
        (("-m", tiny_st, "--dim", "64"), "--dim 64: must be 1..32"),
        (("-m", tiny_st, "--vocab", tmp_path / "none.txt"), "none.txt: no such file"),
        (("-m", tiny_st, "--vocab", tmp_path), "not a file"),
    ]
    for args, message in cases:
        code, _, err = cli("distill", "-o", out, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
    out.mkdir()
    (out / "keep").write_text("mine")
    code, _, err = cli("distill", "-m", tiny_st, "-o", out, "--dim", "8")
    assert code == 2 and "exists; pass --overwrite" in err
    assert (out / "keep").read_text() == "mine"
