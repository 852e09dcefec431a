"""What training a static model (``StaticEmbedding``: a table of token vectors) cannot do.

Why: the losses, recipes and the loop train a static model's table as they train a
transformer, but a table has no dropout, so unsupervised SimCSE (each sentence against
itself, dropout the only noise) would see two identical vectors and learn nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from finesim._util.errors import FinesimError
from finesim.data.example import Example
from finesim.models.encoder import Encoder
from finesim.models.towers import TransformerTower


def has_dropout(encoder: Encoder) -> bool:
    """Whether any route of ``encoder`` runs a transformer (the only part with dropout)."""
    return any(isinstance(route.tower, TransformerTower) for route in encoder.routes.values())


def refuse_unsupervised_simcse(encoder: Encoder, data: Sequence[Example], fmt: str) -> None:
    """A one-line error when ``data`` pairs each sentence with itself and ``encoder`` has no
    dropout to make the two views differ."""
    if has_dropout(encoder) or not data:
        return
    if fmt == "text" or all(e.texts.get("anchor") == e.texts.get("positive") for e in data):
        raise FinesimError(
            f"{encoder.source}: a StaticEmbedding model has no dropout, so unsupervised SimCSE "
            "(each sentence against itself) cannot train it; use pairs or triples "
            "(e.g. --recipe simcse-sup or sbert-sts)"
        )
