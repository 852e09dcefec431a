"""The MTEB adapter: MTEB's own evaluation of a finesim encoder equals finesim's evaluators.

Tasks are built here over local data (no hub): a small retrieval task and a small STS task on
the tiny model, and STS-B test on MiniLM (slow). Results go to ``tmp_path``, never to MTEB's
default cache, and are computed afresh each time.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finesim import Encoder, FinesimError
from finesim.data.sts import load_stsb
from finesim.evaluation import trec_metrics
from finesim.evaluation.sts import STSEvaluator, score_pairs
from finesim.integrations import mteb as adapter
from tests.helpers import SENTENCES, WORDS, require_module

require_module("mteb", "the MTEB adapter (finesim[mteb])")

TASK_ARGS: dict[str, Any] = {
    "description": "A local task built by finesim's tests.",
    "reference": "https://example.org/finesim-tests",
    "dataset": {"path": "finesim/local", "revision": "local"},
    "category": "t2t",
    "eval_splits": ["test"],
    "eval_langs": ["eng-Latn"],
    "date": ("2012-01-01", "2017-12-31"),
    "dialect": ["Written"],
    "domains": [],
    "task_subtypes": [],
    "license": "cc-by-sa-4.0",
    "annotations_creators": "human-annotated",
    "modalities": ["text"],
    "sample_creation": "found",
    "bibtex_citation": "",
}


def sts_task(name: str, s1: list[str], s2: list[str], scores: list[float]) -> Any:
    """An MTEB STS task (gold scores 0-5) over the given pairs, loaded from memory."""
    from datasets import Dataset, DatasetDict
    from mteb import TaskMetadata
    from mteb.abstasks.sts import AbsTaskSTS

    class LocalSTS(AbsTaskSTS):
        metadata = TaskMetadata(name=name, type="STS", main_score="cosine_spearman", **TASK_ARGS)
        min_score = 0
        max_score = 5

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            columns = {"sentence1": s1, "sentence2": s2, "score": scores}
            self.dataset = DatasetDict({"test": Dataset.from_dict(columns)})
            self.data_loaded = True

    return LocalSTS()


def retrieval_task(
    queries: dict[str, str], docs: dict[str, str], qrels: dict[str, dict[str, int]]
) -> Any:
    """An MTEB retrieval task over the given queries, documents (no titles) and grades."""
    from datasets import Dataset
    from mteb import TaskMetadata
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name="FinesimLocalRetrieval", type="Retrieval", main_score="ndcg_at_10", **TASK_ARGS
        )

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            split = RetrievalSplitData(
                queries=Dataset.from_list([{"id": q, "text": t} for q, t in queries.items()]),
                corpus=Dataset.from_list([{"id": d, "text": t} for d, t in docs.items()]),
                relevant_docs=qrels,
                top_ranked=None,
            )
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    return LocalRetrieval()


def small_collection() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """4 queries, 16 documents of random words, grades 0-2 (several per query)."""
    rng = random.Random(3)
    queries = {f"q{i}": SENTENCES[i] for i in range(4)}
    docs = {f"d{j:02d}": " ".join(rng.choices(WORDS, k=8)) for j in range(16)}
    qrels = {q: {d: rng.choice([0, 1, 2]) for d in rng.sample(sorted(docs), 5)} for q in queries}
    for rels in qrels.values():  # every query has a relevant document
        rels[next(iter(rels))] = 2
    return queries, docs, qrels


def test_retrieval_routes_queries_and_documents_and_ndcg_equals_finesims(
    tiny_st, tmp_path, monkeypatch
):
    """MTEB encodes queries on the query route and documents on the document route, and its
    nDCG@10 equals trec_metrics' on the cosine ranking of the same vectors."""
    encoder = Encoder(tiny_st)
    queries, docs, qrels = small_collection()
    calls: list[tuple[str | None, list[str]]] = []
    real = adapter._encode

    def spy(encoder: Any, texts: Any, prompt_type: Any, **options: Any) -> np.ndarray:
        calls.append((prompt_type, list(texts)))
        return real(encoder, texts, prompt_type, **options)

    monkeypatch.setattr(adapter, "_encode", spy)
    result = adapter.evaluate_mteb(
        encoder, retrieval_task(queries, docs, qrels), results_folder=tmp_path
    )
    assert not result.exceptions
    routes = {p: {t for q, ts in calls if q == p for t in ts} for p, _ in calls}
    assert routes == {"query": set(queries.values()), "document": set(docs.values())}

    q_vectors = encoder.encode(list(queries.values()))
    d_vectors = encoder.encode(list(docs.values()))
    cosines = adapter.cosine_matrix(q_vectors, d_vectors)
    run = {
        q: dict(zip(docs, map(float, row), strict=True))
        for q, row in zip(queries, cosines, strict=True)
    }
    ours = trec_metrics.mean_scores(trec_metrics.evaluate(qrels, run, ["ndcg@10"]))["ndcg@10"]
    theirs = 100 * result.task_results[0].scores["test"][0]["ndcg_at_10"]
    assert 0 < ours < 100
    assert abs(theirs - ours) < 1e-3, (theirs, ours)  # MTEB rounds its scores to 5 decimals
    assert list(tmp_path.rglob("FinesimLocalRetrieval.json"))  # written under tmp_path only


