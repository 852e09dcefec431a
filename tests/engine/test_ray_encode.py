"""``--engine ray``: the local engine's vectors from an actor pool, also when an actor dies.

One local Ray (2 CPUs, a small object store) serves the whole module: starting Ray costs
seconds, and every job here reuses it.
"""

import json
import logging
import socket

import numpy as np
import pyarrow.parquet as pq
import pytest

from finesim._util.errors import FinesimError
from finesim.engine import ray_encode
from finesim.engine.ray_encode import _runs, check_parts, part_path, plan
from tests.helpers import SENTENCES, jsonl, require_data, require_module
from tests.helpers import paper_records as papers

ray = require_module("ray", "the ray extra")  # make install puts it in CI, where it must not skip

TEXTS = [f"{s} {w}" for s in SENTENCES for w in ("red", "blue green", "a very small dog")]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 << 20,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [json.dumps({"key": f"k{i}", "body": t}) for i, t in enumerate(TEXTS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read(path):
    table = pq.read_table(path)
    vectors = table.column("embedding").combine_chunks().values.to_numpy()
    return table.column("id").to_pylist(), vectors.reshape(len(table), -1)


def encode(cli, engine_args, model, corpus, out, *extra):
    code, out_text, err = cli(
        "encode", "-m", model, "-i", corpus, "-o", out, "--field", "body", "--id-field", "key",
        "--batch-size", "8", "--shard-size", "40", "--json", *engine_args, *extra,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out_text)


def test_ray_equals_local(cli, ray_cluster, tiny_st, corpus, tmp_path):
    encode(cli, [], tiny_st, corpus, tmp_path / "local.parquet")
    summary = encode(
        cli, ["--engine", "ray", "--workers", "2"], tiny_st, corpus, tmp_path / "r.npy"
    )
    assert summary["rows"] == len(TEXTS) and summary["workers"] == 2
    assert summary["cpus_per_worker"] < 1  # whole CPUs would starve the read tasks
    ids, local = read(tmp_path / "local.parquet")
    on_ray = np.load(tmp_path / "r.npy")
    assert ids == [f"k{i}" for i in range(len(TEXTS))]
    assert on_ray.shape == local.shape
    assert np.abs(on_ray - local).max() <= 1e-5
    assert not list(tmp_path.glob(".*"))  # no work folder or temp file left behind


def test_killed_actor_every_row_exactly_once(
    cli, ray_cluster, tiny_st, corpus, tmp_path, monkeypatch
):
    """An actor SIGKILLs itself after writing the parts of its second batch and before
    answering: Ray retries the batch elsewhere, whose parts must replace those, not add."""
    marker = str(tmp_path / "killed")

    class DyingActor(ray_encode.EncodeActor):  # defined here: Ray ships it by value
        calls = 0

        def __call__(self, batch):
            out = super().__call__(batch)
            self.calls += 1
            if self.calls >= 2:
                import os
                import signal

                try:  # the first actor to claim the marker dies; retries then pass
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    return out
                os.kill(os.getpid(), signal.SIGKILL)
            return out

    monkeypatch.setattr(ray_encode, "EncodeActor", DyingActor)
    encode(cli, ["--engine", "ray", "--workers", "2"], tiny_st, corpus, tmp_path / "r.parquet")
    assert (tmp_path / "killed").exists()  # an actor did SIGKILL itself
    monkeypatch.undo()
    encode(cli, [], tiny_st, corpus, tmp_path / "local.parquet")
    ids, vectors = read(tmp_path / "r.parquet")
    local_ids, local = read(tmp_path / "local.parquet")
    assert len(ids) == len(set(ids)) == len(TEXTS)
    assert ids == local_ids
    assert np.abs(vectors - local).max() <= 1e-5


def test_index_build_on_ray_matches_local(cli, ray_cluster, tiny_st, tmp_path):
    from finesim.search.index import Index

    train = jsonl(tmp_path / "train.jsonl", papers(20))
    code, _, err = cli("facets", "train", "-m", tiny_st, "--docs", train, "-o", tmp_path / "tag")
    assert code == 0, err
    docs = jsonl(tmp_path / "docs.jsonl", papers(12, seed=1, labelled=False))
    for engine in ("local", "ray"):
        code, _, err = cli(
            "index", "build", "-m", tiny_st, "--docs", docs, "-o", tmp_path / engine,
            "--kind", "flat", "--tagger", tmp_path / "tag", "--engine", engine,
            *(["--workers", "1"] if engine == "ray" else []),
        )  # fmt: skip
        assert code == 0, err
    local, on_ray = Index.open(tmp_path / "local"), Index.open(tmp_path / "ray")
    assert on_ray.ids == local.ids and on_ray.fingerprint == local.fingerprint
    assert np.abs(on_ray.means - local.means).max() <= 1e-5
    assert on_ray.wholes is not None and local.wholes is not None  # hybrid scoring's
    assert np.abs(on_ray.wholes - local.wholes).max() <= 1e-5
    assert on_ray.ann.size == local.ann.size
    assert (on_ray.labels == local.labels).all() and (local.labels >= 0).all()  # tagged


def test_bad_input_and_options_are_one_line(cli, tiny_st, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a man"}\n{"text": 3}\n')
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "a man"}\n')
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        free = f"127.0.0.1:{probe.getsockname()[1]}"
    cases = [
        (["-i", bad, "-o", tmp_path / "v.npy", "--engine", "ray"], "bad.jsonl:2"),
        (["-i", bad, "-o", tmp_path / "v.npy", "--workers", "2"], "need --engine ray"),
        (["-i", bad, "-o", tmp_path / "v.npy", "--engine", "spark"], "choose local or ray"),
        (["-i", good, "-o", tmp_path / "v.npy", "--engine", "ray", "--address", free], "answers"),
    ]
    for args, expected in cases:
        code, _, err = cli("encode", "-m", tiny_st, *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected in lines[0], err
    assert not (tmp_path / "v.npy").exists() and not list(tmp_path.glob(".v.npy*"))


def test_plan_leaves_cpu_for_reads():
    assert plan(2, 2).actor_cpus * 2 + plan(2, 2).read_cpus <= 2
    assert plan(2, None).workers == 2 and plan(2, None).threads == 1
    assert plan(2, 1).threads == 2 and plan(64, 8).threads == 8
    with pytest.raises(FinesimError):
        plan(0, None)


def test_runs_and_parts(tmp_path):
    assert _runs(np.array([4, 5, 6, 0, 1, 9])) == [(0, 3), (3, 5), (5, 6)]
    import pyarrow as pa

    for first, n in ((0, 3), (5, 2)):
        pq.write_table(pa.table({"id": list(range(first, first + n))}), part_path(tmp_path, first))
    with pytest.raises(FinesimError, match="rows 3..5 missing"):
        check_parts(tmp_path, 7)


def test_bench_encode_engine_json(cli, ray_cluster, tiny_st, tmp_path):
    require_data("sts")
    out = tmp_path / "bench.json"
    args = ["-m", tiny_st, "--count", "64", "--workers", "1", "--json", out]
    code, stdout, err = cli("bench", "encode-engine", *args)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["texts"]["count"] == 64
    assert result["local"]["encode_per_s_per_core"] > 0
    assert result["ray_1_workers"]["max_abs_diff"] <= 1e-5
    assert result["ray_1_workers"]["encode_per_s"] > 0
    assert ray.is_initialized()  # the module's Ray was used, not shut down
