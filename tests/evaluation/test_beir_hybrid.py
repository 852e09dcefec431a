import pytest

from finesim import Encoder, Preset
from finesim.evaluation.beir_hybrid import run_beir_hybrid
from finesim.evaluation.retrieval import run_beir
from tests.helpers import make_beir


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))


def test_abstract_alone_equals_dense_retrieval_and_bm25_changes_it(tiny_st, tmp_path):
    folder = make_beir(tmp_path / "beir")
    encoder = Encoder(tiny_st)
    dense = run_beir(encoder, folder)
    alone = run_beir_hybrid(encoder, folder, Preset({"abstract": 1.0}))
    for key in ("ndcg@10", "map@100", "recall@100", "mrr@10", "n_queries"):
        assert alone[key] == pytest.approx(dense[key])
    lexical = run_beir_hybrid(encoder, folder, Preset({"bm25": 1.0}))
    fused = run_beir_hybrid(encoder, folder, Preset({"abstract": 1.0, "bm25": 1.0}, "rrf"))
    assert lexical["ndcg@10"] != pytest.approx(dense["ndcg@10"])
    assert fused["preset"]["fusion"] == "rrf" and fused["n_queries"] == dense["n_queries"]


def test_a_preset_weighing_rerank_is_refused_in_one_line(tmp_path):
    from finesim import FinesimError

    preset = Preset({"abstract": 1.0, "rerank": 1.0}, name="ce")
    with pytest.raises(FinesimError, match="preset 'ce' weighs the term 'rerank'"):
        run_beir_hybrid(None, make_beir(tmp_path / "beir"), preset)  # type: ignore[arg-type]
