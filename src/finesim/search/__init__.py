"""Faceted search over sentence vectors: a faiss index, two-stage search, explanations."""

from finesim.search.index import SCORINGS, Hit, Index, Pair

__all__ = ["SCORINGS", "Hit", "Index", "Pair"]
