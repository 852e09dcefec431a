"""``finesim demo``'s report in headless Chromium (a screenshot is kept in
``test-artifacts/demo-report.png``), and the demo itself on CSFCube with the tiny model."""

import json
import re
from html import unescape

import pytest

from finesim.evaluation.demo_report import write_demo_report
from tests.helpers import ARTIFACTS, chromium, is_png, run_browser

GROUPS = ("background", "method", "result", "all")


def row(name, kind, value, ci=True, queries="test, both folds"):
    figures = {g: {"map": value + i, "ndcg%20": value + 20 + i} for i, g in enumerate(GROUPS)}
    intervals = {g: {m: [v - 5, v + 5] for m, v in f.items()} for g, f in figures.items()}
    per_query = {f"q{i}_{f}": {"map": value + i} for i in range(4) for f in GROUPS[:3]}
    return {
        "name": name,
        "kind": kind,
        "figures": figures,
        "ci95": intervals if ci else None,
        "split": "test",
        "folds": ["fold1_test", "fold2_test"],
        "queries": queries,
        "note": f"what {name} is",
        "per_query": per_query,
    }


def example(qid, facet):
    pair = {
        "query": f"Our {facet} sentence <b>{qid}</b>.",
        "query_facet": facet,
        "candidate": "A matching sentence.",
        "candidate_facet": facet,
        "similarity": 0.81,
    }
    hits = [
        {
            "rank": r,
            "id": f"c{r}",
            "title": f"Candidate {r}",
            "score": 3.0 - r,
            "grade": g,
            "grade_name": n,
            "pairs": [pair],
        }
        for r, g, n in ((1, 3, "identical"), (2, None, "not judged for this query"), (3, 0, "x"))
    ]
    sentences = [
        {"text": "Background first.", "facet": "background"},
        {"text": "Asked.", "facet": facet},
    ]
    return {
        "query": {"id": qid, "title": f"Query paper {qid}", "facet": facet, "sentences": sentences},
        "scoring": "hybrid (preset default)",
        "corpus": 4205,
        "pool": 120,
        "hits": hits,
    }


def demo_result():
    anchor = row("SPECTER, published", "anchor", 34.23, ci=False, queries="published")
    anchor["figures"] = {"all": {"map": 34.23, "ndcg%20": 53.28}}
    learned = row("minilm hybrid, weights fitted per fold", "hybrid", 41.0)
    learned["vs_abstract"] = {"map": {"difference": 2.07, "ci95": [-0.71, 4.7], "p_value": 0.158}}
    return {
        "about": {
            "model": "minilm",
            "fingerprint": "abc",
            "dimension": 384,
            "papers": 4205,
            "sentences": 29197,
            "queries": 50,
            "examples": ["111", "222"],
        },
        "examples": [example("111", "method"), example("222", "result")],
        "rows": [
            row("minilm min-l2", "plain", 31.8),
            row("minilm abstract", "plain", 39.8),
            learned,
            anchor,
        ],
        "timings": {"first_result": 6.0, "total": 24.0},
    }


def test_report_renders_in_chromium_with_examples_table_and_plots(tmp_path):
    chromium()
    page = write_demo_report(demo_result(), tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} == {
        "index.html",
        "demo.json",
        "per-facet.png",
        "per-query.png",
    }
    assert json.loads((tmp_path / "report" / "demo.json").read_text())["about"]["papers"] == 4205
    dom = run_browser(page.as_uri(), "--dump-dom")
    assert "What was measured" in dom and "CSFCube" in dom
    assert re.findall(r'<li class="hit" data-id="(c\d)"', dom) == ["c1", "c2", "c3"] * 2
    assert "judged: identical (3)" in dom and "not judged for this query" in dom
    assert "Our method sentence &lt;b&gt;111&lt;/b&gt;." in dom  # text, never markup
    rows = [unescape(r) for r in re.findall(r'<span class="kind">\w+</span><br>([^<]+)</td>', dom)]
    assert rows == [
        "minilm min-l2",
        "minilm abstract",
        "minilm hybrid, weights fitted per fold",
        "SPECTER, published",
    ]
    assert "<b>34.23</b>" in dom and "<b>53.28</b>" in dom and "[29.80, 39.80]" in dom
    assert "MAP +2.07 [-0.71, +4.70], p = 0.158" in dom
    assert 'src="per-facet.png"' in dom and 'src="per-query.png"' in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo-report.png"
    shot.unlink(missing_ok=True)
    run_browser(
        page.as_uri(), f"--screenshot={shot}", "--window-size=1200,2400", "--hide-scrollbars"
    )
    assert is_png(shot, 50_000)


@pytest.mark.slow
@pytest.mark.needs_data("csfcube")
def test_demo_runs_on_csfcube(cli, tiny_st, tmp_path):
    code, out, err = cli("demo", "--model", tiny_st, "--report", tmp_path / "report")
    assert code == 0, err
    assert out.count("Papers like ") == 2 and "on its method" in out and "on its result" in out
    assert out.count("\n  1. ") == 2 and "     ~ [" in out  # top hits with their pairs
    for name in ("min-l2", "abstract", "hybrid, preset default", "weights fitted per fold"):
        assert name in out
    assert "34.23" in out and "53.28" in out and "34.64" in out and "54.94" in out
    assert re.search(r"done in \d+ s \(first result after \d+ s\)", err)
    demo = json.loads((tmp_path / "report" / "demo.json").read_text())
    assert demo["about"]["papers"] == 4205 and len(demo["rows"]) == 7
    assert demo["rows"][4]["figures"]["all"]["map"] == pytest.approx(34.23, abs=0.005)
