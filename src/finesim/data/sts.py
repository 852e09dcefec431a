"""Readers for STS-B, STS12-16 and SICK: sentence pairs with a gold similarity score.

Formats follow ``../shared/data/sts/SOURCE.md`` and ``../shared/data/sick/SOURCE.md``: split
on tabs with quoting off, pairs with an empty gold score are unscored and dropped, CRLF lines
(SICK test) are stripped. ``variant`` picks the original text (``raw``) or SentEval's
tokenised, lowercased copy (``senteval``), which is what SimCSE's published numbers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.paths import data_path

STS_YEARS = {
    "sts12": ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"],
    "sts13": ["FNWN", "headlines", "OnWN"],
    "sts14": ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"],
    "sts15": ["answers-forums", "answers-students", "belief", "headlines", "images"],
    "sts16": ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"],
}
TASKS = ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr")
SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}


@dataclass
class ScoredPairs:
    """Sentence pairs with gold scores; ``subsets`` names each pair's subset (STS12-16)."""

    name: str
    sentences1: list[str]
    sentences2: list[str]
    scores: np.ndarray
    subsets: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise FinesimError(f"{path}:{line}: not valid UTF-8") from None
    return [line.rstrip("\r") for line in text.split("\n")]


def _clean(text: str, variant: str) -> str:
    # SentEval splits the tokenised text on whitespace and SimCSE joins it back with spaces.
    return " ".join(text.split()) if variant == "senteval" else text


def load_stsb(split: str = "test", variant: str = "raw") -> ScoredPairs:
    """STS Benchmark train/dev/test: columns genre, file, year, id, score, s1, s2 (+2)."""
    path = data_path("sts", variant, "STSBenchmark", f"sts-{split}.csv")
    s1, s2, scores = [], [], []
    for number, line in enumerate(_lines(path), start=1):
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) < 7:
            raise FinesimError(f"{path}:{number}: expected at least 7 tab-separated columns")
        try:
            scores.append(float(cols[4]))
        except ValueError:
            raise FinesimError(f"{path}:{number}: score {cols[4]!r} is not a number") from None
        s1.append(_clean(cols[5], variant))
        s2.append(_clean(cols[6], variant))
    return ScoredPairs("stsb", s1, s2, np.array(scores))


def _sts_files(year: str, subset: str, variant: str) -> tuple[Path, Path]:
    if variant == "senteval":
        folder = data_path("sts", "senteval", f"{year.upper()}-en-test")
        return folder / f"STS.input.{subset}.txt", folder / f"STS.gs.{subset}.txt"
    folder = data_path("sts", "raw", year.upper())
    if year == "sts16":
        return folder / f"STS2016.input.{subset}.txt", folder / f"STS2016.gs.{subset}.txt"
    return folder / f"STS.input.{subset}.txt", folder / f"STS.gs.{subset}.txt"


def load_sts_year(year: str, variant: str = "raw") -> ScoredPairs:
    """All scored pairs of one STS year (12-16), each tagged with its subset."""
    if year not in STS_YEARS:
        raise FinesimError(f"unknown STS task {year!r}; one of {', '.join(TASKS)}")
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    subsets: list[str] = []
    for subset in STS_YEARS[year]:
        inputs, gold = _sts_files(year, subset, variant)
        pairs = _lines(inputs)
        golds = _lines(gold)
        for number, (pair, score) in enumerate(zip(pairs, golds, strict=False), start=1):
            if not score.strip():
                continue  # unscored pair (SentEval keeps raw_scores != '')
            cols = pair.split("\t")
            if len(cols) < 2:
                raise FinesimError(f"{inputs}:{number}: expected two tab-separated sentences")
            s1.append(_clean(cols[0], variant))
            s2.append(_clean(cols[1], variant))
            scores.append(float(score))
            subsets.append(subset)
    return ScoredPairs(year, s1, s2, np.array(scores), subsets)


def load_sick(split: str = "test") -> ScoredPairs:
    """SICK relatedness (1-5); the same original files serve both variants."""
    if split not in SICK_FILES:
        raise FinesimError(f"unknown SICK split {split!r}; one of {', '.join(SICK_FILES)}")
    path = data_path("sick", SICK_FILES[split])
    lines = _lines(path)
    header = lines[0].split("\t")
    try:
        a, b, r = (header.index(c) for c in ("sentence_A", "sentence_B", "relatedness_score"))
    except ValueError:
        raise FinesimError(f"{path}:1: unexpected header {header}") from None
    s1, s2, scores = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        cols = line.split("\t")
        s1.append(cols[a])
        s2.append(cols[b])
        try:
            scores.append(float(cols[r]))
        except (ValueError, IndexError):
            raise FinesimError(f"{path}:{number}: no relatedness score") from None
    return ScoredPairs("sickr", s1, s2, np.array(scores))


def load_task(task: str, split: str = "test", variant: str = "raw") -> ScoredPairs:
    """One of ``TASKS``; STS12-16 exist only as test sets."""
    if task == "stsb":
        return load_stsb(split, variant)
    if task == "sickr":
        return load_sick(split)
    if split != "test":
        raise FinesimError(f"{task} has only a test split")
    return load_sts_year(task, variant)
