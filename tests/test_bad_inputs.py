"""Every bad input a new user tried gives one clear line and exit status 2, never a traceback:
usage errors (click's message naming the option), JSON past Python's limits (file:line),
corrupt weights and index files (the file), hostile BEIR, CSFCube and pairs files."""

import json
import shutil
import subprocess
import sys

import pytest

from finesim.search.store import checksum

DEEP = "[" * 10000 + "]" * 10000
BIG = "9" * 5000


def assert_usage_error(result, *words):
    code, out, err = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert "Usage:" in err and "Error:" in err
    for word in words:
        assert word in err, err


def assert_one_line(result, *words):
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("finesim: error: "), err
    assert "Traceback" not in out + err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["encode", "--no-such-flag"], ["No such option: --no-such-flag"]),
        (["no-such-command"], ["No such command 'no-such-command'"]),
        (["encode", "-i", "x.txt"], ["Missing option '--output'"]),
        (["search", "-k", "0", "idx"], ["'-k'", "greater than or equal to 1"]),
        (["encode", "-i", "a", "-o", "b", "--batch-size", "0"], ["'--batch-size'"]),
        (["encode", "-i", "a", "-o", "b", "--batch-size", "-1"], ["'--batch-size'"]),
        (["encode", "-i", "a", "-o", "b", "--max-length", "0"], ["'--max-length'"]),
        (["serve", "--port", "70000"], ["'--port'", "less than or equal to 65535"]),
        (["serve", "--max-batch-tokens", "-1"], ["'--max-batch-tokens'"]),
        (["serve", "--timeout", "-1"], ["'--timeout'"]),
        (["bench", "serve", "--json", "/"], ["'--json'", "is a folder"]),
        (["bench", "serve", "--json", "/no/such/folder/x.json"], ["'--json'", "no such folder"]),
    ],
)
def test_usage_errors(cli, args, words):
    assert_usage_error(cli(*args), *words)


def test_usage_error_in_a_real_process_has_no_traceback(tmp_path):
    command = [sys.executable, "-c", "from finesim.cli.main import main; main()"]
    for args in (["encode", "--batch-size", "0"], ["no-such-command"]):
        done = subprocess.run([*command, *args], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("Usage:"), done.stderr


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "b", "n": ' + BIG + "}", "an integer with more digits than Python reads"),
        ('{"text": "b", "n": ' + DEEP + "}", "nested too deeply"),
    ],
)
def test_json_past_pythons_limits_names_file_and_line(cli, tiny_st, tmp_path, line, problem):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "a"}\n' + line + "\n")
    message = assert_one_line(
        cli("encode", "-m", tiny_st, "-i", path, "-o", tmp_path / "v.npy"), problem
    )
    assert f"{path}:2: invalid JSON" in message
    assert not (tmp_path / "v.npy").exists()


def test_truncated_weights_name_the_file(cli, tiny_st, tiny_bert, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    for source in (tiny_st, tiny_bert):
        model = tmp_path / source.name
        shutil.copytree(source, model)
        weights = model / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:20000])
        assert_one_line(
            cli("encode", "-m", model, "-i", texts, "-o", tmp_path / "v.npy"),
            f"{weights}: unreadable weights, truncated or corrupt",
        )


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("modules.json", DEEP, ["modules.json: cannot read model config (nested too deeply)"]),
        ("config.json", '{"a": ' + BIG + "}", ["config.json: cannot read model config"]),
        ("modules.json", "[1, 2]", ["modules.json: each module must be an object"]),
        ("1_Pooling/config.json", '"x"', ["1_Pooling/config.json: not a model config"]),
        ("tokenizer.json", DEEP, ["cannot load the tokenizer"]),
    ],
)
def test_corrupt_model_configs_name_the_file(cli, tiny_st, tmp_path, name, content, words):
    model = tmp_path / "model"
    shutil.copytree(tiny_st, model)
    (model / name).write_text(content)
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    assert_one_line(cli("encode", "-m", model, "-i", texts, "-o", tmp_path / "v.npy"), *words)


@pytest.fixture(scope="module")
def tiny_index(tiny_st):
    from finesim import Encoder, Index
    from tests.helpers import papers

    return Index.build(Encoder(tiny_st), papers(), kind="flat", cache=False)


def resign(folder):
    """Rewrite the manifest's sizes and checksums: the hostile file then passes them."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"]:
        path = folder / name
        manifest["files"][name] = {"bytes": path.stat().st_size, "blake2b": checksum(path)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("ids.json", DEEP, ["ids.json: unreadable (nested too deeply)"]),
        ("ids.json", "[" + BIG + "]", ["ids.json: unreadable (an integer"]),
        ("docs.offsets.npy", "garbage", ["docs.offsets.npy: unreadable"]),
        ("means.npy", "garbage", ["means.npy: unreadable"]),
        ("ann.faiss", "garbage", ["ann.faiss: not a readable faiss index"]),
        ("manifest.json", DEEP, ["manifest.json: unreadable index manifest (nested too deeply)"]),
    ],
)
def test_corrupt_index_files_name_the_file(
    cli, tiny_st, tiny_index, tmp_path, name, content, words
):
    folder = tmp_path / "idx"
    tiny_index.save(folder)
    (folder / name).write_text(content)
    if name != "manifest.json":
        resign(folder)
    assert_one_line(cli("search", folder, "--query-doc", "p1", "-m", tiny_st), *words)
    (folder / "manifest.json").write_text(
        json.dumps({**json.loads((folder / "manifest.json").read_text()), "model": "x"})
        if name != "manifest.json"
        else "{}"
    )
    assert_one_line(cli("search", folder, "--query-doc", "p1", "-m", tiny_st), "manifest")


def test_hostile_beir_and_pairs_files(cli, tiny_st, tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b", "x": ' + DEEP + "}\n"
    )
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert_one_line(
        cli("eval", "beir", "-m", tiny_st, "--data", beir, "--no-cache"),
        f"{beir / 'corpus.jsonl'}:2: invalid JSON (nested too deeply)",
    )
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"anchor": "a b", "positive": "c d", "n": ' + BIG + "}\n")
    assert_one_line(
        cli(
            "train", "-m", tiny_st, "-o", tmp_path / "run", "--data", pairs, "--set", "format=pairs"
        ),
        f"{pairs}:1: invalid JSON (an integer",
    )
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"paper_id": "p1", "abstract": ["x."], "pred_labels": ' + DEEP + "}\n")
    assert_one_line(
        cli("index", "build", "-m", tiny_st, "--docs", docs, "--out", tmp_path / "i"),
        f"{docs}:1: invalid JSON (nested too deeply)",
    )
