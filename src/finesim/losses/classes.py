"""Objectives over single texts with class labels: center loss and batch triplet losses.

SimCSE's applications setting (and SBERT's ``BatchHard*`` losses) train an encoder so that
texts of one class lie close together. Each loss reads the ``anchor`` column (one text per
example) and integer class ids in ``labels``, ``0 .. classes - 1``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from finesim._util.errors import FinesimError
from finesim.losses.similarity import cosine_matrix, distributed

DISTANCES = ("euclidean", "cosine")


def class_ids(labels: torch.Tensor | None, rows: int, num_classes: int = 0) -> torch.Tensor:
    """``labels`` as int64 class ids, refused unless whole numbers in ``[0, num_classes)``
    (no upper bound when ``num_classes`` is 0): a fractional or negative id is a data bug."""
    if labels is None:
        raise FinesimError("a class loss needs class labels (data format: classes)")
    if labels.ndim != 1 or len(labels) != rows:
        raise FinesimError(f"labels: expected {rows} class ids, got shape {tuple(labels.shape)}")
    ids = labels.long()
    if not torch.equal(ids.to(labels.dtype), labels):
        raise FinesimError("labels: class ids must be whole numbers")
    if len(ids) and (ids.min() < 0 or (num_classes and ids.max() >= num_classes)):
        bound = f"0..{num_classes - 1}" if num_classes else "0 or more"
        raise FinesimError(f"labels: class ids must be {bound}, got {ids.tolist()}")
    return ids


def distance_matrix(x: torch.Tensor, distance: str = "euclidean") -> torch.Tensor:
    """All-pairs distances as sentence-transformers' ``BatchHardTripletLossDistanceFunction``:
    euclidean via ``|a|^2 - 2ab + |b|^2`` (zero where it rounds below zero, with a gradient of
    zero there instead of sqrt's infinite one), or ``1 - cosine``."""
    if distance == "cosine":
        return 1 - cosine_matrix(x, x)
    square = (x * x).sum(dim=1)
    d = (square[None, :] - 2.0 * (x @ x.T) + square[:, None]).clamp(min=0)
    zero = d.eq(0).to(d.dtype)
    return (1.0 - zero) * torch.sqrt(d + zero * 1e-16)


class _TripletBase(nn.Module):
    columns = ("anchor",)

    def __init__(self, distance: str = "euclidean", margin: float = 5.0) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise FinesimError(f"distance must be one of {', '.join(DISTANCES)}, not {distance!r}")
        self.distance, self.margin = distance, margin

    def _prepare(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distances, the same-class mask (diagonal included) and the anchor-positive mask."""
        x = embeddings["anchor"]
        y = class_ids(labels, len(x))
        same = y[:, None] == y[None, :]
        positive = same & ~torch.eye(len(y), dtype=torch.bool, device=y.device)
        return distance_matrix(x, self.distance), same, positive


class BatchHardTripletLoss(_TripletBase):
    """For each text, its farthest same-class text against its nearest other-class text:
    mean over anchors of ``max(d(a, p_hardest) - d(a, n_hardest) + margin, 0)`` (Hermans et
    al. 2017). Defaults as sentence-transformers' ``BatchHardTripletLoss``: euclidean
    distance, margin 5; an anchor alone in its class counts with a positive distance of 0.
    Triplets are mined within each process's batch.
    """

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        d, same, positive = self._prepare(embeddings, labels)
        hardest_positive = (d * positive).max(dim=1).values
        # same-class entries pushed above every negative, so that min finds the nearest one
        farthest = d.max(dim=1, keepdim=True).values
        hardest_negative = (d + farthest * same).min(dim=1).values
        return F.relu(hardest_positive - hardest_negative + self.margin).mean()


class BatchAllTripletLoss(_TripletBase):
    """Every valid triplet of the batch (a, p same class, a != p; n another class):
    ``max(d(a, p) - d(a, n) + margin, 0)`` summed and divided by the number of triplets still
    above zero, as sentence-transformers' ``BatchAllTripletLoss`` (euclidean, margin 5).
    Memory grows as batch^3 (512 texts: 134 million entries).
    """

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        d, same, positive = self._prepare(embeddings, labels)
        valid = positive[:, :, None] & ~same[:, None, :]
        triplets = F.relu((d[:, :, None] - d[:, None, :] + self.margin) * valid)
        active = (triplets > 1e-16).sum()
        return triplets.sum() / (active + 1e-16)


class CenterLoss(nn.Module):
    """Wen et al. (2016): softmax cross-entropy over a linear classifier plus
    ``center_weight / 2 * mean_i |x_i - c_{y_i}|^2``, the squared distance of each text's
    vector to its class centre.

    The centres are not trained by the optimizer (at an encoder's learning rate they would
    hardly move) but updated after each step by the paper's rule,
    ``c_j -= alpha * sum_{y_i = j} (c_j - x_i) / (1 + n_j)``, from zero; under DDP with every
    process's texts. ``num_classes`` comes from the data (the trainer passes it);
    ``center_weight`` 0.01 and ``alpha`` 0.5 are the paper's settings for its MNIST example.
    """

    columns = ("anchor",)

    def __init__(
        self, dim: int, num_classes: int, center_weight: float = 0.01, alpha: float = 0.5
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise FinesimError(f"center loss needs at least two classes, got {num_classes}")
        if not 0 < alpha <= 1:
            raise FinesimError(f"center loss: alpha must be in (0, 1], not {alpha}")
        self.num_classes, self.center_weight, self.alpha = num_classes, center_weight, alpha
        self.classifier = nn.Linear(dim, num_classes)
        self.centers: torch.Tensor
        self.register_buffer("centers", torch.zeros(num_classes, dim))

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = embeddings["anchor"]
        y = class_ids(labels, len(x), self.num_classes)
        cross_entropy = F.cross_entropy(self.classifier(x), y)
        center = 0.5 * (x - self.centers[y].to(x.dtype)).pow(2).sum(dim=1).mean()
        if self.training:
            self.update_centers(x.detach(), y)
        return cross_entropy + self.center_weight * center

    @torch.no_grad()
    def update_centers(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One step of the paper's update; after the loss, which used the old centres."""
        x = x.to(self.centers.dtype)
        counts = torch.bincount(y, minlength=self.num_classes).to(x.dtype)
        sums = torch.zeros_like(self.centers).index_add_(0, y, x)
        if distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        delta = (counts[:, None] * self.centers - sums) / (1 + counts[:, None])
        self.centers -= self.alpha * delta
