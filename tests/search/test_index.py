import json
import re

import numpy as np
import pytest

from finesim import FinesimError, Index
from finesim.docsim import score_candidates
from finesim.search import store
from finesim.search.index import SCORINGS
from tests.helpers import as_docs, corpus, index_of


def exhaustive(docs, qid, facet, scoring, k):
    others = [i for i in docs if i != qid]
    scores, _ = score_candidates(docs[qid], [docs[o] for o in others], scoring, facet=facet)
    order = np.lexsort((np.arange(len(others)), -scores))[:k]
    return [others[i] for i in order], scores[order]


@pytest.mark.parametrize("scoring", SCORINGS)
@pytest.mark.parametrize("facet", [None, "method", "background"])
def test_two_stage_equals_exhaustive_when_budget_covers_corpus(scoring, facet):
    docs, blocks = corpus()
    index, truth = index_of(docs, blocks), as_docs(docs, blocks)
    for qid in ["d1", "d7", "d30"] if scoring != "ot" else ["d7"]:  # ot is slow
        hits = index.search(
            query_doc=qid, facet=facet, scoring=scoring, k=10, candidates=len(index), explain=0
        )
        ids, scores = exhaustive(truth, qid, facet, scoring, 10)
        assert [h.id for h in hits] == ids
        np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-6, atol=1e-6)


def test_default_budget_min_l2_is_exact_on_flat():
    docs, blocks = corpus(n_docs=400, seed=3)
    index, truth = index_of(docs, blocks), as_docs(docs, blocks)
    for qid in ["d2", "d50", "d333"]:
        hits = index.search(query_doc=qid, facet="result", k=20, explain=0)
        assert [h.id for h in hits] == exhaustive(truth, qid, "result", "min-l2", 20)[0]


@pytest.mark.parametrize(
    ("kind", "precision"), [("hnsw", "float32"), ("ivf", "float16"), ("flat", "int8")]
)
def test_approximate_kinds_find_nearly_everything(kind, precision):
    docs, blocks = corpus(n_docs=300, seed=5)
    index, truth = index_of(docs, blocks, kind=kind, precision=precision), as_docs(docs, blocks)
    index.search_params["nprobe"] = 64
    recalls = []
    for qid in ["d1", "d10", "d100", "d200"]:
        found = {h.id for h in index.search(query_doc=qid, k=10, explain=0)}
        recalls.append(len(found & set(exhaustive(truth, qid, None, "min-l2", 10)[0])) / 10)
    assert np.mean(recalls) >= 0.9


def test_hits_explain_with_sentences_and_facets():
    docs, blocks = corpus()
    index = index_of(docs, blocks)
    qid = next(d.id for d in docs if d.labels and "method" in d.labels)
    hit = index.search(query_doc=qid, facet="method", k=3, explain=2)[0]
    assert len(hit.pairs) == 2
    pair = hit.pairs[0]
    assert pair.query.startswith(f"{qid} sentence ") and pair.query_facet == "method"
    assert pair.candidate.startswith(f"{hit.id} sentence ")
    assert pair.distance == pytest.approx(-hit.score, abs=1e-6)  # min-l2: best pair's distance
    data = hit.to_json()
    assert (
        set(data) >= {"rank", "id", "title", "score", "pairs"} and "weight" not in data["pairs"][0]
    )
    assert all(h.id != "d1" for h in index.search(query_doc="d1", k=50))
    assert index.search(query_doc="d1", k=1, include_self=True)[0].id == "d1"


def test_bad_queries():
    docs, blocks = corpus()
    index = index_of(docs, blocks)
    with pytest.raises(FinesimError, match="unknown scoring"):
        index.search(query_doc="d1", scoring="abstract")
    with pytest.raises(FinesimError, match="unknown facet"):
        index.search(query_doc="d1", facet="methods")
    with pytest.raises(FinesimError, match="no document with id 'zz'"):
        index.search(query_doc="zz")
    with pytest.raises(FinesimError, match="either a query text or a query document"):
        index.search()
    with pytest.raises(FinesimError, match="needs the index's model"):
        index.search("some text")


