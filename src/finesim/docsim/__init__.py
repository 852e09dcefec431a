"""Multi-vector document similarity: a document is a set of sentence vectors with facets."""

from finesim.docsim.docs import FACETS, Doc, facet_of
from finesim.docsim.scoring import SCORERS, Match, score_candidates

__all__ = ["FACETS", "SCORERS", "Doc", "Match", "facet_of", "score_candidates"]
