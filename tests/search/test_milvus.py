"""The milvus store: sentence vectors in a Milvus Lite collection, searched with the faiss
flat index's answers; old-or-new across adds, deletes and compaction."""

import itertools
import json

import numpy as np
import pytest

from finesim import FinesimError, Index
from finesim.search.index import SCORINGS
from finesim.search.milvus import MilvusAnn, MilvusStore
from tests.helpers import corpus, index_of, jsonl, paper_records, require_module

_names = itertools.count()


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """One Milvus Lite file for the module (a server per file starts in about a second)."""
    require_module("pymilvus", "the milvus store")
    require_module("milvus_lite", "the milvus store")
    return str(tmp_path_factory.mktemp("milvus") / "finesim.db")


@pytest.fixture
def store(lite):
    return MilvusStore(lite, f"test_{next(_names)}")


def hits_of(index, **query):
    return [(h.id, round(h.score, 5)) for h in index.search(explain=0, **query)]


@pytest.mark.parametrize("scoring", SCORINGS)
@pytest.mark.parametrize("facet", [None, "method"])
def test_rankings_equal_the_faiss_flat_index(store, scoring, facet):
    docs, blocks = corpus()
    faiss_index = index_of(docs, blocks)
    milvus_index = index_of(docs, blocks, store=store)
    assert milvus_index.ann.kind == "milvus" and milvus_index.ann.size == faiss_index.ann.size
    for qid in ("d1", "d7", "d30"):
        query = {"query_doc": qid, "facet": facet, "scoring": scoring, "k": 10}
        assert hits_of(milvus_index, **query) == hits_of(faiss_index, **query)
        budget = {"candidates": 20}  # stage 1 decides here: Milvus must give faiss's pool
        assert hits_of(milvus_index, **query, **budget) == hits_of(faiss_index, **query, **budget)


def test_stored_rows_carry_paper_and_facet(store):
    docs, blocks = corpus(n_docs=12)
    index = index_of(docs, blocks, store=store)
    rows = index.ann.client.query(
        index.ann.name, filter="row >= 0", output_fields=["row", "paper", "facet"]
    )
    got = sorted((r["row"], r["paper"], r["facet"]) for r in rows)
    papers = np.repeat(np.arange(12), np.diff(index.doc_start))
    assert got == [(i, int(papers[i]), int(index.labels[i])) for i in range(index.ann.size)]
    np.testing.assert_array_equal(
        index.ann.reconstruct(np.array([5, 0, 5])), np.concatenate(blocks)[[5, 0, 5]]
    )


def test_save_open_and_an_add_leaves_the_old_index_its_rows(store, tmp_path):
    docs, blocks = corpus()
    index = index_of(docs[:40], blocks[:40], store=store)
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (
        manifest["kind"] == "milvus" and manifest["first_stage"]["collection"] == store.collection
    )
    old = Index.open(tmp_path / "idx")
    before = hits_of(old, query_doc="d3", k=5)
    grown = Index.open(tmp_path / "idx")
    grown.add_vectors(docs[40:], np.concatenate(blocks[40:]))
    grown.save()
    # the collection now holds the new rows, but the index opened before sees only its own
    assert hits_of(old, query_doc="d3", k=5) == before
    assert all(
        not h[0].startswith("d4") or int(h[0][1:]) < 40 for h in hits_of(old, query_doc="d3", k=40)
    )
    again = Index.open(tmp_path / "idx")
    assert len(again) == 60
    assert hits_of(again, query_doc="d45", k=10) == hits_of(
        index_of(docs, blocks), query_doc="d45", k=10
    )