def test_sts_main_score_equals_finesims_spearman(tiny_st, tmp_path):
    """On a small STS task MTEB's cosine Spearman equals finesim's (x100 vs fraction)."""
    encoder = Encoder(tiny_st)
    rng = np.random.default_rng(0)
    s1, s2 = SENTENCES[:10], SENTENCES[5:15]
    gold = rng.uniform(0, 5, size=10).round(1).tolist()
    result = adapter.evaluate_mteb(
        encoder, sts_task("FinesimLocalSTS", s1, s2, gold), results_folder=tmp_path
    )
    scores = result.task_results[0].scores["test"][0]
    from finesim.data.sts import ScoredPairs

    ours = score_pairs(
        ScoredPairs("local", s1, s2, np.array(gold)), encoder.encode(s1), encoder.encode(s2)
    )
    assert scores["main_score"] == scores["cosine_spearman"]
    assert abs(100 * scores["cosine_spearman"] - ours["spearman"]) < 1e-3
    assert abs(100 * scores["cosine_pearson"] - ours["pearson"]) < 1e-3


def test_queries_and_documents_encoded_as_encode_query_and_encode_document(tiny_st, tmp_path):
    prompted = Encoder(tiny_st)
    prompted.prompts = {"query": "red model: ", "document": "blue paper: "}
    encoder = Encoder(prompted.save(tmp_path / "prompted"))
    texts = SENTENCES[:4]
    expected = {
        "query": encoder.encode_query(texts),
        "document": encoder.encode_document(texts),
        None: encoder.encode(texts),
    }
    for prompt_type, want in expected.items():
        got = adapter._encode(encoder, texts, prompt_type)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(expected["query"] - expected["document"]).max() > 1e-3
    with pytest.raises(FinesimError, match="prompt_type 'passage'"):
        adapter._route("passage")


def test_model_meta_describes_the_encoder(tiny_st):
    model = adapter.MTEBEncoder(str(tiny_st))
    meta = model.mteb_model_meta
    assert meta.name == "finesim/model" and meta.embed_dim == model.encoder.dim
    assert meta.revision == f"finesim-{model.encoder.fingerprint()[:12]}"
    assert str(getattr(meta.similarity_fn_name, "value", meta.similarity_fn_name)) == "cosine"
    assert meta.n_parameters == sum(p.numel() for p in model.encoder.parameters())
    assert adapter.model_name("minilm") == "sentence-transformers/all-MiniLM-L6-v2"
    import mteb

    assert isinstance(model, mteb.EncoderProtocol)
    v = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert np.allclose(model.similarity(v, v), [[1, 2**-0.5], [2**-0.5, 1]])
    assert np.allclose(model.similarity_pairwise(v, v[::-1]), [2**-0.5, 2**-0.5])


def test_missing_mteb_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mteb", None)  # import mteb now raises ImportError
    with pytest.raises(FinesimError, match=r"pip install finesim\[mteb\]"):
        adapter.require_mteb()


@pytest.mark.slow
@pytest.mark.needs_data("sts/raw/STSBenchmark")
def test_stsb_test_through_mteb_equals_finesims_evaluator(tmp_path: Path):
    """MiniLM on STS-B test: MTEB's main score (cosine Spearman, a fraction) x100 equals
    finesim's ``STSEvaluator`` within 0.01 points."""
    encoder = Encoder("minilm")
    pairs = load_stsb("test")
    task = sts_task("FinesimSTSB", pairs.sentences1, pairs.sentences2, pairs.scores.tolist())
    result = adapter.evaluate_mteb(encoder, task, results_folder=tmp_path, batch_size=64)
    scores = result.task_results[0].scores["test"][0]
    ours = STSEvaluator("stsb", split="test")(encoder)["tasks"]["stsb"]
    print(
        f"STS-B test spearman: mteb {100 * scores['main_score']:.4f} finesim {ours['spearman']:.4f}"
    )
    assert scores["main_score"] == scores["cosine_spearman"]
    assert abs(100 * scores["cosine_spearman"] - ours["spearman"]) < 0.01
    assert abs(100 * scores["cosine_pearson"] - ours["pearson"]) < 0.01
