"""The search page in a real browser: headless Chromium loads it from a live server, runs a
query from the URL, and the rendered DOM must hold the results. A screenshot is kept in
``test-artifacts/serve-page.png``."""

import re
from html import unescape
from urllib.parse import urlencode

import pytest

from finesim import HybridSearcher
from tests.helpers import REPO, chromium, run_browser, start

ARTIFACTS = REPO / "test-artifacts"
QUERY = "a man plays the guitar. we train the model on data. the woman sings with music."


@pytest.fixture(scope="module")
def page_url(tiny_encoder, tiny_index):
    service, live = start(tiny_encoder, "tiny", tiny_index)
    with live as url:
        yield url
    service.close()


def test_page_runs_a_text_query_and_renders_results(page_url, tiny_index):
    chromium()
    url = f"{page_url}/?" + urlencode({"q": QUERY, "facet": "method", "scoring": "max-sim"})
    dom = run_browser(url, "--dump-dom")
    assert 'data-state="done"' in dom, dom[-3000:]
    expected = tiny_index.search(QUERY, facet="method", scoring="max-sim", k=10)
    ids = re.findall(r'<li class="hit" data-id="([^"]+)"', dom)
    assert ids == [h.id for h in expected]
    titles = [unescape(t) for t in re.findall(r"<h2>([^<]*)</h2>", dom)]
    assert titles == [h.title for h in expected]
    assert f"{len(expected)} results for" in dom and "method facet" in dom
    scores = re.findall(r'<span class="score">score (-?[0-9.]+)</span>', dom)
    assert scores == [f"{h.score:.4f}" for h in expected]
    marked = {
        unescape(m)
        for m in re.findall(r'pair-\d"><span class="badge">[\d ]+</span>([^<]*)</mark>', dom)
    }
    first = expected[0].pairs[0]
    assert first.query in marked and first.candidate in marked  # highlighted on both sides


def test_page_runs_a_paper_id_query_and_keeps_a_screenshot(page_url, tiny_index):
    chromium()
    url = f"{page_url}/?" + urlencode({"q": "p2", "facet": "method", "scoring": "min-l2"})
    dom = run_browser(url, "--dump-dom")
    expected = tiny_index.search(query_doc="p2", facet="method", k=10)
    assert re.findall(r'<li class="hit" data-id="([^"]+)"', dom) == [h.id for h in expected]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "serve-page.png"
    shot.unlink(missing_ok=True)
    url = f"{page_url}/?" + urlencode({"q": QUERY, "facet": "method", "scoring": "max-sim"})
    run_browser(url, f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars")
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_page_runs_hybrid_with_the_chosen_preset(page_url, tiny_index):
    chromium()
    form = {"q": QUERY, "facet": "method", "scoring": "hybrid", "preset": "learned-mpnet"}
    dom = run_browser(f"{page_url}/?" + urlencode(form), "--dump-dom")
    assert 'data-state="done"' in dom, dom[-3000:]
    expected = HybridSearcher(tiny_index).search(
        QUERY, facet="method", scoring="hybrid", preset="learned-mpnet", k=10
    )
    assert re.findall(r'<li class="hit" data-id="([^"]+)"', dom) == [h.id for h in expected]
    assert "hybrid, preset learned-mpnet" in dom
    assert '<option value="learned-mpnet">' in dom


def test_page_shows_errors(page_url):
    chromium()
    url = f"{page_url}/?" + urlencode({"q": "p999", "mode": "doc"})
    dom = run_browser(url, "--dump-dom")
    assert 'data-state="error"' in dom and "no document" in dom and "p999" in dom
