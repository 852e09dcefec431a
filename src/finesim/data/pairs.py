"""Training examples: pairs, triples, scored or labelled pairs, plain sentences, co-citations.

An example maps roles (``anchor``, ``positive``, ``negative``) to texts, plus an optional
label (a class for softmax, a score for regression). Files are .jsonl/.csv/.tsv with named
columns; built-in sources read the shared data folder. A bad row is reported as file:line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from finesim._util.errors import FinesimError
from finesim.data.example import Example
from finesim.data.paths import data_path
from finesim.data.texts import read_lines, read_records

NLI_LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}

# format -> file column for each role (and the label column)
FORMATS: dict[str, dict[str, str]] = {
    "pairs": {"anchor": "anchor", "positive": "positive"},
    "triples": {"anchor": "anchor", "positive": "positive", "negative": "negative"},
    "scored": {"anchor": "sentence1", "positive": "sentence2", "label": "score"},
    "labelled": {"anchor": "sentence1", "positive": "sentence2", "label": "label"},
    "cocite": {"anchor": "a", "positive": "b"},
    "text": {},
    "classes": {"anchor": "text", "label": "label"},  # finesim.data.classes
}


def _label(value: object, where: str, fmt: str) -> float:
    if fmt == "labelled" and isinstance(value, str) and value.strip().lower() in NLI_LABELS:
        return float(NLI_LABELS[value.strip().lower()])
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FinesimError(f"{where}: label {value!r} is not a number") from None


def read_file(path: Path, fmt: str, columns: Mapping[str, str] | None = None) -> list[Example]:
    """Examples from a file; ``columns`` renames the default column of a role."""
    if fmt not in FORMATS:
        raise FinesimError(f"unknown data format {fmt!r}; one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise FinesimError(f"{path}: no such file")
    if fmt == "text":
        return read_sentences(path)
    if fmt == "classes":  # text, label rows; the trainer reads the vocabulary there too
        from finesim.data.classes import read_class_examples

        return read_class_examples(path, columns)[0]
    mapping = {**FORMATS[fmt], **(columns or {})}
    examples = []
    for where, record in read_records(path, list(mapping.values())):
        texts = {}
        for role, column in mapping.items():
            if role == "label":
                continue
            value = record[column]
            if not isinstance(value, str) or not value.strip():
                raise FinesimError(f"{where}: field {column!r} must be a non-empty string")
            texts[role] = value
        label = _label(record[mapping["label"]], where, fmt) if "label" in mapping else None
        examples.append(Example(texts, label, where))
    if not examples:
        raise FinesimError(f"{path}: no examples")
    return examples


def read_sentences(path: Path) -> list[Example]:
    """One sentence a line, used twice (unsupervised SimCSE: dropout is the only noise)."""
    examples = []
    for number, line in read_lines(path):
        text = line.strip()
        if text:
            examples.append(Example({"anchor": text, "positive": text}, None, f"{path}:{number}"))
    if not examples:
        raise FinesimError(f"{path}: no sentences")
    return examples


def nli_triples() -> list[Example]:
    """(premise, entailment, contradiction) from the shared SNLI-derived triples."""
    path = data_path("nli", "snli_devtest_simcse_triples.csv")
    columns = {"anchor": "sent0", "positive": "sent1", "negative": "hard_neg"}
    return read_file(path, "triples", columns)


def nli_labelled(split: str = "dev") -> list[Example]:
    """SNLI (premise, hypothesis, label) pairs, SentEval format (SBERT's softmax objective)."""
    folder = data_path("nli", "snli-senteval")
    s1 = [line.strip() for _, line in read_lines(folder / f"s1.{split}")]
    s2 = [line.strip() for _, line in read_lines(folder / f"s2.{split}")]
    labels = [line.strip() for _, line in read_lines(folder / f"labels.{split}")]
    examples = []
    for i, (a, b, lab) in enumerate(zip(s1, s2, labels, strict=False), start=1):
        if lab not in NLI_LABELS:
            if not lab:
                continue
            raise FinesimError(f"{folder / f'labels.{split}'}:{i}: unknown label {lab!r}")
        examples.append(Example({"anchor": a, "positive": b}, float(NLI_LABELS[lab])))
    return examples


def sts_scored(task: str = "stsb", split: str = "train") -> list[Example]:
    """STS-B or SICK pairs with their gold score (0-5 / 1-5)."""
    from finesim.data.sts import load_task

    pairs = load_task(task, split)
    return [
        Example({"anchor": a, "positive": b}, float(s))
        for a, b, s in zip(pairs.sentences1, pairs.sentences2, pairs.scores, strict=True)
    ]


BUILTIN = {
    "snli-triples": nli_triples,
    "snli-labelled": lambda: nli_labelled("dev") + nli_labelled("test"),
    "snli-dev": lambda: nli_labelled("dev"),  # cross-nli: SNLI test stays unseen
    "stsb-train": lambda: sts_scored("stsb", "train"),
    "sick-train": lambda: sts_scored("sickr", "train"),
}

# The files under the data root that each built-in source reads (model cards hash them).
BUILTIN_FILES = {
    "snli-triples": ("nli/snli_devtest_simcse_triples.csv",),
    "snli-labelled": tuple(
        f"nli/snli-senteval/{part}.{split}"
        for split in ("dev", "test")
        for part in ("s1", "s2", "labels")
    ),
    "snli-dev": tuple(f"nli/snli-senteval/{part}.dev" for part in ("s1", "s2", "labels")),
    "stsb-train": ("sts/raw/STSBenchmark/sts-train.csv",),
    "sick-train": ("sick/SICK_train.txt",),
}


def load_examples(spec: str, fmt: str, columns: Mapping[str, str] | None = None) -> list[Example]:
    """A built-in source name (``snli-triples``, ``snli-labelled``, ``snli-dev``,
    ``stsb-train``, ``sick-train``) or a file path read as ``fmt``."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    return read_file(Path(spec), fmt, columns)
