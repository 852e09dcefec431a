"""The search family on the command line: index, search, facets, mine, classify, bench."""

import json

import pytest

from finesim import FinesimError
from tests.helpers import jsonl
from tests.helpers import paper_records as papers


def one_error_line(code, err):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("finesim: error: "), err
    return lines[0]


def test_tagger_index_search_add(cli, tiny_st, tmp_path):
    train = jsonl(tmp_path / "train.jsonl", papers(30))
    code, out, err = cli(
        "facets", "train", "-m", tiny_st, "--docs", train, "-o", tmp_path / "tagger", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["test_documents"] == 6 and 0 <= report["accuracy"] <= 1

    docs = jsonl(tmp_path / "docs.jsonl", papers(25, seed=1, labelled=False))
    code, out, err = cli(
        "index",
        "build",
        "-m",
        tiny_st,
        "--docs",
        docs,
        "-o",
        tmp_path / "idx",
        "--tagger",
        tmp_path / "tagger",
        "--precision",
        "float16",
        "--json",
    )
    assert code == 0, err
    built = json.loads(out)
    assert built["indexed"] == 25 and built["kind"] == "flat" and built["tagger"] == "tagger"

    code, out, err = cli(
        "search",
        tmp_path / "idx",
        "--query",
        "we propose a contrastive model. the result is very fast.",
        "--facet",
        "method",
        "-k",
        "3",
        "--json",
    )
    assert code == 0, err
    hits = json.loads(out)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["pairs"][0]["query_facet"] in ("background", "method", "result", "other")
    assert hits[0]["pairs"][0]["candidate_facet"] is not None  # labelled by the tagger

    code, out, err = cli(
        "search", tmp_path / "idx", "--query-doc", "p3", "--scoring", "max-sim", "-k", "2"
    )
    assert code == 0, err
    assert out.splitlines()[0].split()[0] == "1" and "~ [" in out

    more = jsonl(tmp_path / "more.jsonl", papers(5, seed=2, prefix="q"))
    code, out, err = cli("index", "add", tmp_path / "idx", "--docs", more, "--json")
    assert code == 0, err
    assert json.loads(out)["documents"] == 30
    code, out, err = cli("search", tmp_path / "idx", "--query-doc", "q1", "-k", "30", "--json")
    assert code == 0 and len(json.loads(out)) == 29

    code, out, err = cli("index", "info", tmp_path / "idx")
    assert code == 0 and json.loads(out)["documents"] == 30

    code, out, err = cli(
        "facets",
        "predict",
        "--tagger",
        tmp_path / "tagger",
        "--docs",
        docs,
        "-o",
        tmp_path / "labelled.jsonl",
    )
    assert code == 0, err
    first = json.loads((tmp_path / "labelled.jsonl").read_text().splitlines()[0])
    assert len(first["labels"]) == len(first["abstract"])


def test_search_errors_are_one_line(cli, tiny_st, tiny_bert, tmp_path):
    docs = jsonl(tmp_path / "docs.jsonl", papers(10))
    assert cli("index", "build", "-m", tiny_st, "--docs", docs, "-o", tmp_path / "idx")[0] == 0
    line = one_error_line(
        *cli("index", "build", "-m", tiny_st, "--docs", docs, "-o", tmp_path / "idx")[::2]
    )
    assert "exists" in line
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "abstract": "x"}) + "\n" + '{"id": "b"}\n')
    line = one_error_line(
        *cli("index", "build", "-m", tiny_st, "--docs", bad, "-o", tmp_path / "idx2")[::2]
    )
    assert "bad.jsonl:2" in line and "abstract" in line
    assert not (tmp_path / "idx2").exists()
    other = tmp_path / "other-model"
    from finesim import Encoder

    Encoder(tiny_bert, pooling="cls").save(other)
    line = one_error_line(*cli("search", tmp_path / "idx", "--query", "a man", "-m", other)[::2])
    assert "fingerprint" in line
    line = one_error_line(
        *cli("search", tmp_path / "idx", "--query-doc", "p1", "--facet", "methods")[::2]
    )
    assert "unknown facet" in line
    line = one_error_line(*cli("search", tmp_path / "idx")[::2])
    assert "--query" in line
    labels = tmp_path / "idx" / "labels.npy"
    labels.write_bytes(labels.read_bytes()[:-3])
    line = one_error_line(*cli("search", tmp_path / "idx", "--query-doc", "p1")[::2])
    assert "labels.npy" in line and "truncated" in line


