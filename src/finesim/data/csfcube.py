"""CSFCube: 4,205 computer-science abstracts, 50 faceted queries, graded judgements.

Read from ``<data root>/csfcube`` exactly as ``SOURCE.md`` there describes.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem, parse_json
from finesim.data.documents import FACETS, Document, normalize_label, whole_text
from finesim.data.paths import data_path
from finesim.data.texts import read_lines

ABSTRACTS = "abstracts-csfcube-preds.reconstructed.jsonl.gz"


@dataclass
class Paper:
    pid: str
    title: str
    sentences: list[str]
    labels: list[str]  # the sentence labels as given (background_label, objective_label, ...)

    @property
    def text(self) -> str:
        """Title and abstract as one text (``whole_text``)."""
        return whole_text(self.title, self.sentences)

    def document(self) -> Document:
        """The paper as a search/corpus ``Document`` (labels as ``background``, ...)."""
        labels = [normalize_label(x) for x in self.labels] if self.labels else None
        return Document(self.pid, self.sentences, labels, self.title)


@dataclass
class Pool:
    """The judged candidates of one query-facet, with adjudicated grades 0-3."""

    qpid: str
    facet: str
    candidates: list[str]
    grades: list[int]

    @property
    def key(self) -> str:
        return f"{self.qpid}_{self.facet}"


def _json(path: Path) -> Any:
    """The parsed file, a fresh copy each call. Parsed once per version of the file: ``--cv``
    scores thousands of settings, each reading the pools and splits."""
    try:
        stat = path.stat()
        return copy.deepcopy(_parsed(str(path), stat.st_mtime_ns, stat.st_size))
    except (OSError, *JSON_ERRORS) as e:  # deepcopy too recurses on deep nesting
        raise FinesimError(f"{path}: cannot read ({json_problem(e)})") from None


@functools.lru_cache(maxsize=16)
def _parsed(path: str, mtime_ns: int, size: int) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_papers(path: Path | None = None) -> dict[str, Paper]:
    """All abstracts by paper id."""
    path = path or data_path("csfcube", ABSTRACTS)
    papers = {}
    for number, line in read_lines(path):
        where = f"{path}:{number}"
        row = parse_json(line, where)
        try:
            paper = _paper(row)
        except (KeyError, TypeError, ValueError) as e:
            raise FinesimError(f"{where}: bad abstract record ({e})") from None
        papers[paper.pid] = paper
    return papers


def _paper(row: Any) -> Paper:
    """One line of the abstracts file; KeyError/TypeError/ValueError for a bad one."""
    if not isinstance(row, dict):
        raise TypeError("expected a JSON object")
    pid, abstract, title = row["paper_id"], row["abstract"], row.get("title", "")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)):
        raise TypeError("'paper_id' is not a string")
    sentences = abstract if isinstance(abstract, list) else [abstract]
    if not all(isinstance(s, str) for s in sentences) or not isinstance(title, str):
        raise TypeError("'title' and 'abstract' must be text")
    labels = row.get("pred_labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise TypeError("'pred_labels' must be a list of labels")
    if labels and len(labels) != len(sentences):
        raise ValueError("pred_labels and abstract differ in length")
    return Paper(str(pid), title, sentences, labels)


def load_pools(facet: str) -> list[Pool]:
    """Judged pools of one facet, ``relevance_adju`` grades."""
    if facet not in FACETS:
        raise FinesimError(f"unknown facet {facet!r}; one of {', '.join(FACETS)}")
    path = data_path("csfcube", f"test-pid2anns-csfcube-{facet}.json")
    try:
        return [
            Pool(qpid, facet, [str(c) for c in a["cands"]], [int(g) for g in a["relevance_adju"]])
            for qpid, a in _json(path).items()
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise FinesimError(f"{path}: bad pool record ({e})") from None


def load_splits() -> dict[str, dict[str, list[str]]]:
    """``{facet|all: {fold1_dev, fold2_dev, fold1_test, fold2_test: [qpid_facet, ...]}}``."""
    splits: dict[str, dict[str, list[str]]] = _json(data_path("csfcube", "evaluation_splits.json"))
    return splits
