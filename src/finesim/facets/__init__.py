"""Facet tagging of abstract sentences (background, method, result, other)."""

from finesim.facets.tagger import CLASSES, FacetTagger

__all__ = ["CLASSES", "FacetTagger"]
