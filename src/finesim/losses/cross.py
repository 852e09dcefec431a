"""Cross-encoder objectives, each a small module over the logits of scored pairs.

A cross-encoder scores a pair in one forward pass, so a loss does two things: ``pairs`` says
which (query, text) pairs a batch's columns make, row by row (every pair of a row together),
and ``forward`` turns their logits, shaped (rows, logits per row), into a number. The trainer
scores the pairs in between (``CrossEncoder.logits``, one pass). The semantics are those of
sentence-transformers 6.2's ``cross_encoder.losses`` of the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Pair = tuple[str, str]
Texts = Mapping[str, Sequence[str]]

_ACTIVATIONS = {"identity": lambda x: x, "sigmoid": torch.sigmoid}


def _activation(name: str | None) -> str:
    name = "identity" if name is None else name
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation {name!r}: use identity or sigmoid")
    return name


def _pairs(texts: Texts) -> list[Pair]:
    return list(zip(texts["anchor"], texts["positive"], strict=True))


def _needs(labels: torch.Tensor | None, what: str) -> torch.Tensor:
    if labels is None:
        raise ValueError(f"{what} needs a label per pair")
    return labels.view(-1).float()


class BinaryCrossEntropyLoss(nn.Module):
    """Binary cross-entropy with logits of a one-logit head: relevance labels (0/1) or scores
    in [0, 1] as the target. ``max_score`` divides the labels first (5 for STS-B's 0-5 gold:
    sentence-transformers' STS-B example trains on its data set's gold / 5 this way, and
    predicts with a sigmoid). ``pos_weight`` weighs the positive term (rare positives)."""

    num_labels = 1
    columns = ("anchor", "positive")
    labelled = True  # a label per pair

    def __init__(self, max_score: float = 1.0, pos_weight: float | None = None) -> None:
        super().__init__()
        if max_score <= 0:
            raise ValueError("max_score must be > 0")
        self.max_score = float(max_score)
        self.pos_weight = pos_weight

    def pairs(self, texts: Texts) -> list[Pair]:
        return _pairs(texts)

    def label_range(self) -> tuple[float, float]:
        """The labels the data may hold (checked once, before training)."""
        return 0.0, self.max_score

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        target = _needs(labels, "BinaryCrossEntropyLoss") / self.max_score
        weight = None
        if self.pos_weight is not None:
            weight = torch.tensor(self.pos_weight, device=logits.device, dtype=logits.dtype)
        return F.binary_cross_entropy_with_logits(
            logits.view(-1), target.to(logits.dtype), pos_weight=weight
        )


class MSELoss(nn.Module):
    """Regression: mean squared error between the (activated) logit and label / ``max_score``
    (``activation`` sigmoid keeps predictions in [0, 1]; identity regresses the raw logit)."""

    num_labels = 1
    columns = ("anchor", "positive")
    labelled = True

    def __init__(self, max_score: float = 1.0, activation: str | None = "identity") -> None:
        super().__init__()
        if max_score <= 0:
            raise ValueError("max_score must be > 0")
        self.max_score = float(max_score)
        self.activation = _activation(activation)

    def pairs(self, texts: Texts) -> list[Pair]:
        return _pairs(texts)

    def label_range(self) -> tuple[float, float] | None:
        return (0.0, self.max_score) if self.activation == "sigmoid" else None

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        target = _needs(labels, "MSELoss") / self.max_score
        predicted = _ACTIVATIONS[self.activation](logits.view(-1))
        return F.mse_loss(predicted, target.to(predicted.dtype))


class CrossEntropyLoss(nn.Module):
    """Softmax over ``num_labels`` logits against class ids 0..num_labels-1 (NLI: 3)."""

    columns = ("anchor", "positive")
    labelled = True

    def __init__(self, num_labels: int = 3) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError("num_labels must be 2 or more")
        self.num_labels = int(num_labels)

    def pairs(self, texts: Texts) -> list[Pair]:
        return _pairs(texts)

    def label_range(self) -> tuple[float, float]:
        return 0.0, float(self.num_labels - 1)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        target = _needs(labels, "CrossEntropyLoss").long()
        return F.cross_entropy(logits.view(len(target), self.num_labels), target)


class MultipleNegativesRankingLoss(nn.Module):
    """Each query against its positive, ``num_negatives`` texts of other rows (drawn at random
    from their positives and hard negatives, without replacement; all of them when None or
    when there are fewer) and its own hard negatives (columns after ``positive``):
    cross-entropy with the positive as the answer, over activated scores times ``scale``
    (sigmoid, 10: sentence-transformers' defaults). Draws use torch's global generator, which
    the trainer seeds and saves in checkpoints, so a resumed run draws what it would have."""

    num_labels = 1
    columns = ("anchor", "positive")  # and any hard-negative columns
    labelled = False

    def __init__(
        self, num_negatives: int | None = 4, scale: float = 10.0, activation: str | None = "sigmoid"
    ) -> None:
        super().__init__()
        if num_negatives is not None and num_negatives < 0:
            raise ValueError("num_negatives must be >= 0 (or null: every other row's texts)")
        self.num_negatives = num_negatives
        self.scale = float(scale)
        self.activation = _activation(activation)

    def candidates(self, texts: Texts) -> list[Sequence[str]]:
        """The candidate columns: the positive, then every hard-negative column."""
        hard = sorted(k for k in texts if k not in ("anchor", "positive"))
        return [texts["positive"], *(texts[k] for k in hard)]

    def negative_indices(self, rows: int, columns: int) -> torch.Tensor:
        """For each row, indices into the candidate columns laid end to end (column-major)
        of its in-batch negatives: any other row's candidates, never its own."""
        others = ~torch.eye(rows, dtype=torch.bool).repeat(1, columns)
        available = rows * columns - columns
        if self.num_negatives == 0:
            return torch.empty(rows, 0, dtype=torch.long)
        if self.num_negatives is not None and self.num_negatives < available:
            return torch.multinomial(others.float(), self.num_negatives)
        return torch.arange(rows * columns).repeat(rows, 1)[others].view(rows, -1)

    def pairs(self, texts: Texts) -> list[Pair]:
        queries = list(texts["anchor"])
        columns = self.candidates(texts)
        flat = [text for column in columns for text in column]
        drawn = self.negative_indices(len(queries), len(columns))
        out: list[Pair] = []
        for row, query in enumerate(queries):
            out.append((query, columns[0][row]))
            out.extend((query, flat[int(i)]) for i in drawn[row])
            out.extend((query, column[row]) for column in columns[1:])
        return out

    def label_range(self) -> None:
        return None

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        scores = _ACTIVATIONS[self.activation](logits) * self.scale
        target = torch.zeros(len(scores), dtype=torch.long, device=scores.device)
        return F.cross_entropy(scores, target)


CROSS_LOSSES: dict[str, type[nn.Module]] = {
    "bce": BinaryCrossEntropyLoss,
    "mse": MSELoss,
    "cross-entropy": CrossEntropyLoss,
    "multiple-negatives": MultipleNegativesRankingLoss,
}
