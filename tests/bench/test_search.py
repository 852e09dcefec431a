import json

import numpy as np
import pytest

from finesim.bench.search_recall import exact_top
from finesim.docsim import Doc, score_candidates
from tests.helpers import corpus, require_module


@pytest.mark.parametrize("scoring", ["min-l2", "max-sim"])
@pytest.mark.parametrize("facet", [None, "method"])
def test_exact_top_by_chunks_equals_scoring_every_paper(scoring, facet):
    docs, blocks = corpus(n_docs=90, seed=4)

    def chunks():
        for start in range(0, len(docs), 25):  # chunks as the synthesiser yields them
            yield docs[start : start + 25], np.concatenate(blocks[start : start + 25])

    positions = [3, 40, 77]
    found = exact_top(chunks, positions, facet, scoring, 10)
    for position, ids in zip(positions, found, strict=True):
        query = Doc(blocks[position], docs[position].labels)
        others = [i for i in range(len(docs)) if i != position]
        scores, _ = score_candidates(
            query, [Doc(blocks[i], docs[i].labels) for i in others], scoring, facet=facet
        )
        order = np.argsort(-scores, kind="stable")[:10]
        assert ids == [docs[others[i]].id for i in order]


def test_bench_search_binary_at_a_tiny_size(cli, tmp_path):
    out = tmp_path / "bench.json"
    code, _, err = cli(
        "bench", "search", "--papers", "400", "--precision", "binary", "--kind", "ivf",
        "--source", "random", "--queries", "6", "--recall-queries", "3", "--nprobe", "4",
        "--workdir", tmp_path, "--json", out,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["index"]["precision"] == "binary" and result["index"]["kind"] == "ivf"
    assert result["index"]["nprobe"] == 4 and result["index"]["faiss"]["lists"] >= 1
    assert result["corpus"]["documents"] == 400 and result["build"]["peak_rss_mb"] > 0
    assert "ann.rows.i8" in result["disk"]["files_mb"]
    search = result["search"]
    assert search["queries"] == 6 and search["p99_ms"] >= search["p50_ms"] > 0
    recall = result["recall"]
    assert recall["queries"] == 3 and recall["k"] == 100 and 0 < recall["mean_recall"] <= 1
    assert result["machine"]["cores"] >= 1


def test_bench_search_through_milvus_lite_is_exact(cli, tmp_path):
    require_module("milvus_lite", "the milvus store")
    out = tmp_path / "bench.json"
    code, _, err = cli(
        "bench", "search", "--papers", "150", "--precision", "float32", "--store", "milvus",
        "--source", "random", "--queries", "4", "--recall-queries", "3",
        "--workdir", tmp_path, "--json", out,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["index"]["store"] == "milvus" and result["build"]["kind"] == "milvus"
    assert result["build"]["first_stage"]["store"] == "milvus"
    assert "milvus.db" in result["disk"]["files_mb"] or len(result["disk"]["files_mb"]) > 12
    assert result["search"]["queries"] == 4
    assert result["recall"]["mean_recall"] == 1.0  # exact first stage, default budget
