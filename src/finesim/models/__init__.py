"""Encoders: loading, pooling, sentence-transformers folder I/O."""

from finesim.models.encoder import Encoder, EncodeStats
from finesim.models.pooling import POOLING_MODES

__all__ = ["POOLING_MODES", "EncodeStats", "Encoder"]
