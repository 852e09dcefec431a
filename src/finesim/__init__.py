"""finesim: sentence embeddings and fine-grained text similarity.

The public names are imported on first use (PEP 562), so ``import finesim`` and the CLI's
start-up do not pay for torch and transformers until a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from finesim._util.errors import FinesimError
from finesim._util.version import VERSION

__version__ = VERSION

if TYPE_CHECKING:
    from finesim import losses
    from finesim.data.documents import Document
    from finesim.evaluation.api import evaluate
    from finesim.fusion.preset import Preset
    from finesim.models.cross_encoder import CrossEncoder
    from finesim.models.encoder import Encoder
    from finesim.models.spec import EncoderSpec
    from finesim.search import HybridSearcher, Index
    from finesim.training import train

_LAZY = {
    "CrossEncoder": "finesim.models.cross_encoder",
    "Document": "finesim.data.documents",
    "Encoder": "finesim.models.encoder",
    "EncoderSpec": "finesim.models.spec",
    "HybridSearcher": "finesim.search",
    "Index": "finesim.search",
    "Preset": "finesim.fusion.preset",
    "evaluate": "finesim.evaluation.api",
    "losses": "finesim.losses",
    "train": "finesim.training",
}

__all__ = [
    "CrossEncoder",
    "Document",
    "Encoder",
    "EncoderSpec",
    "FinesimError",
    "HybridSearcher",
    "Index",
    "Preset",
    "__version__",
    "evaluate",
    "losses",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'finesim' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if name == "losses" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
