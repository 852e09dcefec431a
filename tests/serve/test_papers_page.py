"""End to end, as a researcher runs it: a 30-paper .bib made here -> ``finesim papers`` (a real
process, the real minilm, the shipped facet tagger, port 0) -> the search page in headless
Chromium answers facet queries, each hit with the sentence pairs that explain it. A
screenshot is kept in ``test-artifacts/papers-page.png``."""

import os
import re
import signal
import subprocess
import sys
import time
from html import unescape
from urllib.parse import urlencode

import pytest

from tests.helpers import ARTIFACTS, bibtex_library, chromium, is_png, run_browser

pytestmark = pytest.mark.slow
TEXT_QUERY = (
    "Graph neural networks are used for chemistry. We propose message passing on molecular "
    "graphs. Experiments show that accuracy improves by five points over strong baselines."
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """(url, index folder) of ``finesim papers library.bib --port 0`` running in a process."""
    chromium()
    folder = tmp_path_factory.mktemp("library")
    library = folder / "library.bib"
    library.write_text(bibtex_library(30))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "finesim", "papers", str(library), "--port", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line, deadline = "", time.monotonic() + 300
        while "Search page:" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, process.stderr.read()[-3000:]
        found = re.search(r"Search page: (http://127\.0\.0\.1:\d+/)", line)
        assert found, line
        yield found.group(1), folder / "library.idx"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        err = process.stderr.read()
        assert "built with 30 papers" in err and "shipped facet tagger" in err, err[-2000:]


def hits_of(dom):
    return re.findall(r'<li class="hit" data-id="([^"]+)"', dom)


def test_a_text_query_on_the_result_facet_is_answered_with_explanations(page):
    url, _ = page
    form = {"q": TEXT_QUERY, "facet": "result", "scoring": "min-l2"}
    dom = run_browser(f"{url}?" + urlencode(form), "--dump-dom")
    assert 'data-state="done"' in dom, dom[-3000:]
    ids = hits_of(dom)
    assert len(ids) == 10
    assert "result facet" in dom and "no facet tagger" not in dom  # the shipped tagger tagged it
    # explained: the query's result sentence and the hit's sentence marked as a pair
    marked = [
        unescape(m) for m in re.findall(r'pair-\d"><span class="badge">[\d ]+</span>([^<]*)<', dom)
    ]
    assert any(m.startswith("Experiments show that accuracy improves") for m in marked), marked
    assert re.search(r"pair 1: query sentence 3 ↔ sentence \d \(result ↔ result, cosine", dom)
    assert "Müller, Anna; García, Luis" in dom and "Proceedings of the Conference" in dom


def test_a_paper_id_query_on_the_method_facet_and_a_screenshot(page):
    url, _ = page
    dom = run_browser(f"{url}?" + urlencode({"q": "paper00", "facet": "method"}), "--dump-dom")
    assert 'data-state="done"' in dom, dom[-3000:]
    ids = hits_of(dom)
    assert "paper00" not in ids and len(ids) == 10
    # papers on the same method (every sixth) come first
    assert set(ids[:4]) == {"paper06", "paper12", "paper18", "paper24"}, ids
    # the query side of every pair is one of paper00's method sentences (shipped tagger's)
    pairs = re.findall(r"pair \d: query sentence \d ↔ sentence \d \((\w+) ↔ \w+, cosine", dom)
    assert len(pairs) == 10 * 3 and set(pairs) == {"method"}, pairs
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "papers-page.png"
    shot.unlink(missing_ok=True)
    form = {"q": TEXT_QUERY, "facet": "result", "scoring": "min-l2"}
    run_browser(
        f"{url}?" + urlencode(form), f"--screenshot={shot}", "--window-size=1280,1000",
        "--hide-scrollbars",
    )  # fmt: skip
    assert is_png(shot)
