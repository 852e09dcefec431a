"""The term ``rerank`` on CSFCube: one reranker for every query, or one per fold of the
two-fold protocol, where fold N's scores fold N's pools only and nothing of one fold's
reranker reaches the other fold's figures.

The encoder's terms are random tables on the real pools (as in test_protocol: no encoder has
to embed 4,205 papers); the ``rerank`` term is the tiny cross-encoders' own. The protocol
tests read each paper's title only: the tiny WordPiece vocabulary makes long abstracts slow
to tokenize, and what they test is which reranker scores which query."""

from types import SimpleNamespace

import numpy as np
import pytest

from finesim import CrossEncoder, FinesimError, Preset
from finesim.data.csfcube import load_papers, load_pools, load_splits
from tests.helpers import build_tiny_cross

pytestmark = pytest.mark.needs_data("csfcube")
ONLY_RERANK = Preset({"rerank": 1.0}, name="rerank")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One torch thread: on a busy two-core machine the tiny model's batches ran 25 times
    slower on two (measured 5 s against 0.2 s for one pool)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models(tiny_cross, tiny_bert, tmp_path_factory):
    """Three different tiny rerankers (seeds 0, 1, 2) and a reference copy of the first."""
    folder = tmp_path_factory.mktemp("rerankers")
    b, c = (build_tiny_cross(folder / f"seed{s}", tiny_bert, seed=s) for s in (1, 2))
    return SimpleNamespace(
        a=CrossEncoder(tiny_cross),
        b=CrossEncoder(b),
        c=CrossEncoder(c),
        reference=CrossEncoder(tiny_cross),
    )


def scores_of(model, papers, pool):
    from finesim.evaluation.csfcube_hybrid import facet_text

    query = facet_text(papers[pool.qpid], pool.facet) or papers[pool.qpid].text  # title only
    return model.predict([(query, papers[c].text) for c in pool.candidates])


def test_each_fold_is_scored_by_its_own_reranker(models):
    from finesim.evaluation.csfcube_rerank import one_for_all, rerank_columns

    papers = load_papers()  # the real abstracts: the pairs a trained reranker reads
    pools = load_pools("method")[:1]
    columns = rerank_columns(pools, {"fold1": models.a, "fold2": models.b})
    for pool in pools:
        own = scores_of(models.reference, papers, pool)
        np.testing.assert_allclose(columns["fold1"][pool.key], own, atol=1e-6)
        assert not np.allclose(columns["fold2"][pool.key], own)
    one = rerank_columns(pools, one_for_all(models.a))
    assert one["fold1"] is one["fold2"]  # one reranker: every pool scored once
    with pytest.raises(FinesimError, match="one for each of fold1, fold2"):
        rerank_columns(pools, {"fold1": models.a})


def test_a_rerank_preset_ranks_each_fold_by_its_reranker(models, short):
    from finesim.evaluation.csfcube_hybrid import evaluate_hybrid

    per_fold = {"fold1": models.a, "fold2": models.b}
    result = evaluate_hybrid(short, ONLY_RERANK, rerankers=per_fold)  # type: ignore[arg-type]
    splits = load_splits()["all"]
    by_key = {p.key: p for p in short.pools}
    for fold, model in (("fold1", models.reference), ("fold2", models.b)):
        for key in splits[f"{fold}_test"][:3]:
            pool = by_key[key]
            scores = scores_of(model, short.papers, pool)
            expected = [pool.candidates[i] for i in np.argsort(-scores, kind="stable")]
            assert [c for c, _ in result["rankings"][key]] == expected
    assert result["rerank"]["per_fold"] and result["folds"] == ["fold1_test", "fold2_test"]
    assert len(result["per_query"]) == 50 and result["baseline"]["scoring"] == "abstract"
    with pytest.raises(FinesimError, match="only test queries give figures"):
        evaluate_hybrid(short, ONLY_RERANK, "dev", rerankers=per_fold)  # type: ignore[arg-type]
    with pytest.raises(FinesimError, match="weighs the term 'rerank'"):
        evaluate_hybrid(short, ONLY_RERANK)  # type: ignore[arg-type]
    with pytest.raises(FinesimError, match="does not weigh the term 'rerank'"):
        evaluate_hybrid(short, Preset({"abstract": 1.0}), rerankers=per_fold)  # type: ignore[arg-type]


def test_cv_and_learn_weigh_rerank_per_fold_without_crossing_folds(models, short):
    from finesim.evaluation.csfcube_hybrid import evaluate_cv, evaluate_learned

    grid = {  # each weighs rerank, so every choice moves with its fold's reranker
        "rerank": ONLY_RERANK,
        "some": Preset({"abstract": 1.0, "rerank": 0.2}, "zscore", name="some"),
        "both": Preset({"abstract": 1.0, "rerank": 1.0}, "zscore", name="both"),
    }
    ab = {"fold1": models.a, "fold2": models.b}
    ac = {"fold1": models.a, "fold2": models.c}  # fold2's reranker changed, fold1's kept
    first, second = (evaluate_cv(short, grid, rerankers=r) for r in (ab, ac))  # type: ignore[arg-type]
    assert first["chosen"]["fold1"] == second["chosen"]["fold1"]
    assert first["dev"]["fold1"] == second["dev"]["fold1"]
    fold1 = load_splits()["all"]["fold1_test"]
    assert all(first["per_query"][k] == second["per_query"][k] for k in fold1)
    assert first["rankings"] != second["rankings"]  # fold2's queries moved with its reranker
    assert first["rerank"]["models"]["fold2"] != second["rerank"]["models"]["fold2"]
    learned = [evaluate_learned(short, rerankers=r) for r in (ab, ac)]  # type: ignore[arg-type]
    weights = [{f: c["preset"]["weights"] for f, c in r["chosen"].items()} for r in learned]
    assert "rerank" in weights[0]["fold1"] and "rerank" in weights[0]["fold2"]
    assert weights[0]["fold1"] == weights[1]["fold1"] and weights[0]["fold2"] != weights[1]["fold2"]
    with pytest.raises(FinesimError, match="needs a cross-encoder"):
        evaluate_learned(short, ("abstract", "rerank"))  # type: ignore[arg-type]
