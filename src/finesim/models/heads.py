"""A linear classifier on embedding features: fitted by scikit-learn, applied by numpy.

Saved as ``head.safetensors`` (weights) and ``head.json`` (classes and whatever the caller
needs to rebuild its features), never pickled, so a saved head loads without running code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem

WEIGHTS, META = "head.safetensors", "head.json"


@dataclass
class LinearHead:
    """``argmax(features @ weight.T + bias)`` over ``classes``; ``meta`` travels with it."""

    classes: list[str]
    weight: np.ndarray  # classes x features
    bias: np.ndarray  # classes
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: Sequence[str],
        *,
        c: float = 4.0,
        max_iter: int = 1000,
        meta: dict[str, Any] | None = None,
    ) -> LinearHead:
        """Multinomial logistic regression (L2 penalty ``1/c``) on ``features``."""
        from sklearn.linear_model import LogisticRegression

        if len(set(labels)) < 2:
            raise FinesimError("training needs at least two different labels")
        model = LogisticRegression(C=c, max_iter=max_iter).fit(features, list(labels))
        weight, bias = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # sklearn keeps one row for two classes
            weight = np.concatenate([np.zeros_like(weight), weight])
            bias = np.concatenate([np.zeros_like(bias), bias])
        return cls(
            [str(c) for c in model.classes_],
            np.ascontiguousarray(weight, dtype=np.float32),
            np.ascontiguousarray(bias, dtype=np.float32),
            dict(meta or {}),
        )

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities, rows x classes."""
        logits = features.astype(np.float32) @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return np.asarray(odds / odds.sum(axis=1, keepdims=True))

    def predict(self, features: np.ndarray) -> list[str]:
        if len(features) == 0:
            return []
        return [self.classes[i] for i in self.scores(features).argmax(axis=1)]

    def save(self, folder: Path, *, overwrite: bool = False) -> Path:
        """Write the folder atomically (a crash leaves the old one or nothing)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        if folder.exists() and not overwrite:
            raise FinesimError(f"{folder} exists; pass --overwrite to replace it")
        if not folder.parent.is_dir():
            raise FinesimError(f"{folder.parent}: no such folder for the output")
        with atomic_path(folder, directory=True) as tmp:
            tensors = {"weight": self.weight, "bias": self.bias}  # sklearn's coef_ is F-ordered
            tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
            save_file(tensors, str(tmp / WEIGHTS))
            meta = {"classes": self.classes, **self.meta}
            (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> LinearHead:
        from safetensors.numpy import load_file

        folder = Path(folder)
        for name in (META, WEIGHTS):
            if not (folder / name).is_file():
                raise FinesimError(f"{folder / name}: missing (not a saved classifier folder)")
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / WEIGHTS))
            weight, bias = tensors["weight"], tensors["bias"]
            classes = [str(c) for c in meta.pop("classes")]
        except (OSError, *JSON_ERRORS, KeyError, TypeError, AttributeError) as e:
            raise FinesimError(f"{folder}: unreadable classifier ({json_problem(e)})") from None
        except Exception as e:  # safetensors raises its own error type for a corrupt file
            raise FinesimError(f"{folder / WEIGHTS}: unreadable weights ({e})") from None
        if weight.shape[0] != len(classes) or bias.shape != (len(classes),):
            raise FinesimError(f"{folder / WEIGHTS}: weights do not match {len(classes)} classes")
        return cls(classes, weight, bias, meta)


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean F1 over the classes that occur in ``gold`` or ``predicted``."""
    classes = sorted(set(gold) | set(predicted))
    f1s = []
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != c and p == c for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def split_by_group(groups: Sequence[str], test_fraction: float, seed: int) -> set[str]:
    """The groups held out for testing: whole groups (papers), never single rows."""
    if not 0 < test_fraction < 1:
        raise FinesimError("--test-fraction must be between 0 and 1")
    unique = sorted(set(groups))
    if len(unique) < 2:
        raise FinesimError("need at least two documents to hold some out for testing")
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = min(max(1, round(len(unique) * test_fraction)), len(unique) - 1)
    return {unique[i] for i in order[:n_test]}
