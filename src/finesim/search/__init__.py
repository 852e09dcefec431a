"""Faceted search over sentence vectors: a faiss index, two-stage search, explanations.

Exports are imported on first use (``finesim._util.lazy``): importing a submodule stays cheap.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.search.index import SCORINGS, Hit, Index, Pair

__getattr__ = lazy(
    __name__,
    {
        "SCORINGS": "finesim.search.index",
        "Hit": "finesim.search.index",
        "Index": "finesim.search.index",
        "Pair": "finesim.search.index",
    },
)

__all__ = ["Hit", "Index", "Pair", "SCORINGS"]
