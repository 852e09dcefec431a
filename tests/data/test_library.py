"""The library readers (BibTeX, CSL-JSON, Semantic Scholar / S2ORC, CSV, finesim JSONL) on
small files written here, malformed records included: each names its file and line (and the
BibTeX entry key), and records without an abstract are counted, not fatal."""

import gzip
import json

import pytest

from finesim._util.errors import FinesimError
from finesim.data.library import detect_format, read_library, title_id
from tests.helpers import jsonl

BIB = r"""@string{acl = "Proceedings of ACL"}
% a comment line, as JabRef writes them
@article{godel2020,
  title = {A {Study} of G{\"o}del and Erd\H{o}s},
  abstract = {We use na\"{\i}ve methods on {B}ayesian graphs.
              Results are \emph{better} than 50\% of baselines; see $\alpha$.},
  author = {M{\"u}ller, J{\"o}rg and Garc\'{i}a, Luc{\'\i}a},
  year = 2020,
  doi = {10.1000/xyz}
}

@inproceedings{quoted,
  title = "Quoted title with \& ampersand",
  booktitle = acl # " 2020",
  abstract = "Second \textit{paper} abstract -- with dashes --- and ``quotes''. We fine-tune
              \mbox{BERT} as in \cite{devlin2019} on 5~corpora (Table~\ref{t1})."
}
@misc{noabstract, title = {Only a {T}itle}}
@misc{nothing, year = 1999}
@comment{ignored}
"""


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def error_of(path, **options):
    with pytest.raises(FinesimError) as caught:
        read_library(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---- BibTeX ----------------------------------------------------------------------------------


def test_bibtex_latex_cleaned_and_missing_abstracts_counted(tmp_path):
    library = read_library(write(tmp_path / "papers.bib", BIB))
    assert library.format == "bibtex"
    first, second = library.documents
    assert first.id == "godel2020" and first.title == "A Study of Gödel and Erdős"
    assert first.sentences == [
        "We use naïve methods on Bayesian graphs.",
        "Results are better than 50% of baselines; see α.",
    ]
    assert first.extra["authors"] == ["Müller, Jörg", "García, Lucía"]
    assert first.extra["year"] == "2020" and first.extra["doi"] == "10.1000/xyz"
    assert first.labels is None
    assert second.title == "Quoted title with & ampersand"
    assert second.extra["venue"] == "Proceedings of ACL 2020"  # @string and # resolved
    assert second.sentences == [
        "Second paper abstract – with dashes — and “quotes”.",
        "We fine-tune BERT as in on 5 corpora (Table).",
    ]
    assert not any("{" in s or "\\" in s for d in library.documents for s in d.sentences)
    assert library.without_abstract == ["noabstract"] and library.empty == ["nothing"]
    notes = library.notes()
    assert "1 record has no abstract: left out (noabstract)" in notes[0]
    assert "--title-only-ok" in notes[0] and "neither title nor abstract" in notes[1]


def test_bibtex_title_only(tmp_path):
    library = read_library(write(tmp_path / "papers.bib", BIB), title_only_ok=True)
    last = library.documents[-1]
    assert last.id == "noabstract" and last.sentences == ["Only a Title"]
    assert last.extra["indexed"] == "title only"
    assert "no abstract: indexed by the title only (noabstract)" in library.notes()[0]


def test_bibtex_malformed_entry_names_line_and_key(tmp_path):
    broken = BIB.replace('title = "Quoted title with \\& ampersand",', 'title = "Unclosed,')
    message = error_of(write(tmp_path / "broken.bib", broken))
    assert "broken.bib:12: entry 'quoted'" in message and "malformed" in message

    no_brace = BIB.replace("  doi = {10.1000/xyz}\n}", "  doi = {10.1000/xyz}\n")
    message = error_of(write(tmp_path / "open.bib", no_brace))
    assert "open.bib:3: entry 'godel2020' is malformed" in message


def test_bibtex_duplicates_and_encoding(tmp_path):
    twice = BIB + "@article{godel2020, title={Again}, abstract={Again.}}\n"
    message = error_of(write(tmp_path / "twice.bib", twice))
    assert "twice.bib:21: entry 'godel2020': duplicate entry key (first at line 3)" in message

    field_twice = "@article{k1, title={A}, title={B}, abstract={x}}\n"
    assert "field 'title' given twice" in error_of(write(tmp_path / "f.bib", field_twice))

    latin = write(tmp_path / "latin.bib", "@article{x,\n title={Gödel},\n}\n", "latin-1")
    assert "latin.bib:2: not valid UTF-8" in error_of(latin)

    assert "no paper with an abstract" in error_of(write(tmp_path / "t.bib", "@misc{a, title={T}}"))
    assert "no records" in error_of(write(tmp_path / "empty.bib", "% nothing\n"))


# ---- CSL-JSON --------------------------------------------------------------------------------

CSL = [
    {
        "id": "http://zotero.org/users/1/items/ABCD",
        "type": "article-journal",
        "title": "Graph <i>neural</i> networks",
        "abstract": "<jats:title>Abstract</jats:title><jats:p>We propose GNNs.</jats:p>"
        "<jats:p>They beat H<sub>2</sub>O &amp; friends.</jats:p>",
        "author": [{"family": "Doe", "given": "Jane"}, {"literal": "The Team"}],
        "issued": {"date-parts": [[2021, 5]]},
        "DOI": "10.1/gnn",
        "container-title": "JMLR",
    },
    {"id": 7, "title": "Numbers as ids", "abstract": "Abstract: Ids may be numbers."},
    {"title": "No id, a DOI", "DOI": "10.2/doi", "abstract": "One sentence."},
    {"id": "noabs", "title": "Just a title"},
]


def test_csl_json(tmp_path):
    path = tmp_path / "zotero.json"
    path.write_text(json.dumps(CSL, indent=2))
    assert detect_format(path) == "csl-json"
    library = read_library(path)
    gnn, numbers, doi = library.documents
    assert gnn.title == "Graph neural networks"
    assert gnn.sentences == ["We propose GNNs.", "They beat H2O & friends."]
    assert gnn.extra == {
        "type": "article-journal",
        "year": "2021",
        "authors": ["Jane Doe", "The Team"],
        "doi": "10.1/gnn",
        "venue": "JMLR",
    }
    assert numbers.id == "7" and numbers.sentences == ["Ids may be numbers."]
    assert doi.id == "10.2/doi"
    assert library.without_abstract == ["noabs"]


def test_csl_json_malformed(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"id": "a", "title": "T", "abstract": "x."},\n  {"id": "b", "title": }\n]')
    assert "bad.json:3: invalid JSON" in error_of(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('[\n {"id": "a", "abstract": "x."},\n\n {"id": "b", "abstract": ["y"]}\n]')
    message = error_of(wrong)
    assert "wrong.json:4: field 'abstract' must be text, not list" in message
    scalar = tmp_path / "scalar.json"
    scalar.write_text('[{"id": "a", "abstract": "x."}, 3]')
    assert "scalar.json:1: expected a JSON object, not int" in error_of(scalar)
    dup = tmp_path / "dup.json"
    dup.write_text('[{"id": "a", "abstract": "x."},\n{"id": "a", "abstract": "y."}]')
    assert "dup.json:2: duplicate id 'a' (first at " in error_of(dup)
    assert "expected a JSON array" in error_of(write(tmp_path / "obj.json", '{"id": 1}'))


# ---- Semantic Scholar / S2ORC ----------------------------------------------------------------

S2 = [
    {
        "paperId": "649def34f8be52c8b66281af98ae884c09aef38b",
        "corpusId": 10,
        "title": "Graph API paper",
        "abstract": "We study graphs. Graphs are fun.",
        "year": 2020,
        "authors": [{"authorId": "1", "name": "Ada Lovelace"}],
        "externalIds": {"DOI": "10.3/s2"},
        "venue": "NeurIPS",
    },
    {"paperId": "nullabstract", "title": "No abstract here", "abstract": None},
    {
        "paper_id": "s2orc-2020",
        "title": "Old S2ORC",
        "abstract": [{"text": "First paragraph.", "section": "Abstract"}, {"text": "Second."}],
    },
    {
        "corpusid": 99,
        "externalids": {"doi": "10.4/x"},
        "content": {
            "text": "Title Here. The abstract text. Body.",
            "annotations": {
                "title": json.dumps([{"start": 0, "end": 10}]),
                "abstract": json.dumps([{"start": 12, "end": 30}]),
            },
        },
    },
]


def test_s2_json_lines_all_shapes(tmp_path):
    path = jsonl(tmp_path / "s2.jsonl", S2)
    assert detect_format(path) == "s2"
    library = read_library(path)
    graph, old, new = library.documents
    assert graph.id == S2[0]["paperId"] and graph.sentences == [
        "We study graphs.",
        "Graphs are fun.",
    ]
    assert graph.extra == {
        "year": "2020",
        "authors": ["Ada Lovelace"],
        "doi": "10.3/s2",
        "venue": "NeurIPS",
    }
    assert old.id == "s2orc-2020" and old.sentences == ["First paragraph.", "Second."]
    assert new.id == "99" and new.title == "Title Here" and new.sentences == ["The abstract text."]
    assert new.extra["doi"] == "10.4/x"
    assert library.without_abstract == ["nullabstract"]

    gz = tmp_path / "s2.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [d.id for d in read_library(gz).documents] == [d.id for d in library.documents]

    answer = tmp_path / "search.json"  # what the API's /paper/search answers
    answer.write_text(json.dumps({"total": 2, "data": S2[:2]}))
    assert detect_format(answer) == "s2"
    assert [d.id for d in read_library(answer).documents] == [S2[0]["paperId"]]


def test_s2_malformed(tmp_path):
    path = tmp_path / "s2.jsonl"
    path.write_text(json.dumps(S2[0]) + "\n{not json\n")
    assert "s2.jsonl:2: invalid JSON" in error_of(path)
    path.write_text(json.dumps(S2[0]) + "\n" + json.dumps({"paperId": "", "title": "x"}) + "\n")
    assert "s2.jsonl:2: field 'paperId' (the paper's id) is missing or empty" in error_of(path)
    path.write_text(json.dumps({"paperId": "a", "title": 5, "abstract": "x."}) + "\n")
    assert "s2.jsonl:1: field 'title' must be text, not int" in error_of(path)
    path.write_bytes(json.dumps(S2[0]).encode() + b"\n" + b'{"paperId": "\xff"}\n')
    assert "s2.jsonl:2: not valid UTF-8" in error_of(path, format="s2")


# ---- CSV -------------------------------------------------------------------------------------


def test_csv_zotero_export(tmp_path):
    path = tmp_path / "zotero.csv"
    path.write_text(
        '\ufeff"Key","Item Type","Publication Year","Author","Title","DOI","Abstract Note"\n'
        '"K1","journalArticle","2019","Doe, Jane; Roe, Rick","First","10.5/a",'
        '"Line one of the abstract.\nLine two, after a newline."\n'
        '"K2","book","2018","","Second","","We write books."\n'
        '"K3","book","2018","","No abstract","",""\n',
        encoding="utf-8",
    )
    library = read_library(path)
    first, second = library.documents
    assert first.id == "K1" and first.title == "First"
    assert first.sentences == ["Line one of the abstract.", "Line two, after a newline."]
    assert first.extra == {"doi": "10.5/a", "year": "2019", "authors": ["Doe, Jane", "Roe, Rick"]}
    assert second.id == "K2" and library.without_abstract == ["K3"]


def test_csv_ids_from_doi_or_title_and_other_delimiters(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("title,abstract,doi\nA paper,It works.,10.9/z\nAnother paper,So does this.,\n")
    first, second = read_library(path).documents
    assert first.id == "10.9/z"
    assert second.id == title_id("Another paper") == title_id("  another   PAPER ")
    semicolons = tmp_path / "excel.csv"
    semicolons.write_text("Title;Abstract\nT;One sentence.\n")
    assert read_library(semicolons).documents[0].sentences == ["One sentence."]
    tsv = tmp_path / "papers.tsv"
    tsv.write_text("id\ttitle\tabstract\nx\tT\tA, with a comma.\n")
    assert read_library(tsv).documents[0].id == "x"


def test_csv_malformed(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,title,abstract\na,T,One.\nb,T2\n")
    assert "bad.csv:3: 2 fields, the header has 3" in error_of(path)
    path.write_text('id,title,abstract\na,T,One.\n"b,T2,"never closed\n')
    assert "bad.csv" in error_of(path)
    path.write_text("id,name,summary_text\na,b,c\n")
    assert "bad.csv:1: no 'abstract' column (columns: id, name, summary_text)" in error_of(path)
    path.write_text("title,abstract\nSame,One.\nSame,Two.\n")
    assert "bad.csv:3: duplicate id" in error_of(path)


# ---- finesim JSONL, detection ----------------------------------------------------------------


def test_finesim_jsonl_keeps_labels_and_skips_missing_abstracts(tmp_path):
    path = jsonl(
        tmp_path / "docs.jsonl",
        [
            {"id": "a", "title": "A", "abstract": ["One.", "Two."], "labels": ["method", "result"]},
            {"id": "b", "title": "B", "abstract": ""},
            {"paper_id": "c", "title": "C"},
        ],
    )
    assert detect_format(path) == "jsonl"
    library = read_library(path)
    assert [d.id for d in library.documents] == ["a"]
    assert library.documents[0].labels == ["method", "result"]
    assert library.without_abstract == ["b", "c"]
    path.write_text(json.dumps({"id": "a", "abstract": "x.", "labels": ["methods"]}) + "\n")
    assert "docs.jsonl:1: field 'labels'" in error_of(path)


def test_format_detection_and_override(tmp_path):
    odd = tmp_path / "library.txt"
    odd.write_text(BIB)
    assert "cannot tell the library format" in error_of(odd)
    assert len(read_library(odd, format="bibtex").documents) == 2
    assert "unknown library format 'ris'" in error_of(odd, format="ris")
    assert "no such file" in error_of(tmp_path / "missing.bib")


def test_index_build_reads_a_library_and_exits_2_on_a_bad_one(cli, tiny_st, tmp_path):
    bib = write(tmp_path / "papers.bib", BIB)
    code, out, err = cli("index", "build", "-m", tiny_st, "--docs", bib, "-o", tmp_path / "i")
    assert code == 0, err
    assert "1 record has no abstract" in err and "indexed 2 documents" in err
    broken = write(tmp_path / "broken.bib", BIB.replace("doi = {10.1000/xyz}\n}", "doi = {x}\n"))
    code, out, err = cli("index", "build", "-m", tiny_st, "--docs", broken, "-o", tmp_path / "j")
    assert code == 2 and err.strip().splitlines() == [
        f"finesim: error: {broken}:3: entry 'godel2020' is malformed (Unexpected block start: "
        "`@inproceedings`. Was still looking for field-value closing `,` or `}`)"
    ]
    assert not (tmp_path / "j").exists()
