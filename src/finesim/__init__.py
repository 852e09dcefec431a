"""finesim: sentence embeddings and fine-grained text similarity."""

__version__ = "0.1.0"

from finesim import losses  # noqa: E402
from finesim.errors import FinesimError  # noqa: E402
from finesim.evaluation.api import evaluate  # noqa: E402
from finesim.models.encoder import Encoder  # noqa: E402
from finesim.search import Index  # noqa: E402
from finesim.training import train  # noqa: E402

__all__ = ["Encoder", "FinesimError", "Index", "__version__", "evaluate", "losses", "train"]
