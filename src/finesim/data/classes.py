"""Texts with class labels (``text,label`` rows), as ``finesim classify train`` reads them.

The same file trains a classifier head on frozen vectors and, as training format
``classes``, the encoder itself (one text per example, the label's id as its label). The
label vocabulary (sorted label names; a name's position is its id) is saved beside a trained
model as ``classes.json``, so a classifier fitted later can check that it names the same
classes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS
from finesim.data.example import Example
from finesim.data.texts import TextFile

CLASSES_FILE = "classes.json"


@dataclass(frozen=True)
class LabelledTexts:
    """Texts and their labels (as written in the file), row for row."""

    texts: list[str]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        """The label vocabulary: every label once, sorted, so ids do not depend on row order."""
        return sorted(set(self.labels))

    def examples(self, classes: Sequence[str] | None = None) -> list[Example]:
        """Training examples ``{"anchor": text}`` labelled with the id of their class in
        ``classes`` (default: this data's own vocabulary)."""
        ids = {name: i for i, name in enumerate(classes or self.classes)}
        missing = sorted(set(self.labels) - set(ids))
        if missing:
            raise FinesimError(f"labels {missing[:5]} are not in the class vocabulary")
        return [
            Example({"anchor": t}, float(ids[label]))
            for t, label in zip(self.texts, self.labels, strict=True)
        ]


def read_labelled(
    path: Path, text_field: str = "text", label_field: str = "label"
) -> LabelledTexts:
    """``text_field`` and ``label_field`` of every row of a .csv/.tsv/.jsonl/.parquet file;
    a row without either, or with an empty one, is an error naming its line."""
    texts = [t for _, t in TextFile(path, field=text_field)]
    labels = [label for _, label in TextFile(path, field=label_field)]
    if not texts:
        raise FinesimError(f"{path}: no labelled texts")
    return LabelledTexts(texts, labels)


def read_class_examples(
    path: Path, columns: Mapping[str, str] | None = None
) -> tuple[list[Example], list[str]]:
    """Training format ``classes``: examples and the vocabulary; ``columns`` may rename the
    ``text`` and ``label`` columns (``{text: sentence, label: topic}``)."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - {"text", "anchor", "label"})
    if unknown:
        raise FinesimError(f"columns: format classes has roles text and label, not {unknown}")
    text_field = columns.get("text", columns.get("anchor", "text"))
    data = read_labelled(path, text_field, columns.get("label", "label"))
    if len(data.classes) < 2:
        raise FinesimError(f"{path}: training on classes needs at least two different labels")
    return data.examples(), data.classes


def save_classes(folder: Path, classes: Sequence[str]) -> None:
    """Write the vocabulary into a model folder (atomically)."""
    with atomic_path(folder / CLASSES_FILE) as tmp:
        tmp.write_text(json.dumps({"classes": list(classes)}, indent=2) + "\n", encoding="utf-8")


def load_classes(folder: Path) -> list[str] | None:
    """The vocabulary saved with a model, or None when the folder has none."""
    path = Path(folder) / CLASSES_FILE
    if not path.is_file():
        return None
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))["classes"]
    except (OSError, *JSON_ERRORS, KeyError, TypeError) as e:
        raise FinesimError(f"{path}: unreadable class vocabulary ({e})") from None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise FinesimError(f"{path}: 'classes' must be a list of label names")
    return classes
