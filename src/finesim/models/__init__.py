"""Encoders: loading, pooling, sentence-transformers folder I/O.

Exports are imported on first use (``finesim._util.lazy``): importing a submodule stays cheap.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.models.cross_encoder import CrossEncoder
    from finesim.models.encoder import Encoder, EncodeStats
    from finesim.models.pooling import POOLING_MODES

__getattr__ = lazy(
    __name__,
    {
        "CrossEncoder": "finesim.models.cross_encoder",
        "EncodeStats": "finesim.models.encoder",
        "Encoder": "finesim.models.encoder",
        "POOLING_MODES": "finesim.models.pooling",
    },
)

__all__ = ["CrossEncoder", "EncodeStats", "Encoder", "POOLING_MODES"]
