"""What ``finesim demo`` (``make demo``) shows: finesim's main job on CSFCube, then its figures.

1. Queries by example: the whole CSFCube corpus (4,205 abstracts) is indexed as ``finesim
   index build`` does, and two of CSFCube's query papers, its first method query and its
   first result query, ask for papers like them on that facet. Each of the top 3 comes with
   the sentence pairs that explain it and, where CSFCube judged it for that query, its grade.
2. The evaluation table: plain and hybrid scorings of the same model on CSFCube's protocol,
   each with its 95% interval and the queries it is measured on, beside the published
   anchors (SPECTER, and all-mpnet-base-v2's model card), with a one-line note per row.

The functions return plain dicts (JSON-ready); ``finesim.evaluation.demo_report`` draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finesim.data.csfcube import Pool, load_papers, load_pools
from finesim.data.paths import data_path
from finesim.docsim import FACETS
from finesim.evaluation.csfcube import evaluate_csfcube, read_ranking_dir, score_rankings
from finesim.evaluation.csfcube_hybrid import evaluate_hybrid, evaluate_learned
from finesim.facets.shipped import shipped_tagger
from finesim.fusion.preset import load_preset
from finesim.models.encoder import Encoder
from finesim.search.hybrid import HybridSearcher
from finesim.search.index import Index

GROUPS = (*FACETS, "all")
GRADES = {0: "irrelevant", 1: "related", 2: "similar", 3: "identical"}  # CSFCube's words
EXAMPLE_FACETS = ("method", "result")
EXAMPLE_SCORING, EXAMPLE_PRESET = "hybrid", "default"

# Published figures (x100, CSFCube two-fold test, all facets), printed beside finesim's own.
ANCHORS = (
    {
        "name": "SPECTER, published",
        "map": 34.23,
        "ndcg%20": 53.28,
        "source": "Aspire (Mysore et al. 2022) / CSFCube SOURCE.md",
        "note": "a paper encoder trained on citations; CSFCube ships its rankings, and finesim "
        "scores them to exactly these figures (row above)",
    },
    {
        "name": "all-mpnet-base-v2, min-l2, published",
        "map": 34.64,
        "ndcg%20": 54.94,
        "source": "Aspire's model card (allenai/aspire)",
        "note": "a larger general-purpose encoder (110M parameters vs minilm's 22M) with "
        "Aspire's sentence scoring; `finesim eval csfcube --model mpnet` gives exactly this",
    },
)


def demo_index(encoder: Encoder, batch_size: int = 32) -> Index:
    """Every CSFCube paper in a flat index (their own sentence labels; the shipped tagger is
    kept to label text queries), as ``finesim index build`` makes it."""
    documents = [paper.document() for paper in load_papers().values()]
    return Index.build(encoder, documents, tagger=shipped_tagger(), batch_size=batch_size)


def example_pools() -> list[Pool]:
    """For each facet of ``EXAMPLE_FACETS``, CSFCube's first query of that facet (in its own
    order) whose paper is not already an example: two different papers, chosen by rule."""
    chosen: list[Pool] = []
    for facet in EXAMPLE_FACETS:
        taken = {p.qpid for p in chosen}
        chosen.append(next(p for p in load_pools(facet) if p.qpid not in taken))
    return chosen


def query_by_example(index: Index, pool: Pool, *, k: int = 3, explain: int = 3) -> dict[str, Any]:
    """Papers like ``pool``'s query paper on its facet, from the whole index."""
    searcher = HybridSearcher(index)
    hits = searcher.search(
        query_doc=pool.qpid,
        facet=pool.facet,
        scoring=EXAMPLE_SCORING,
        preset=EXAMPLE_PRESET,
        k=k,
        explain=explain,
    )
    record = index.docs.get(index.position(pool.qpid))
    doc = index.doc(index.position(pool.qpid))
    none: list[str | None] = [None] * len(record["sentences"])
    labels: list[str | None] = list(doc.labels) if doc.labels else none
    grades = dict(zip(pool.candidates, pool.grades, strict=True))
    out_hits = []
    for hit in hits:
        grade = grades.get(hit.id)
        out_hits.append(
            {
                "rank": hit.rank,
                "id": hit.id,
                "title": hit.title,
                "score": hit.score,
                "grade": grade,
                "grade_name": GRADES[grade] if grade is not None else "not judged for this query",
                "pairs": [
                    {
                        "query": p.query,
                        "query_facet": p.query_facet,
                        "candidate": p.candidate,
                        "candidate_facet": p.candidate_facet,
                        "similarity": p.similarity,
                    }
                    for p in hit.pairs
                ],
            }
        )
    return {
        "query": {
            "id": pool.qpid,
            "title": record.get("title", ""),
            "facet": pool.facet,
            "sentences": [
                {"text": s, "facet": f} for s, f in zip(record["sentences"], labels, strict=True)
            ],
        },
        "scoring": f"{EXAMPLE_SCORING} (preset {EXAMPLE_PRESET})",
        "corpus": len(index),
        "pool": len(pool.candidates),
        "hits": out_hits,
    }