def test_mine_paraphrases_and_classify(cli, tiny_st, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("a man plays the guitar\na man plays the guitar\nthe cat sleeps\nbank rates\n")
    code, out, err = cli("mine", "paraphrases", texts, "-m", tiny_st, "--top-k", "1", "--json")
    assert code == 0, err
    pairs = json.loads(out)
    assert pairs[0]["id_a"] == 0 and pairs[0]["id_b"] == 1 and pairs[0]["score"] > 0.999
    code, out, err = cli(
        "mine",
        "paraphrases",
        texts,
        "-m",
        tiny_st,
        "--threshold",
        "0.999",
        "-o",
        tmp_path / "pairs.tsv",
    )
    assert code == 0, err
    assert (tmp_path / "pairs.tsv").read_text().splitlines()[1].startswith("1.0\t0\t1\t")

    rows = ["text,label"]
    rows += [f"the {w} plays the guitar,music" for w in ("man", "woman", "cat", "dog")] * 5
    rows += [f"bank rates {w} very fast,finance" for w in ("rise", "fall", "not", "and")] * 5
    data = tmp_path / "train.csv"
    data.write_text("\n".join(rows) + "\n")
    code, out, err = cli(
        "classify", "train", "--data", data, "-m", tiny_st, "-o", tmp_path / "clf", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["accuracy"] >= 0.9
    code, out, err = cli(
        "classify",
        "predict",
        "--classifier",
        tmp_path / "clf",
        "-i",
        texts,
        "-o",
        tmp_path / "pred.jsonl",
    )
    assert code == 0, err
    predictions = [json.loads(x) for x in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert predictions[0]["label"] == "music" and predictions[3]["label"] == "finance"
    line = one_error_line(
        *cli(
            "classify",
            "train",
            "--data",
            data,
            "--label-field",
            "nope",
            "-m",
            tiny_st,
            "-o",
            tmp_path / "clf2",
        )[::2]
    )
    assert "no column 'nope'" in line


def test_bench_search_prints_json(cli, tmp_path):
    code, out, err = cli(
        "bench",
        "search",
        "--docs",
        "300",
        "--source",
        "random",
        "--queries",
        "5",
        "--kind",
        "hnsw",
        "--precision",
        "int8",
        "--workdir",
        tmp_path,
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["corpus"]["sentence_vectors"] == 2400
    assert result["index"]["faiss"] == "HNSW32,SQ8"
    assert result["search"]["queries"] == 5 and result["search"]["p50_ms"] > 0
    assert result["build"]["peak_rss_mb"] > 0 and result["disk"]["total_mb"] > 0
    assert list(tmp_path.iterdir()) == []


def test_search_hybrid_with_presets(cli, tiny_st, tmp_path):
    docs = jsonl(tmp_path / "docs.jsonl", papers(12))
    assert cli("index", "build", "-m", tiny_st, "--docs", docs, "-o", tmp_path / "idx")[0] == 0
    search = ("search", tmp_path / "idx", "--query-doc", "p1", "--scoring", "hybrid", "-k", "3")
    code, out, err = cli(*search, "--json")
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 3 and hits[0]["score"] >= hits[2]["score"] and hits[0]["pairs"]
    custom = tmp_path / "abstract-only.json"
    custom.write_text(json.dumps({"weights": {"abstract": 1.0}, "fusion": "rrf"}))
    code, out, err = cli(*search, "--preset", custom, "--json")
    assert code == 0, err
    assert [h["score"] for h in json.loads(out)] == [1 / 61, 1 / 62, 1 / 63]  # rrf of one term
    by_text = ("search", tmp_path / "idx", "--query", "a man plays music.", "--scoring", "hybrid")
    code, out, err = cli(*by_text, "--preset", "default")
    assert code == 0 and out.splitlines()[0].split()[0] == "1", err

    line = one_error_line(*cli(*search, "--preset", "nope")[::2])
    assert "unknown preset 'nope'" in line
    custom.write_text(json.dumps({"weights": {"abstrakt": 1.0}}))
    assert "bad preset" in one_error_line(*cli(*search, "--preset", custom)[::2])
    line = one_error_line(
        *cli("search", tmp_path / "idx", "--query-doc", "p1", "--preset", "x")[::2]
    )
    assert "--preset applies to --scoring hybrid only" in line
    line = one_error_line(*cli(*search[:4], "--scoring", "dot")[::2])
    assert "unknown scoring 'dot'" in line and "hybrid" in line


def test_index_at_a_truncated_dim_encodes_its_queries_there(cli, tiny_st, tmp_path):
    """--truncate-dim at build is recorded; search and add cut queries and documents the same
    way without being told; serving it with another cut is one clear line."""
    docs = jsonl(tmp_path / "docs.jsonl", papers(12))
    args = ["index", "build", "-m", tiny_st, "--docs", docs, "--tagger", "none", "--json"]
    code, out, err = cli(*args, "-o", tmp_path / "cut", "--truncate-dim", "8")
    assert code == 0, err
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert manifest["model"]["dim"] == 8 and manifest["encoder"]["truncate_dim"] == 8
    code, out, err = cli(*args, "-o", tmp_path / "full")
    assert code == 0, err

    query = ["--query", "we propose a contrastive model", "-k", "12", "--json"]
    code, out, err = cli("search", tmp_path / "cut", *query)
    assert code == 0, err
    cut_hits = json.loads(out)
    code, out, err = cli("search", tmp_path / "full", *query)
    assert code == 0, err
    full_hits = json.loads(out)
    assert len(cut_hits) == len(full_hits) == 12
    # other vectors, so other distances: the query was not encoded at 32 and cut afterwards
    assert [h["score"] for h in cut_hits] != [h["score"] for h in full_hits]

    more = jsonl(tmp_path / "more.jsonl", papers(3, seed=5, prefix="q"))
    code, out, err = cli("index", "add", tmp_path / "cut", "--docs", more, "--json")
    assert code == 0, err
    assert json.loads(out)["documents"] == 15

    from finesim.models.spec import EncoderSpec
    from finesim.serve.service import Limits, open_indexes, open_service

    indexes = open_indexes([str(tmp_path / "cut")])
    with pytest.raises(FinesimError, match=r"8-dimensional vectors \(truncate_dim 8\)"):
        open_service(EncoderSpec(model=str(tiny_st), truncate_dim=16), indexes, Limits(), None)
    code, out, err = cli("index", "build", "-m", tiny_st, "--docs", docs, "-o",
                         tmp_path / "bad", "--truncate-dim", "64")  # fmt: skip
    assert "64: must be 1..32" in one_error_line(code, err)


def test_search_rerank_reorders_the_top_hits(cli, tiny_st, tiny_cross, tmp_path):
    import numpy as np

    from finesim import CrossEncoder

    records = papers(12)
    docs = jsonl(tmp_path / "docs.jsonl", records)
    assert cli("index", "build", "-m", tiny_st, "--docs", docs, "-o", tmp_path / "idx")[0] == 0
    search = ("search", tmp_path / "idx", "--query-doc", "p1", "--scoring", "max-sim")
    code, out, err = cli(*search, "-k", "5", "--json")
    assert code == 0, err
    first = json.loads(out)
    code, out, err = cli(*search, "-k", "3", "--rerank", tiny_cross, "--rerank-top", "5", "--json")
    assert code == 0, err
    hits = json.loads(out)
    text = {r["id"]: " ".join([r["title"], *r["abstract"]]) for r in records}
    scores = CrossEncoder(tiny_cross).predict([(text["p1"], text[h["id"]]) for h in first])
    order = np.argsort(-scores, kind="stable")[:3]
    assert [h["id"] for h in hits] == [first[i]["id"] for i in order]
    assert [h["rerank_score"] for h in hits] == pytest.approx(scores[order].tolist(), abs=1e-6)
    assert [h["first_stage_score"] for h in hits] == [first[i]["score"] for i in order]
    code, out, err = cli(*search, "-k", "3", "--rerank", tiny_cross)
    assert code == 0 and "(first stage " in out.splitlines()[0], err

    line = one_error_line(*cli(*search, "--rerank-top", "5")[::2])
    assert "--rerank-top needs --rerank" in line
    line = one_error_line(*cli(*search, "--rerank", tmp_path / "no-such-model")[::2])
    assert "no-such-model" in line
