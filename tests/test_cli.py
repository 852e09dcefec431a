import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finesim import Encoder
from tests.helpers import REPO, SENTENCES


@pytest.fixture
def texts(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("\n".join(SENTENCES) + "\n")
    return f


def test_encode_txt_to_npy_and_parquet(cli, tiny_st, texts, tmp_path):
    expected = Encoder(tiny_st).encode(SENTENCES)
    code, out, err = cli(
        "encode", "--model", tiny_st, "-i", texts, "-o", tmp_path / "v.npy", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["rows"] == len(SENTENCES)
    assert np.abs(np.load(tmp_path / "v.npy") - expected).max() <= 1e-6
    code, _, err = cli("encode", "--model", tiny_st, "-i", texts, "-o", tmp_path / "v.parquet")
    assert code == 0, err
    table = pq.read_table(tmp_path / "v.parquet")
    assert table.column("id").to_pylist() == list(range(len(SENTENCES)))
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    vectors = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert np.abs(vectors - expected).max() <= 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "v.npy", "v.parquet"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_encode_other_inputs(cli, tiny_st, tmp_path, fmt):
    rows = [{"key": f"k{i}", "body": s} for i, s in enumerate(SENTENCES[:5])]
    f = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), f)
    else:
        sep = "," if fmt == "csv" else "\t"
        f.write_text(f"key{sep}body\n" + "".join(f"{r['key']}{sep}{r['body']}\n" for r in rows))
    out = tmp_path / "v.parquet"
    code, _, err = cli(
        "encode", "-m", tiny_st, "-i", f, "-o", out, "--field", "body", "--id-field", "key"
    )
    assert code == 0, err
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [r["key"] for r in rows]
    vectors = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert np.abs(vectors - Encoder(tiny_st).encode(SENTENCES[:5])).max() <= 1e-6


def _assert_clean_failure(code, out, err, folder, expected_files, pattern):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("finesim: error: "), err
    assert pattern in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected_files)


