"""Multi-vector document similarity: a document is a set of sentence vectors with facets.

Exports are imported on first use (``finesim._util.lazy``): importing a submodule stays cheap.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.docsim.docs import FACETS, Doc, facet_of
    from finesim.docsim.scoring import SCORERS, Match, score_candidates

__getattr__ = lazy(
    __name__,
    {
        "FACETS": "finesim.docsim.docs",
        "Doc": "finesim.docsim.docs",
        "facet_of": "finesim.docsim.docs",
        "SCORERS": "finesim.docsim.scoring",
        "Match": "finesim.docsim.scoring",
        "score_candidates": "finesim.docsim.scoring",
    },
)

__all__ = ["Doc", "FACETS", "Match", "SCORERS", "facet_of", "score_candidates"]
