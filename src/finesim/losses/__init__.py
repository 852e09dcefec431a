"""Training objectives, each a small module over sentence embeddings.

A loss takes ``{column: embeddings}`` (columns ``anchor``, ``positive``, ``negative``) and
optional ``labels`` (scores, or class ids for the losses of ``classes``);
``backward``/``cached_backward`` run one step for any of them. Cross-encoders have their own
(``CROSS_LOSSES``, ``losses.cross``): over the logits of scored pairs, not embeddings.
"""

from finesim.losses.cached import backward, cached_backward, embed
from finesim.losses.classes import BatchAllTripletLoss, BatchHardTripletLoss, CenterLoss
from finesim.losses.contrastive import InfoNCELoss, info_nce
from finesim.losses.cross import CROSS_LOSSES
from finesim.losses.matryoshka import MatryoshkaLoss
from finesim.losses.pairwise import CoSENTLoss, CosineRegressionLoss, SoftmaxLoss, TripletLoss
from finesim.losses.similarity import cosine_matrix, gather

LOSSES = {
    "softmax": SoftmaxLoss,
    "cosine": CosineRegressionLoss,
    "triplet": TripletLoss,
    "infonce": InfoNCELoss,
    "cosent": CoSENTLoss,
    "center": CenterLoss,
    "batch-hard-triplet": BatchHardTripletLoss,
    "batch-all-triplet": BatchAllTripletLoss,
}

__all__ = [
    "CROSS_LOSSES",
    "LOSSES",
    "BatchAllTripletLoss",
    "BatchHardTripletLoss",
    "CenterLoss",
    "CoSENTLoss",
    "CosineRegressionLoss",
    "InfoNCELoss",
    "MatryoshkaLoss",
    "SoftmaxLoss",
    "TripletLoss",
    "backward",
    "cached_backward",
    "cosine_matrix",
    "embed",
    "gather",
    "info_nce",
]