def _row(name: str, kind: str, result: dict[str, Any], note: str) -> dict[str, Any]:
    """One line of the table: figures per group, their intervals, the queries they are on."""
    figures = {g: {m: result[g][m] for m in ("map", "ndcg%20")} for g in GROUPS}
    folds = list(result.get("folds") or [])
    both = folds == ["fold1_test", "fold2_test"]
    return {
        "name": name,
        "kind": kind,
        "figures": figures,
        "ci95": result.get("ci95"),
        "split": result.get("split", "test"),
        "folds": folds,
        "queries": "test, both folds" if both else " + ".join(folds) + " only",
        "note": note,
    }


def evaluation_rows(encoder: Encoder, batch_size: int = 32) -> list[dict[str, Any]]:
    """The table: plain and hybrid scorings of ``encoder``, SPECTER's rankings, the anchors."""
    model = encoder.source
    plain = evaluate_csfcube(encoder, "min-l2", batch_size=batch_size)
    whole = evaluate_csfcube(encoder, "abstract", batch_size=batch_size)
    preset = evaluate_hybrid(encoder, load_preset(EXAMPLE_PRESET), batch_size=batch_size)
    learned = evaluate_learned(encoder, batch_size=batch_size)
    specter = score_rankings(read_ranking_dir(data_path("csfcube", "sample_ranked_pools")))
    rows = [
        _row(
            f"{model} min-l2",
            "plain",
            plain,
            "Aspire's sentence scoring (tsAspire): the closest pair of a query facet sentence "
            "and a candidate sentence decides; nothing fitted",
        ),
        _row(
            f"{model} abstract",
            "plain",
            whole,
            "one vector for title + abstract, cosine; nothing fitted",
        ),
        _row(
            f"{model} hybrid, preset {EXAMPLE_PRESET}",
            "hybrid",
            preset,
            "what search uses (the examples above): abstract + sentence + title + BM25 terms "
            "fused; chosen on mpnet's fold-2 dev queries, so measured on the other fold only",
        ),
        _row(
            f"{model} hybrid, weights fitted per fold",
            "hybrid",
            learned,
            "fusion weights fitted on each fold's dev queries, measured on its test queries "
            "(`--cv --learn`): the honest figure for tuned hybrid scoring",
        ),
        _row(
            "SPECTER rankings, scored by finesim",
            "reference",
            specter,
            "CSFCube's own sample rankings through finesim's metrics: checks the protocol",
        ),
    ]
    for anchor in ANCHORS:
        rows.append(
            {
                "name": anchor["name"],
                "kind": "anchor",
                "figures": {"all": {"map": anchor["map"], "ndcg%20": anchor["ndcg%20"]}},
                "ci95": None,
                "split": "test",
                "folds": None,
                "queries": "published",
                "note": f"{anchor['note']} ({anchor['source']})",
            }
        )
    paired = learned.get("vs_baseline", {}).get("all")
    if paired:
        rows[3]["vs_abstract"] = paired
    rows[3]["per_query"] = learned["per_query"]
    rows[1]["per_query"] = whole["per_query"]
    return rows


def describe(encoder: Encoder, index: Index, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the report says was measured (model, corpus, protocol)."""
    return {
        "model": encoder.source,
        "fingerprint": encoder.fingerprint(),
        "dimension": encoder.dim,
        "papers": len(index),
        "sentences": int(index.doc_start[-1]),
        "queries": 50,
        "examples": [e["query"]["id"] for e in examples],
    }
