"""Adapters that let other evaluation toolkits run a finesim model (MTEB).

Each adapter imports its toolkit only when used, so finesim needs none of them installed.
Exports are imported on first use (``finesim._util.lazy``).
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.integrations.mteb import MTEBEncoder, evaluate_mteb

__getattr__ = lazy(
    __name__,
    {
        "MTEBEncoder": "finesim.integrations.mteb",
        "evaluate_mteb": "finesim.integrations.mteb",
    },
)

__all__ = ["MTEBEncoder", "evaluate_mteb"]
