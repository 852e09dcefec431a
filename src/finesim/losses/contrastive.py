"""InfoNCE / multiple-negatives ranking: SimCSE (unsupervised and supervised) and Aspire.

Row i of ``anchors`` should be closest to row i of ``positives`` among all positives in the
batch (and, under DDP, in every process's batch), plus optional hard negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from finesim.losses.similarity import cosine_matrix, gather, rank_offset


def info_nce(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor | None = None,
    temperature: float = 0.05,
    symmetric: bool = False,
) -> torch.Tensor:
    """Cross-entropy over cosine similarities / temperature, in-batch negatives.

    SimCSE unsupervised: anchors and positives are the same sentences encoded twice with
    dropout on. SimCSE supervised: positives are entailments, ``negatives`` contradictions.
    ``symmetric`` adds the positive-to-anchor direction.
    """
    all_positives = gather(positives)
    candidates = all_positives
    if negatives is not None:
        candidates = torch.cat([all_positives, gather(negatives)], dim=0)
    logits = cosine_matrix(anchors, candidates) / temperature
    labels = torch.arange(len(anchors), device=anchors.device) + rank_offset(len(anchors))
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        back = cosine_matrix(positives, gather(anchors)) / temperature
        loss = (loss + F.cross_entropy(back, labels)) / 2
    return loss


class InfoNCELoss(nn.Module):
    """InfoNCE over columns ``anchor``, ``positive`` and optionally ``negative``.

    ``head="mlp"`` puts SimCSE's training-only MLP (dense + tanh) over the sentence vectors;
    it is used in the loss only and never saved with the encoder.
    """

    columns = ("anchor", "positive", "negative")

    def __init__(
        self,
        dim: int,
        temperature: float = 0.05,
        symmetric: bool = False,
        head: str | None = None,
    ) -> None:
        super().__init__()
        self.temperature, self.symmetric = temperature, symmetric
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.Tanh()) if head == "mlp" else None

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        def h(x: torch.Tensor) -> torch.Tensor:
            return self.head(x) if self.head is not None else x

        negative = embeddings.get("negative")
        return info_nce(
            h(embeddings["anchor"]),
            h(embeddings["positive"]),
            None if negative is None else h(negative),
            self.temperature,
            self.symmetric,
        )
