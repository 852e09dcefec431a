"""finesim: sentence embeddings and fine-grained text similarity.

The public names are imported on first use (PEP 562), so ``import finesim`` and the CLI's
start-up do not pay for torch and transformers until a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from finesim._util.errors import FinesimError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from finesim import losses
    from finesim.evaluation.api import evaluate
    from finesim.models.encoder import Encoder
    from finesim.search import Index
    from finesim.training import train

_LAZY = {
    "Encoder": "finesim.models.encoder",
    "Index": "finesim.search",
    "evaluate": "finesim.evaluation.api",
    "losses": "finesim.losses",
    "train": "finesim.training",
}

__all__ = ["Encoder", "FinesimError", "Index", "__version__", "evaluate", "losses", "train"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'finesim' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if name == "losses" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