def test_delete_and_compact_equal_faiss(store, tmp_path):
    docs, blocks = corpus()
    faiss_index, milvus_index = index_of(docs, blocks), index_of(docs, blocks, store=store)
    gone = ["d2", "d5", "d11", "d40"]
    faiss_index.delete(gone)
    milvus_index.delete(gone)
    query = {"query_doc": "d3", "k": 15}
    assert hits_of(milvus_index, **query) == hits_of(faiss_index, **query)
    assert not {h[0] for h in hits_of(milvus_index, **query)} & set(gone)
    milvus_index.save(tmp_path / "idx")
    compacted = Index.open(tmp_path / "idx").compacted()
    assert compacted.ann.name == f"{store.collection}_g1" and compacted.ann.size == sum(
        len(b) for d, b in zip(docs, blocks, strict=True) if d.id not in gone
    )
    assert hits_of(compacted, **query) == hits_of(faiss_index.compacted(), **query)
    compacted.save()
    assert hits_of(Index.open(tmp_path / "idx"), **query) == hits_of(faiss_index, **query)


def test_refusals(store, lite, tmp_path):
    docs, blocks = corpus(n_docs=5)
    index_of(docs, blocks, store=store)
    with pytest.raises(FinesimError, match="exists"):
        index_of(docs, blocks, store=store)  # never writes into another index's collection
    with pytest.raises(FinesimError, match="float32"):
        index_of(docs, blocks, store=MilvusStore(lite, "other"), precision="int8")
    with pytest.raises(FinesimError, match="--collection"):
        MilvusAnn.create(MilvusStore(lite, "bad-name"), 4)
    with pytest.raises(FinesimError, match="ends in .db"):
        MilvusAnn.create(MilvusStore(str(tmp_path / "x.txt")), 4)
    with pytest.raises(FinesimError, match="no such folder"):
        MilvusAnn.create(MilvusStore(str(tmp_path / "no" / "x.db")), 4)


def test_an_index_whose_collection_lost_rows_is_refused(store, tmp_path):
    docs, blocks = corpus(n_docs=10)
    index = index_of(docs, blocks, store=store)
    index.save(tmp_path / "idx")
    index.ann.client.drop_collection(index.ann.name)
    with pytest.raises(FinesimError, match="is gone"):
        Index.open(tmp_path / "idx")


def test_the_commands_on_a_milvus_store(cli, tiny_st, lite, tmp_path):
    docs = jsonl(tmp_path / "docs.jsonl", paper_records(20, seed=1))
    build = ["index", "build", "-m", tiny_st, "--docs", docs, "--tagger", "none", "--json"]
    code, out, err = cli(*build, "-o", tmp_path / "faiss")
    assert code == 0, err
    milvus = ["--store", "milvus", "--uri", lite, "--collection", "cli_papers"]
    code, out, err = cli(*build, "-o", tmp_path / "milvus", *milvus)
    assert code == 0, err
    assert json.loads(out)["kind"] == "milvus"
    search = ["--query-doc", "p3", "--scoring", "max-sim", "-k", "5", "--json"]
    found = {}
    for name in ("faiss", "milvus"):
        code, out, err = cli("search", tmp_path / name, *search)
        assert code == 0, err
        found[name] = [(h["id"], round(h["score"], 5)) for h in json.loads(out)]
    assert found["milvus"] == found["faiss"]
    more = jsonl(tmp_path / "more.jsonl", paper_records(4, seed=2, prefix="q"))
    code, out, err = cli("index", "add", tmp_path / "milvus", "--docs", more, "--json")
    assert code == 0 and json.loads(out)["documents"] == 24, err
    code, out, err = cli("index", "delete", tmp_path / "milvus", "--ids", "q1,p3", "--json")
    assert code == 0, err
    code, out, err = cli("search", tmp_path / "milvus", "--query-doc", "q2", "-k", "30", "--json")
    assert code == 0 and {h["id"] for h in json.loads(out)}.isdisjoint({"q1", "p3"}), err
    code, out, err = cli("index", "info", tmp_path / "milvus")
    assert code == 0 and json.loads(out)["first_stage"]["uri"] == lite, err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--store", "milvus"], "needs --uri"),
        (["--uri", "x.db"], "--uri is for --store milvus"),
        (["--store", "pinecone"], "choose faiss or milvus"),
        (["--store", "milvus", "--uri", "x.db", "--precision", "int8"], "float32"),
        (["--store", "milvus", "--uri", "x.db", "--collection", "9x"], "--collection"),
    ],
)
def test_bad_store_options_are_one_line(cli, tiny_st, tmp_path, options, message):
    docs = jsonl(tmp_path / "docs.jsonl", paper_records(3))
    code, _, err = cli(
        "index", "build", "-m", tiny_st, "--docs", docs, "-o", tmp_path / "i", *options
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "i").exists()


