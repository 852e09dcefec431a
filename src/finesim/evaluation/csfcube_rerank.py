"""The cross-encoder's hybrid term ``rerank`` on CSFCube: one reranker for every query, or
one per fold of the two-fold protocol.

Why per fold: CSFCube's protocol fits on fold N's dev queries and reports fold N's test
queries, and a reranker trained on judged pairs is fitted too. So fold N's reranker is one
trained on fold N's dev query-facets' judged pairs only, and it scores fold N's pools alone:
its test queries, which it never saw, and (for ``--cv`` to choose, or ``--learn`` to fit,
the fusion weights) its dev queries, which it was trained on. Those dev scores are in-sample,
so a selection may weigh the term more than it deserves; no test judgment is read anywhere.
(fold1_dev holds fold2_test's queries: fold1's reranker never scores a figure of fold2's.)

One reranker for both folds (one object under both names: a model not trained on CSFCube)
scores every pool once, and any split may be reported.

The term is scored by ``finesim.fusion.terms`` like every other; CSFCube supplies the texts:
the query paper's facet sentences and each candidate's title + abstract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.data.csfcube import Pool, load_papers
from finesim.docsim.docs import facet_text
from finesim.fusion.cv import FOLDS
from finesim.fusion.terms import RERANK, Candidates, Query, Reranker, term_scores

Rerankers = Mapping[str, Reranker]  # fold name -> its reranker (one object: one for all)
Tables = dict[str, dict[str, np.ndarray]]  # pool key -> term -> raw scores of its candidates

NOTE = (
    "each fold's pools scored by its own reranker (trained on that fold's dev query-facets' "
    "judged pairs): its test queries unseen, its dev queries in-sample (what --cv / --learn "
    "choose or fit on)"
)


def one_for_all(reranker: Reranker) -> dict[str, Reranker]:
    """The same reranker for every fold."""
    return dict.fromkeys(FOLDS, reranker)


def shared(rerankers: Rerankers) -> bool:
    """Whether one reranker scores every fold (then any split may be reported)."""
    return len({id(rerankers[f]) for f in FOLDS}) == 1


def check(rerankers: Rerankers) -> None:
    """One reranker for each of ``FOLDS``, nothing else."""
    if set(rerankers) != set(FOLDS):
        given = ", ".join(sorted(rerankers)) or "none"
        raise FinesimError(f"rerankers: give one for each of {', '.join(FOLDS)} (got {given})")


def rerank_columns(pools: Sequence[Pool], rerankers: Rerankers) -> dict[str, dict[str, np.ndarray]]:
    """Per fold, each pool's ``rerank`` term scored by that fold's reranker (each distinct
    reranker scores every pool once)."""
    check(rerankers)
    papers = load_papers()
    scored: dict[int, dict[str, np.ndarray]] = {}
    out = {}
    for fold in FOLDS:
        reranker = rerankers[fold]
        if id(reranker) not in scored:
            columns = {}
            with progress_bar(True, len(pools), f"rerank ({fold})") as advance:
                for pool in pools:
                    paper = papers[pool.qpid]
                    facet = facet_text(paper.sentences, paper.labels or None, pool.facet)
                    query = Query(text=paper.text, facet_text=facet)
                    found = Candidates(texts=[papers[c].text for c in pool.candidates])
                    terms = term_scores(query, found, [RERANK], facet=pool.facet, reranker=reranker)
                    columns[pool.key] = terms[RERANK]
                    if advance is not None:
                        advance(1)
            scored[id(reranker)] = columns
        out[fold] = scored[id(reranker)]
    return out


def with_rerank(table: Tables, column: Mapping[str, np.ndarray]) -> Tables:
    """``table`` with the ``rerank`` term of every pool added (the table itself unchanged)."""
    return {key: {**terms, RERANK: column[key]} for key, terms in table.items()}


def per_fold(
    tables: Mapping[str, Tables], columns: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, dict[str, Tables]]:
    """Fold -> whitening setting -> its tables with that fold's ``rerank`` term (folds that
    share a reranker share one object, so what is computed from it is computed once)."""
    built: dict[int, dict[str, Tables]] = {}
    out = {}
    for fold in FOLDS:
        column = columns[fold]
        if id(column) not in built:
            built[id(column)] = {w: with_rerank(t, column) for w, t in tables.items()}
        out[fold] = built[id(column)]
    return out


def check_split(rerankers: Rerankers | None, folds: Sequence[str]) -> None:
    """One reranker per fold scores its dev queries in-sample: only test folds are figures."""
    if rerankers is not None and not shared(rerankers):
        bad = [f for f in folds if not f.endswith("_test")]
        if bad:
            raise FinesimError(
                f"split {bad[0]}: with one reranker per fold (trained on its dev queries) "
                "only test queries give figures; use --split test, fold1_test or fold2_test"
            )


def describe(rerankers: Rerankers) -> dict[str, Any]:
    """What a result says about its rerankers."""
    names = {f: str(getattr(rerankers[f], "source", type(rerankers[f]).__name__)) for f in FOLDS}
    if shared(rerankers):
        return {"model": names[FOLDS[0]], "per_fold": False}
    return {"models": names, "per_fold": True, "note": NOTE}
