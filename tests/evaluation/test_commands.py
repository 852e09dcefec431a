"""``finesim eval``, ``finesim report compare``: JSON shapes, reports, and clean errors."""

import json

import pytest

from tests.helpers import data_root
from tests.helpers import run_cli as run

CSFCUBE = data_root() / "csfcube"
needs_data = pytest.mark.needs_data("csfcube", "sts")


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    return lambda *args: run(capsys, monkeypatch, *args)


@needs_data
def test_eval_sts_json_report_and_cache(cli, tiny_st, tmp_path):
    out = tmp_path / "sts.json"
    args = ["eval", "sts", "-m", tiny_st, "--tasks", "stsb,sts13", "--json", out]
    code, stdout, err = cli(*args, "--report", tmp_path / "report")
    assert code == 0, err
    result = json.loads(out.read_text())
    assert set(result["tasks"]) == {"stsb", "sts13"}
    assert result["tasks"]["stsb"]["n"] == 1379 and "spearman" in result["avg"]
    assert "predictions" not in result and "stsb" in stdout
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "report" / "0-sts-scatter.png").stat().st_size > 1000
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.sqlite"))) == 1
    code, _, _ = cli(*args[:-1], tmp_path / "again.json")  # served from the cache
    assert json.loads((tmp_path / "again.json").read_text())["tasks"] == result["tasks"]


@needs_data
def test_eval_csfcube_rankings_and_compare(cli, tmp_path):
    out = tmp_path / "specter.json"
    code, _, err = cli(
        "eval",
        "csfcube",
        "--rankings",
        CSFCUBE / "sample_ranked_pools",
        "--json",
        out,
        "--run-file",
        tmp_path / "run.tsv",
        "--report",
        tmp_path / "r",
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert round(result["all"]["map"], 2) == 34.23 and round(result["all"]["ndcg%20"], 2) == 53.28
    assert {"background", "method", "result", "all", "per_query"} <= set(result)
    assert (tmp_path / "run.tsv").read_text().count("\n") > 6000
    code, _, err = cli("report", "compare", out, out, "--out", tmp_path / "cmp")
    assert code == 0, err
    assert (tmp_path / "cmp" / "compare-csfcube.png").is_file()


@needs_data
def test_eval_csfcube_with_a_model(cli, tiny_st, tmp_path):
    code, stdout, err = cli("eval", "csfcube", "-m", tiny_st, "--scoring", "ot", "--json", "-")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["scoring"] == "ot" and len(result["per_query"]) == 50


def test_eval_errors_are_one_line(cli, tiny_st, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    cases = [
        (["eval", "sts", "-m", tiny_st, "--tasks", "sts99"], "unknown STS task"),
        (["eval", "csfcube", "-m", tiny_st, "--scoring", "bm25"], "unknown scoring"),
        (["eval", "csfcube", "--rankings", tmp_path / "none"], "no such folder"),
        (["eval", "sts", "--json", tmp_path / "no" / "x.json"], "no such folder"),
        (["report", "compare", bad, "--out", tmp_path / "o"], "bad.json: not a JSON result"),
        (["eval", "beir", "-m", tiny_st, "--data", tmp_path / "nobeir"], "nobeir"),
    ]
    for args, pattern in cases:
        code, out, err = cli(*args)
        lines = err.strip().splitlines()
        if lines and lines[0].startswith("Usage:"):  # an option's value: click's usage message
            lines = [lines[-1]]
        assert code == 2 and len(lines) == 1 and pattern in lines[0], (args, err)
        assert "Traceback" not in out + err


@needs_data
def test_public_evaluate_entry_point(tiny_st):
    import finesim

    result = finesim.evaluate(tiny_st, "sts", tasks="stsb", split="dev", cache=False)
    assert result["primary"] == "spearman" and result["tasks"]["stsb"]["n"] == 1500
    with pytest.raises(finesim.FinesimError, match="unknown task"):
        finesim.evaluate(tiny_st, "glue")
