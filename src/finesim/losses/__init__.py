"""Training objectives, each a small module over sentence embeddings.

A loss takes ``{column: embeddings}`` (columns ``anchor``, ``positive``, ``negative``) and
optional ``labels``; ``backward``/``cached_backward`` run one step for any of them.
"""

from finesim.losses.cached import backward, cached_backward, embed
from finesim.losses.contrastive import InfoNCELoss, info_nce
from finesim.losses.pairwise import CoSENTLoss, CosineRegressionLoss, SoftmaxLoss, TripletLoss
from finesim.losses.similarity import cosine_matrix, gather

LOSSES = {
    "softmax": SoftmaxLoss,
    "cosine": CosineRegressionLoss,
    "triplet": TripletLoss,
    "infonce": InfoNCELoss,
    "cosent": CoSENTLoss,
}

__all__ = [
    "LOSSES",
    "CoSENTLoss",
    "CosineRegressionLoss",
    "InfoNCELoss",
    "SoftmaxLoss",
    "TripletLoss",
    "backward",
    "cached_backward",
    "cosine_matrix",
    "embed",
    "gather",
    "info_nce",
]