def test_bad_inputs_exit_2_with_one_line(cli, tiny_st, tiny_bert, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n" * 50 + b"\xff broken\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("one\n\nthree\n")
    jl = tmp_path / "a.jsonl"
    jl.write_text('{"body": "x"}\n')
    out = tmp_path / "out.npy"
    files = ["bad.txt", "empty.txt", "a.jsonl"]
    cases = [
        (["-i", tmp_path / "nope.txt", "-o", out], "nope.txt: no such file"),
        (["-i", bad, "-o", out], "bad.txt:51: not valid UTF-8"),
        (["-i", empty, "-o", out], "empty.txt:2: empty text"),
        (["-i", jl, "-o", out], "a.jsonl:1: no field 'text'"),
        (["-i", empty, "-o", out, "--skip-empty", "-m", "nonesuch"], "unknown model 'nonesuch'"),
        (["-i", empty, "-o", out, "--skip-empty", "-m", tmp_path], "not a model folder"),
        (["-i", empty, "-o", tmp_path / "missing" / "o.npy"], "no such folder"),
        (["-i", empty, "-o", tmp_path / "o.csv"], "unsupported output format"),
        (
            ["-i", empty, "-o", out, "--skip-empty", "-m", tiny_bert, "--pooling", "median"],
            "unknown pooling",
        ),
    ]
    for args, pattern in cases:
        model = [] if "-m" in args else ["-m", tiny_st]
        _assert_clean_failure(*cli("encode", *model, *args), tmp_path, files, pattern)


def test_existing_output_is_kept_without_overwrite(cli, tiny_st, texts, tmp_path):
    out = tmp_path / "v.npy"
    out.write_bytes(b"precious")
    code, out_text, err = cli("encode", "-m", tiny_st, "-i", texts, "-o", out)
    _assert_clean_failure(code, out_text, err, tmp_path, ["in.txt", "v.npy"], "--overwrite")
    assert out.read_bytes() == b"precious"
    code, _, err = cli("encode", "-m", tiny_st, "-i", texts, "-o", out, "--overwrite")
    assert code == 0 and np.load(out).shape == (len(SENTENCES), 32)


def test_skip_empty_keeps_record_positions_as_ids(cli, tiny_st, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("a cat\n\n  \nthe dog\n")
    code, _, err = cli(
        "encode", "-m", tiny_st, "-i", f, "-o", tmp_path / "v.parquet", "--skip-empty"
    )
    assert code == 0, err
    assert pq.read_table(tmp_path / "v.parquet").column("id").to_pylist() == [0, 3]


def test_truncation_is_reported(cli, tiny_st, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("cat " * 100 + "\ndog\n")
    code, out, err = cli("encode", "-m", tiny_st, "-i", f, "-o", tmp_path / "v.npy", "--json")
    assert code == 0 and json.loads(out)["truncated"] == 1
    assert "1 truncated at 64 tokens" in err


def test_similarity_and_info(cli, tiny_st):
    code, out, _ = cli("similarity", "-m", tiny_st, "a cat", "a dog", "bank rates", "--json")
    result = json.loads(out)
    matrix = np.array(result["cosine"])
    assert code == 0 and matrix.shape == (3, 3)
    assert np.allclose(np.diag(matrix), 1.0, atol=1e-5) and np.allclose(matrix, matrix.T)
    vectors = Encoder(tiny_st).encode(["a cat", "a dog"])
    assert abs(matrix[0, 1] - float(vectors[0] @ vectors[1])) < 1e-5
    code, out, _ = cli("similarity", "-m", tiny_st, "a cat", "a dog")
    assert code == 0 and "a dog" in out
    code, _, err = cli("similarity", "-m", tiny_st, "alone")
    assert code == 2 and "at least two" in err
    code, out, _ = cli("info", "-m", tiny_st, "--json")
    info = json.loads(out)
    assert code == 0 and info["dimension"] == 32 and info["max_length"] == 64
    code, out, _ = cli("info")
    assert code == 0 and "384" in out and "22713216" in out  # the default model is minilm


def test_killed_run_resumes_from_last_shard(tiny_st, tmp_path):
    """SIGKILL mid-run, start again: the output equals an uninterrupted run's."""
    f = tmp_path / "in.txt"
    f.write_text("".join(f"{SENTENCES[i % len(SENTENCES)]} {i % 97}\n" for i in range(40_000)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    base = [sys.executable, "-m", "finesim", "encode", "-m", str(tiny_st), "-i", str(f)]
    args = [*base, "-o", str(tmp_path / "v.npy"), "--shard-size", "500", "--json"]
    shards = tmp_path / ".v.npy.shards"
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (shards / "shard-000003.parquet").exists():
        assert proc.poll() is None and time.time() < deadline, "finished before it could be killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "v.npy").exists()
    kept = len(list(shards.glob("shard-*.parquet")))
    assert 4 <= kept < 80
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["resumed_shards"] >= 4 and summary["rows"] == 40_000
    assert not shards.exists()
    whole = [*base, "-o", str(tmp_path / "w.npy"), "--shard-size", "500"]
    subprocess.run(whole, env=env, capture_output=True, check=True)
    assert np.array_equal(np.load(tmp_path / "v.npy"), np.load(tmp_path / "w.npy"))


def test_usage_errors_exit_2_without_traceback(cli):
    code, _, err = cli("encode", "--bogus")
    assert code == 2 and "No such option: --bogus" in err and "Traceback" not in err
    code, out, err = cli("bench")  # a group without a command: its help, status 2
    assert code == 2 and "Usage:" in out + err and "Traceback" not in out + err


def test_emit_json_prints_and_writes_the_same_text(capsys, tmp_path):
    from finesim._util.errors import FinesimError
    from finesim.cli.common import emit_json

    data = {"model": "café", "rows": [1, 2]}
    emit_json(data, tmp_path / "r.json")
    printed = capsys.readouterr().out
    assert printed == (tmp_path / "r.json").read_text(encoding="utf-8")
    assert printed == '{\n  "model": "café",\n  "rows": [\n    1,\n    2\n  ]\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left
    with pytest.raises(FinesimError, match="no such folder"):
        emit_json(data, tmp_path / "missing" / "r.json")
    assert json.loads(capsys.readouterr().out) == data  # printed before the write failed


def test_encode_truncate_dim(cli, tiny_st, texts, tmp_path):
    code, _, err = cli(
        "encode", "-m", tiny_st, "-i", texts, "-o", tmp_path / "v.npy", "--truncate-dim", "8"
    )
    assert code == 0, err
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (len(SENTENCES), 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    code, _, err = cli(
        "encode", "-m", tiny_st, "-i", texts, "-o", tmp_path / "w.npy", "--truncate-dim", "0"
    )
    assert code == 2 and "--truncate-dim" in err


def test_encode_prompts_and_sides(cli, tiny_st, texts, tmp_path):
    prompted = Encoder(tiny_st)
    prompted.prompts = {"query": "red model: ", "document": "blue paper: "}
    model = prompted.save(tmp_path / "prompted")
    encoder = Encoder(model)
    cases = {
        ("--as", "query"): encoder.encode_query(SENTENCES),
        ("--as", "document"): encoder.encode_document(SENTENCES),
        ("--prompt-name", "document"): encoder.encode(SENTENCES, prompt_name="document"),
        ("--prompt", "big "): encoder.encode(SENTENCES, prompt="big "),
    }
    for i, (args, expected) in enumerate(cases.items()):
        out = tmp_path / f"v{i}.npy"
        code, _, err = cli("encode", "-m", model, "-i", texts, "-o", out, *args)
        assert code == 0, err
        np.testing.assert_allclose(np.load(out), expected, atol=1e-6)
    assert np.abs(cases[("--as", "query")] - encoder.encode(SENTENCES)).max() > 1e-3
    for args, words in (
        (("--prompt-name", "nope"), "unknown prompt_name 'nope'"),
        (("--as", "both"), "--as 'both': choose query or document"),
    ):
        out = tmp_path / "bad.npy"
        code, _, err = cli("encode", "-m", model, "-i", texts, "-o", out, *args)
        assert code == 2 and words in err and "Traceback" not in err
        assert not out.exists()
