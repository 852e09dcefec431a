"""``finesim papers`` without serving (``--no-serve``): a library becomes an index beside it,
labelled by the shipped tagger; a grown library adds only its new papers; a changed one is
rebuilt; the model of an index is kept unless --rebuild."""

import json
import socket

import numpy as np

from finesim import Index
from tests.helpers import bibtex_library


def papers(cli, library, *args):
    code, out, err = cli("papers", library, "--no-serve", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_build_then_add_only_new_papers(cli, tiny_st, tmp_path):
    library = tmp_path / "library.bib"
    library.write_text(bibtex_library(20))
    built = papers(cli, library, "-m", tiny_st)
    assert built["format"] == "bibtex" and built["papers"] == 20 and built["added"] == 20
    assert built["path"] == str(tmp_path / "library.idx") and built["url"] is None
    index = Index.open(tmp_path / "library.idx")
    assert index.tagger is not None and index.tagger.reads_text  # the shipped tagger
    assert (index.labels >= 0).all()  # every sentence labelled
    record = index.docs.get(index.position("paper03"))
    assert "Gödel" in record["title"] and record["authors"] == ["Müller, Anna", "García, Luis"]
    vectors = index.doc(index.position("paper03")).vectors

    again = papers(cli, library)  # the index's own model, nothing new
    assert again["added"] == 0 and again["documents"] == 20 and again["rebuilt"] is None

    library.write_text(bibtex_library(30))
    grown = papers(cli, library)
    assert grown["added"] == 10 and grown["documents"] == 30 and grown["rebuilt"] is None
    reopened = Index.open(tmp_path / "library.idx")
    assert reopened.ids[:20] == index.ids and reopened.ids[20:] == [
        f"paper{i}" for i in range(20, 30)
    ]
    assert np.allclose(reopened.doc(reopened.position("paper03")).vectors, vectors)

    library.write_text(bibtex_library(30, changed=4))
    changed = papers(cli, library)
    assert changed["rebuilt"] == "papers since the last run: 1 changed (first: paper04)"
    assert changed["documents"] == 30
    rebuilt = Index.open(tmp_path / "library.idx")
    record = rebuilt.docs.get(rebuilt.position("paper04"))
    assert record["sentences"][-1] == "We find no improvement at all."

    library.write_text(bibtex_library(25))
    shrunk = papers(cli, library)
    assert "5 no longer in the library (first: paper25)" in shrunk["rebuilt"]
    assert shrunk["documents"] == 25


def test_text_summary_other_model_tagger_none_and_title_only(cli, tiny_st, tiny_bert, tmp_path):
    library = tmp_path / "lib.bib"
    library.write_text(bibtex_library(6) + "@misc{bare, title={A paper without abstract}}\n")
    code, out, err = cli("papers", library, "-m", tiny_st, "--no-serve")
    assert code == 0, err
    assert f"{library}: 6 papers (BibTeX)" in err
    assert "1 record has no abstract: left out (bare)" in err
    assert "built with 6 papers; 6 papers, 24 sentences" in err and "shipped facet tagger" in err

    from finesim import Encoder

    other = tmp_path / "other-model"
    Encoder(tiny_bert, pooling="cls").save(other)
    code, out, err = cli("papers", library, "-m", other, "--no-serve")
    assert code == 2 and "was built with model" in err and "--rebuild" in err
    assert len(err.strip().splitlines()) == 1
    rebuilt = papers(cli, library, "-m", other, "--rebuild", "--title-only-ok")
    assert rebuilt["rebuilt"] == "--rebuild" and rebuilt["documents"] == 7
    assert rebuilt["without_abstract"] == ["bare"] and rebuilt["title_only"] is True

    plain = papers(cli, library, "-m", tiny_st, "--tagger", "none", "-o", tmp_path / "plain.idx")
    assert plain["tagger"] is None


def test_errors_are_one_line_and_build_nothing(cli, tiny_st, tmp_path):
    library = tmp_path / "lib.bib"
    library.write_text(bibtex_library(3).replace("baselines.}", "baselines.", 1))  # unclosed
    code, out, err = cli("papers", library, "-m", tiny_st, "--no-serve")
    assert code == 2 and f"{library}:3: entry 'paper00' is malformed" in err
    assert not (tmp_path / "lib.idx").exists()

    library.write_text(bibtex_library(3))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        code, out, err = cli("papers", library, "-m", tiny_st, "--port", port)
    finally:
        taken.close()
    assert code == 2 and "cannot listen on 127.0.0.1" in err and "--port" in err
    assert not (tmp_path / "lib.idx").exists()  # the port is checked before any work
    code, out, err = cli("papers", tmp_path / "nope.bib", "--no-serve")
    assert code == 2 and "nope.bib: no such file" in err


def test_open_says_so_without_a_display(monkeypatch, capsys):
    from finesim.cli.papers import _open_browser

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    _open_browser("http://127.0.0.1:1/")
    assert "no browser to open here; open the URL yourself" in capsys.readouterr().err
