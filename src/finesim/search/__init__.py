"""Faceted search over sentence vectors: a faiss index, two-stage search, explanations, and
hybrid search as a layer over the index.

Exports are imported on first use (``finesim._util.lazy``): importing a submodule stays cheap.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.search.hits import Hit, Pair
    from finesim.search.hybrid import HYBRID, HybridSearcher
    from finesim.search.index import SCORINGS, Index
    from finesim.search.query import SearchQuery

__getattr__ = lazy(
    __name__,
    {
        "HYBRID": "finesim.search.hybrid",
        "Hit": "finesim.search.hits",
        "HybridSearcher": "finesim.search.hybrid",
        "Index": "finesim.search.index",
        "Pair": "finesim.search.hits",
        "SCORINGS": "finesim.search.index",
        "SearchQuery": "finesim.search.query",
    },
)

__all__ = ["HYBRID", "SCORINGS", "Hit", "HybridSearcher", "Index", "Pair", "SearchQuery"]
