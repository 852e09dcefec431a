"""Hybrid fusion: presets, every hybrid term's definition and computation, fusion, the
learned fit and cross-validation on dev queries.

Search, CSFCube and BEIR only supply queries and candidates (``Query``, ``Candidates``);
what a term means is decided here, once. Exports are imported on first use.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.fusion.fuse import fuse, hybrid_scores
    from finesim.fusion.preset import (
        Preset,
        explaining_term,
        load_preset,
        preset_names,
        shipped_preset,
    )
    from finesim.fusion.terms import (
        ALL_TERMS,
        RERANK,
        TERMS,
        Candidates,
        Query,
        Reranker,
        term_scores,
    )

__getattr__ = lazy(
    __name__,
    {
        "ALL_TERMS": "finesim.fusion.terms",
        "Candidates": "finesim.fusion.terms",
        "Preset": "finesim.fusion.preset",
        "Query": "finesim.fusion.terms",
        "RERANK": "finesim.fusion.terms",
        "Reranker": "finesim.fusion.terms",
        "TERMS": "finesim.fusion.terms",
        "explaining_term": "finesim.fusion.preset",
        "fuse": "finesim.fusion.fuse",
        "hybrid_scores": "finesim.fusion.fuse",
        "load_preset": "finesim.fusion.preset",
        "preset_names": "finesim.fusion.preset",
        "shipped_preset": "finesim.fusion.preset",
        "term_scores": "finesim.fusion.terms",
    },
)

__all__ = [
    "ALL_TERMS",
    "RERANK",
    "TERMS",
    "Candidates",
    "Preset",
    "Query",
    "Reranker",
    "explaining_term",
    "fuse",
    "hybrid_scores",
    "load_preset",
    "preset_names",
    "shipped_preset",
    "term_scores",
]
