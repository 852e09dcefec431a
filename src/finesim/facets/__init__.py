"""Facet tagging of abstract sentences (background, method, result, other).

Exports are imported on first use (``finesim._util.lazy``): importing a submodule stays cheap.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.facets.tagger import CLASSES, FacetTagger

__getattr__ = lazy(
    __name__, {"CLASSES": "finesim.facets.tagger", "FacetTagger": "finesim.facets.tagger"}
)

__all__ = ["CLASSES", "FacetTagger"]
