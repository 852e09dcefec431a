import json

import numpy as np
import pytest

from finesim import Encoder
from tests.helpers import run_cli as run


@pytest.fixture
def docs_file(tmp_path):
    rows = [
        {"id": "a", "title": "the cat", "abstract": ["a cat sleeps on the table", "the dog runs"]},
        {"id": "b", "title": "music", "abstract": ["a man plays the guitar", "the woman sings"]},
        {"id": "c", "title": "market", "abstract": ["bank rates rise", "the stock market falls"]},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_whiten_command_saves_a_whitened_model(capsys, monkeypatch, tiny_st, docs_file, tmp_path):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "white"
    code, stdout, _ = run(
        capsys,
        monkeypatch,
        "whiten",
        "--model",
        tiny_st,
        "--data",
        docs_file,
        "--out",
        out,
        "--dim",
        "4",
    )
    assert code in (0, None) and json.loads(stdout)["dim"] == 4
    assert Encoder(out).encode(["a cat"]).shape == (1, 4)
    base = Encoder(tiny_st).encode(["a cat"])
    assert np.abs(Encoder(out, whitening=False).encode(["a cat"]) - base).max() < 1e-6
    code, _, err = run(
        capsys, monkeypatch, "whiten", "--model", tiny_st, "--data", docs_file, "--out", out
    )
    assert code == 2 and "exists" in err and "Traceback" not in err


def test_geometry_command_reports_and_plots(capsys, monkeypatch, tiny_st, docs_file, tmp_path):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    code, stdout, _ = run(
        capsys,
        monkeypatch,
        "eval",
        "geometry",
        "--data",
        docs_file,
        "--model",
        tiny_st,
        "--whitening",
        "--plot",
        tmp_path / "g.png",
        "--json",
        tmp_path / "g.json",
    )
    assert code in (0, None) and "anisotropy" in stdout
    result = json.loads((tmp_path / "g.json").read_text())
    assert set(result["models"]) == {str(tiny_st), f"{tiny_st} +whitening"}
    assert (tmp_path / "g.png").stat().st_size > 1000


@pytest.mark.needs_data("csfcube")
def test_cv_refuses_settings_it_must_choose_itself(capsys, monkeypatch, tiny_st):
    code, _, err = run(
        capsys, monkeypatch, "eval", "csfcube", "--model", tiny_st, "--cv", "--preset", "default"
    )
    assert code == 2 and "--cv chooses" in err and "Traceback" not in err
    code, _, err = run(
        capsys,
        monkeypatch,
        "eval",
        "csfcube",
        "--model",
        tiny_st,
        "--scoring",
        "hybrid",
        "--whitening",
        "lots",
    )
    assert code == 2 and "--whitening 'lots'" in err
    code, _, err = run(capsys, monkeypatch, "eval", "csfcube", "--model", tiny_st, "--learn")
    assert code == 2 and "add --cv" in err and "Traceback" not in err


def test_beir_refuses_an_unknown_scoring(capsys, monkeypatch, tiny_st, tmp_path):
    code, _, err = run(
        capsys,
        monkeypatch,
        "eval",
        "beir",
        "--data",
        tmp_path,
        "--model",
        tiny_st,
        "--scoring",
        "sparse",
    )
    assert code == 2 and "unknown scoring 'sparse'" in err and "Traceback" not in err


def test_rerank_option_takes_one_model_or_one_per_fold(tiny_cross, tmp_path):
    from finesim import FinesimError
    from finesim.cli.eval_hybrid import parse_rerankers

    one = parse_rerankers(str(tiny_cross))
    assert set(one) == {"fold1", "fold2"} and one["fold1"] is one["fold2"]
    same = parse_rerankers(f"fold1={tiny_cross},fold2={tiny_cross}")
    assert same["fold1"] is same["fold2"]  # one folder: loaded once
    for value, words in [
        (f"fold1={tiny_cross}", "no reranker for fold2"),
        (f"fold1={tiny_cross},fold3={tiny_cross}", "one per fold"),
        (f"fold1={tiny_cross},fold1={tiny_cross}", "fold1 is given twice"),
        ("fold1=,fold2=x", "one per fold"),
    ]:
        with pytest.raises(FinesimError, match=words):
            parse_rerankers(value)
    with pytest.raises(FinesimError, match="no-such"):
        parse_rerankers(str(tmp_path / "no-such"))


def test_rerank_needs_hybrid_scoring(capsys, monkeypatch, tiny_st, tiny_cross):
    code, _, err = run(
        capsys, monkeypatch, "eval", "csfcube", "--model", tiny_st, "--rerank", tiny_cross
    )
    assert code == 2 and "add --scoring hybrid or --cv" in err and "Traceback" not in err