def test_a_server_searches_a_milvus_index_as_the_index_does(tiny_st, store, tmp_path):
    from finesim import Encoder
    from tests.helpers import call, papers, start

    encoder = Encoder(tiny_st)
    index = Index.build(encoder, papers(), kind="flat", cache=False, store=store)
    index.save(tmp_path / "idx")
    opened = Index.open(tmp_path / "idx", encoder)
    service, live = start(encoder, "tiny", opened)
    try:
        with live as url:
            for request in (
                {"query_doc": "p1", "scoring": "max-sim", "k": 5},
                {"query": "we propose a contrastive model", "k": 3},
            ):
                status, _, body = call(url, "/v1/search", request)
                assert status == 200, body
                expected = [h.id for h in opened.search(**request)]
                assert [h["id"] for h in body["hits"]] == expected
    finally:
        service.close()


@pytest.fixture(scope="module")
def fork_server():
    from tests.helpers import ForkServer

    server = ForkServer()
    yield server
    server.close()


def _state(server, work):
    """The index's ids and a search, read in a child: a Milvus Lite file is opened by one
    process at a time, so this test's own process never opens it."""
    found = server.run("search", "idx", "--query-doc", "p0", "-k", "8", "--json", cwd=work)
    assert found["code"] == 0, found["stderr"]
    info = server.run("index", "info", "idx", cwd=work)
    assert info["code"] == 0, info["stderr"]
    hits = [(h["id"], round(h["score"], 5)) for h in json.loads(found["stdout"])]
    return json.loads(info["stdout"])["documents"], hits


@pytest.mark.parametrize("seed", range(4))
def test_kill_drill_of_an_add_on_a_milvus_store(fork_server, tiny_st, tmp_path, seed):
    """``index add`` SIGKILLed at a random step (seeds 0-1) or delay (2-3): the index is the
    old or the new one (its rows bound it), and the add run again gives the uninterrupted
    result."""
    import random

    docs = jsonl(tmp_path / "docs.jsonl", paper_records(12))
    more = jsonl(tmp_path / "more.jsonl", paper_records(5, seed=1, prefix="q"))
    states = {}
    for name in ("base", "work"):
        work = tmp_path / name
        work.mkdir()
        build = fork_server.run(
            "index", "build", "-m", tiny_st, "--docs", docs, "-o", "idx", "--tagger", "none",
            "--store", "milvus", "--uri", work / "m.db", "--collection", name, cwd=work,
        )  # fmt: skip
        assert build["code"] == 0, build["stderr"]
        states[name] = _state(fork_server, work)
    base = fork_server.run("index", "add", "idx", "--docs", more, cwd=tmp_path / "base")
    assert base["code"] == 0 and base["events"] > 0, base["stderr"]
    done = _state(fork_server, tmp_path / "base")
    assert done[0] == 17 and done != states["base"]
    rng = random.Random(seed)
    kill = (
        {"event": rng.randint(1, base["events"])}
        if seed < 2
        else {"delay": round(rng.uniform(0.0, base["seconds"]), 3)}
    )
    work = tmp_path / "work"
    result = fork_server.run("index", "add", "idx", "--docs", more, cwd=work, **kill)
    assert result["signal"] == 9 or result["code"] == 0, result["stderr"]
    found = _state(fork_server, work)
    assert found in (states["work"], done), "neither the old nor the new index"
    outcome = "killed" if result["signal"] == 9 else "finished"
    state = "old" if found == states["work"] else "new"
    print(f"\nmilvus drill seed {seed}: index add {outcome} ({kill}, at {result['at']}) -> {state}")
    if found == states["work"]:
        again = fork_server.run("index", "add", "idx", "--docs", more, cwd=work)
        assert again["code"] == 0, again["stderr"]
        assert _state(fork_server, work) == done
