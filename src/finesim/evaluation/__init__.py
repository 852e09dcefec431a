"""Evaluation: STS, CSFCube faceted ranking, BEIR retrieval, reports."""
