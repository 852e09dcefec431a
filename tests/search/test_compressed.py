import json

import numpy as np
import pytest

from finesim import FinesimError, Index
from finesim.data.documents import Document
from finesim.search import rows as rows_module
from finesim.search import store
from finesim.search.ann import choose_kind
from finesim.search.codes import CompressedAnn, pq_parts
from finesim.search.precision import choose_precision
from finesim.search.rows import RowFile, dequantize, quantize
from tests.helpers import index_of, jsonl, paper_records

COMPRESSED = [
    ("binary", "flat"),
    ("binary", "ivf"),
    ("binary", "hnsw"),
    ("pq", "flat"),
    ("pq", "ivf"),
]
TOPIC_DOCS = 8
FACETS = ("background", "method", "result")


def topics(n_topics: int = 40, dim: int = 32, seed: int = 0):
    """Well-separated data: each paper's sentences lie near its topic's direction, so the exact
    top ``TOPIC_DOCS - 1`` of a paper are the other papers of its topic."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_topics, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    docs, blocks = [], []
    for i in range(n_topics * TOPIC_DOCS):
        n = int(rng.integers(1, 5))
        v = centers[i % n_topics] + 0.04 * rng.standard_normal((n, dim)).astype(np.float32)
        blocks.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        labels = [FACETS[(i + j) % 3] for j in range(n)]
        docs.append(Document(f"d{i}", [f"d{i} sentence {j}" for j in range(n)], labels, f"t{i}"))
    return docs, blocks


@pytest.fixture(scope="module")
def data():
    docs, blocks = topics()
    return docs, blocks, index_of(docs, blocks)


def top(index, qid, facet, scoring="min-l2", k=TOPIC_DOCS - 1):
    return index.search(query_doc=qid, facet=facet, scoring=scoring, k=k, explain=1)


@pytest.mark.parametrize(("precision", "kind"), COMPRESSED)
def test_compressed_first_stage_then_exact_rescoring_finds_the_exact_top_k(data, precision, kind):
    docs, blocks, exact = data
    index = index_of(docs, blocks, precision=precision, kind=kind)
    assert type(index.ann) is CompressedAnn and index.ann.size == sum(map(len, blocks))
    for qid in ["d0", "d41", "d123", "d301"]:
        for facet in (None, "method", "background"):
            for scoring in ("min-l2", "max-sim"):
                want, got = top(exact, qid, facet, scoring), top(index, qid, facet, scoring)
                assert {h.id for h in got} == {h.id for h in want}
                np.testing.assert_allclose(
                    sorted(h.score for h in got), sorted(h.score for h in want), atol=0.02
                )
                asked = docs[int(qid[1:])].labels
                if facet in asked:  # the facet filter: explained by query sentences of it
                    assert all(h.pairs[0].query_facet == facet for h in got)


def test_rows_are_int8_within_half_a_step_and_read_back_from_the_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    codes, scales = quantize(x)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 127
    error = np.abs(dequantize(codes, scales) - x)
    assert (error <= scales[:, None] / 2 + 1e-7).all()  # each component within half a step
    l2 = np.linalg.norm(dequantize(codes, scales) - x, axis=1)
    assert l2.mean() < 0.008  # the module docstring states 0.0072
    monkeypatch.setattr(rows_module, "RELEASE_ROWS", 100)  # hand pages back often
    rows = RowFile(384)
    rows.append(x[:1000])
    rows.append(x[1000:])
    ids = rng.integers(0, 3000, 700)
    for _ in range(3):
        np.testing.assert_array_equal(rows.rows(ids), dequantize(codes[ids], scales[ids]))
    rows.save(tmp_path / "r.i8", tmp_path / "r.f4")
    assert (tmp_path / "r.i8").stat().st_size == 3000 * 384
    again = RowFile(384, tmp_path / "r.i8", tmp_path / "r.f4")
    np.testing.assert_array_equal(again.rows(ids), rows.rows(ids))
    with pytest.raises(FinesimError, match="row ids outside"):
        again.rows(np.array([3000]))


@pytest.mark.parametrize("precision", ["binary", "pq"])
def test_save_open_round_trip_with_checksums_and_add_after_open(data, tmp_path, precision):
    docs, blocks, _ = data
    index = index_of(docs[:200], blocks[:200], precision=precision, kind="ivf")
    before = [h.id for h in top(index, "d5", "method")]
    index.save(tmp_path / "idx")
    manifest = store.read_manifest(tmp_path / "idx")
    assert manifest["precision"] == precision and manifest["kind"] == "ivf"
    assert manifest["first_stage"]["rescore"] >= 2 and manifest["first_stage"]["lists"] >= 1
    assert {"ann.faiss", "ann.rows.i8", "ann.scales.f4", "ann.center.npy"} <= set(manifest["files"])
    opened = Index.open(tmp_path / "idx")
    assert [h.id for h in top(opened, "d5", "method")] == before
    opened.add_vectors(docs[200:], np.concatenate(blocks[200:]))  # appends to a private copy
    assert opened.ann.size == sum(map(len, blocks))
    assert store.read_manifest(tmp_path / "idx")["sentences"] == index.ann.size  # untouched
    opened.save(overwrite=True)
    full = Index.open(tmp_path / "idx")
    assert len(full) == len(docs) and {h.id for h in top(full, "d205", None)} == {
        f"d{i}" for i in range(205 % 40, len(docs), 40) if i != 205
    }


def test_a_corrupt_or_truncated_codes_file_is_one_line(data, tmp_path):
    docs, blocks, _ = data
    index_of(docs[:80], blocks[:80], precision="binary", kind="flat").save(tmp_path / "idx")
    codes = tmp_path / "idx" / "ann.faiss"
    raw = bytearray(codes.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    codes.write_bytes(bytes(raw))
    with pytest.raises(FinesimError, match=r"ann\.faiss: checksum differs") as e:
        Index.open(tmp_path / "idx")
    assert "\n" not in str(e.value)
    codes.write_bytes(b"not a faiss index at all" + bytes(len(raw) - 24))  # same size
    with pytest.raises(FinesimError, match=r"ann\.faiss: not a readable binary index") as e:
        Index.open(tmp_path / "idx", verify=False)
    assert "\n" not in str(e.value)
    rows = tmp_path / "idx" / "ann.rows.i8"
    rows.write_bytes(rows.read_bytes()[:-32])
    with pytest.raises(FinesimError, match=r"ann\.rows\.i8: \d+ bytes, the manifest says"):
        Index.open(tmp_path / "idx", verify=False)


def test_auto_precision_says_why_and_kinds_follow_the_precision():
    assert choose_precision("int8", 10, 384) == ("int8", None)
    chosen, why = choose_precision("auto", 50_000, 384, available=16 << 30)
    assert chosen == "float32" and why is not None and "50,000 sentence vectors" in why
    assert choose_precision("auto", 8_000_000, 384, available=12 << 30)[0] == "int8"
    chosen, why = choose_precision("auto", 8_000_000, 384, available=2 << 30)
    assert chosen == "binary" and "2.0 GiB available" in str(why)
    index = Index.new(16, model="m", fingerprint="f", precision="auto", expected=100)
    assert index.precision == "float32" and "precision auto: float32" in str(index.precision_note)
    assert choose_kind("auto", 2_000_000, "binary") == "ivf"
    assert choose_kind("auto", 500_000, "binary") == "flat"
    assert choose_kind("auto", 500_000, "pq") == "ivf"
    assert pq_parts(384) == 48 and pq_parts(20) == 2
    with pytest.raises(FinesimError, match="has no index kind 'hnsw'"):
        Index.new(16, model="m", fingerprint="f", precision="pq", kind="hnsw")


def test_index_build_precision_auto_and_binary_on_the_command_line(cli, tiny_st, tmp_path):
    docs = jsonl(tmp_path / "docs.jsonl", paper_records(40))
    args = ["index", "build", "-m", tiny_st, "--docs", docs, "--tagger", "none"]
    code, _, err = cli(*args, "-o", tmp_path / "auto", "--precision", "auto")
    assert code == 0, err
    assert "finesim: precision auto: float32 (" in err
    code, _, err = cli(*args, "-o", tmp_path / "bin", "--precision", "binary", "--dim", "8")
    assert code == 0, err
    manifest = json.loads((tmp_path / "bin" / "manifest.json").read_text())
    assert manifest["precision"] == "binary" and manifest["model"]["dim"] == 8
    code, out, err = cli("search", tmp_path / "bin", "--query-doc", "p1", "-k", "3", "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 3
    code, _, err = cli(*args, "-o", tmp_path / "bad", "--precision", "int4")
    assert code == 2 and "unknown precision 'int4'" in err


@pytest.mark.parametrize(("precision", "kind"), COMPRESSED)
def test_delete_and_compact_on_a_compressed_index(data, precision, kind):
    """Tombstones filter the codes' candidates before rescoring; compaction keeps the learnt
    codes: deleted papers never come back, and the answers are the exact ones without them."""
    docs, blocks, _ = data
    gone = [f"d{i}" for i in range(1, 40 * TOPIC_DOCS, 3)]
    keep = [i for i, d in enumerate(docs) if d.id not in gone]
    exact = index_of([docs[i] for i in keep], [blocks[i] for i in keep])
    index = index_of(docs, blocks, precision=precision, kind=kind)
    index.delete(gone)
    compacted = index.compacted()
    assert type(compacted.ann) is CompressedAnn and compacted.ann.size == exact.ann.size
    for searched in (index, compacted):
        for qid in ["d0", "d42", "d123", "d300"]:
            for facet in (None, "method"):
                got = top(searched, qid, facet, k=4)
                want = top(exact, qid, facet, k=4)
                assert not {h.id for h in got} & set(gone)
                assert {h.id for h in got} == {h.id for h in want}
