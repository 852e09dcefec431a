"""Sentence-BERT's objectives on pairs and triples, and CoSENT.

Each is a small module over embeddings: ``loss(embeddings_by_column, labels)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SoftmaxLoss(nn.Module):
    """SBERT's NLI objective: a linear classifier on concat(u, v, |u - v| [, u * v])."""

    columns = ("anchor", "positive")

    def __init__(self, dim: int, num_labels: int = 3, with_product: bool = False) -> None:
        super().__init__()
        self.with_product = with_product
        self.classifier = nn.Linear(dim * (4 if with_product else 3), num_labels)

    def logits(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        parts = [u, v, (u - v).abs()] + ([u * v] if self.with_product else [])
        return self.classifier(torch.cat(parts, dim=-1))

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if labels is None:
            raise ValueError("SoftmaxLoss needs integer class labels")
        return F.cross_entropy(
            self.logits(embeddings["anchor"], embeddings["positive"]), labels.long()
        )


class CosineRegressionLoss(nn.Module):
    """MSE between cos(u, v) and the gold score scaled to [0, 1] (SBERT on STS)."""

    columns = ("anchor", "positive")

    def __init__(self, max_score: float = 5.0) -> None:
        super().__init__()
        self.max_score = max_score

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if labels is None:
            raise ValueError("CosineRegressionLoss needs gold scores")
        cos = F.cosine_similarity(embeddings["anchor"], embeddings["positive"])
        return F.mse_loss(cos, labels.to(cos.dtype) / self.max_score)


class TripletLoss(nn.Module):
    """max(d(a, p) - d(a, n) + margin, 0), euclidean (SBERT, margin 1) or cosine distance."""

    columns = ("anchor", "positive", "negative")

    def __init__(self, distance: str = "euclidean", margin: float = 1.0) -> None:
        super().__init__()
        if distance not in ("euclidean", "cosine"):
            raise ValueError("distance must be euclidean or cosine")
        self.distance, self.margin = distance, margin

    def _d(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.distance == "cosine":
            return 1 - F.cosine_similarity(x, y)
        return F.pairwise_distance(x, y, p=2, eps=0.0)

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        a, p, n = embeddings["anchor"], embeddings["positive"], embeddings["negative"]
        return F.relu(self._d(a, p) - self._d(a, n) + self.margin).mean()


class CoSENTLoss(nn.Module):
    """CoSENT: log(1 + sum over pairs (i, j) with gold_i > gold_j of exp(s(cos_j - cos_i)))."""

    columns = ("anchor", "positive")

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if labels is None:
            raise ValueError("CoSENTLoss needs gold scores")
        cos = F.cosine_similarity(embeddings["anchor"], embeddings["positive"]) * self.scale
        diff = cos[None, :] - cos[:, None]  # diff[i, j] = cos_j - cos_i
        worse = labels[:, None] > labels[None, :]  # gold_i > gold_j
        diff = diff - (~worse).to(diff.dtype) * 1e12
        zero = torch.zeros(1, dtype=diff.dtype, device=diff.device)
        return torch.logsumexp(torch.cat([zero, diff.flatten()]), dim=0)