def test_save_open_round_trip_and_add(tmp_path):
    docs, blocks = corpus()
    index = index_of(docs[:40], blocks[:40])
    index.save(tmp_path / "idx")
    before = [(h.id, h.score) for h in index.search(query_doc="d3", k=5)]
    opened = Index.open(tmp_path / "idx")
    assert [(h.id, h.score) for h in opened.search(query_doc="d3", k=5)] == before
    assert opened.info()["documents"] == 40
    opened.add_vectors(docs[40:], np.concatenate(blocks[40:]))
    opened.save()
    again = Index.open(tmp_path / "idx")
    assert len(again) == 60 and again.search(query_doc="d45", k=1)[0].id != "d45"
    truth = as_docs(docs, blocks)
    assert [h.id for h in again.search(query_doc="d45", k=10, explain=0)] == exhaustive(
        truth, "d45", None, "min-l2", 10
    )[0]
    assert again.docs.get(again.position("d50"))["sentences"][0] == "d50 sentence 0"
    with pytest.raises(FinesimError, match="already in the index"):
        again.add_vectors(docs[:1], blocks[0])
    (tmp_path / "other").mkdir()
    with pytest.raises(FinesimError, match="exists"):
        index.save(tmp_path / "other")


def test_manifest_lists_files_and_model(tmp_path):
    docs, blocks = corpus()
    index_of(docs, blocks, kind="hnsw", precision="float16").save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format"] == "finesim-index" and manifest["version"] == store.VERSION
    assert manifest["model"] == {"source": "synthetic", "fingerprint": "fp", "dim": 16}
    assert manifest["kind"] == "hnsw" and manifest["precision"] == "float16"
    assert {"ann.faiss", "ids.json", "docs.jsonl", "labels.npy"} <= set(manifest["files"])


def corrupt(folder, name, how):
    path = folder / name
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    else:
        path.unlink()


@pytest.mark.parametrize(
    "name",
    [
        "ann.faiss",
        "labels.npy",
        "ids.json",
        "docs.jsonl",
        "docs.offsets.npy",
        "doc_start.npy",
        "means.npy",
    ],
)
@pytest.mark.parametrize("how", ["truncate", "flip", "delete"])
def test_corrupt_or_partial_index_is_refused(tmp_path, name, how):
    docs, blocks = corpus()
    index_of(docs, blocks).save(tmp_path / "idx")
    corrupt(tmp_path / "idx", name, how)
    with pytest.raises(FinesimError, match=name.replace(".", r"\.")):
        Index.open(tmp_path / "idx")


def test_missing_manifest_or_other_version(tmp_path):
    docs, blocks = corpus()
    index_of(docs, blocks).save(tmp_path / "idx")
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(FinesimError, match="version 99"):
        Index.open(tmp_path / "idx")
    path.unlink()
    with pytest.raises(FinesimError, match="manifest.json: missing"):
        Index.open(tmp_path / "idx")
    with pytest.raises(FinesimError, match="no such index folder"):
        Index.open(tmp_path / "nothing")


def test_failed_save_leaves_the_old_index(tmp_path, monkeypatch):
    docs, blocks = corpus()
    index = index_of(docs[:30], blocks[:30])
    index.save(tmp_path / "idx")
    index.add_vectors(docs[30:], np.concatenate(blocks[30:]))

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_manifest", boom)
    with pytest.raises(OSError):
        index.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
    assert len(Index.open(tmp_path / "idx")) == 30


def test_truncated_index_records_its_dim_and_refuses_other_cuts(tiny_st, tmp_path):
    from finesim import Encoder
    from tests.helpers import papers

    built = Index.build(Encoder(tiny_st, truncate_dim=8), papers(8), kind="flat")
    assert built.ann.dim == 8 and built.truncate_dim == 8
    opened = Index.open(built.save(tmp_path / "idx"))
    assert opened.truncate_dim == 8 and opened.spec.truncate_dim == 8
    for wrong, words in ((None, "the encoder gives 32 (no truncate_dim)"), (16, "gives 16")):
        with pytest.raises(FinesimError, match=r"holds 8-dimensional vectors \(truncate_dim 8\)"):
            opened.use(Encoder(tiny_st, truncate_dim=wrong))
        with pytest.raises(FinesimError, match=re.escape(words)):
            Index.open(tmp_path / "idx", Encoder(tiny_st, truncate_dim=wrong))
    opened.use(Encoder(tiny_st, truncate_dim=8))
    hits = opened.search("a man plays the guitar", k=3)
    assert len(hits) == 3
    # a query cut to 8 components: the same neighbours as the stored vectors give it
    assert hits[0].id == built.search("a man plays the guitar", k=1)[0].id
