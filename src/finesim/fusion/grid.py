"""The grid of presets that ``finesim eval csfcube --cv`` chooses from."""

from __future__ import annotations

import itertools

from finesim.fusion.preset import FUSIONS, Preset
from finesim.fusion.terms import RERANK, TERMS

# the cross-encoder's weights beside the abstract cosine's 1.0 (0: the grid without it)
RERANK_LEVELS = (0.0, 1.0, 3.0)


def standard_grid(rerank: bool = False) -> dict[str, Preset]:
    """The candidates ``--cv`` chooses from: the plain scorers alone, and the abstract cosine
    plus a few weights of each other kind of term (one weight set for all facets, since
    per-facet weights overfit 8-9 dev queries), fused by each of ``FUSIONS``.

    ``rerank``: with a cross-encoder, its term alone and each of those at each of
    ``RERANK_LEVELS`` too (without: exactly the grid it always was)."""
    grid = {t: Preset({t: 1.0}, name=t) for t in (*TERMS, RERANK) if rerank or t != RERANK}
    levels = list(
        itertools.product(
            (0.0, 0.5, 1.0),  # facet-mean
            (0.0, 0.5, 1.0),  # title
            (0.0, 0.5, 1.0),  # facet-text
            (0.0, 0.3, 0.6),  # bm25
            (0.0, 0.3),  # bm25-facet
        )
    )
    for fusion in FUSIONS:
        for facet_mean, title, text, lex, facet_lex in levels:
            for sentence in (None, "max-sim", "min-l2", "ot"):
                weights = {"abstract": 1.0, "facet-mean": facet_mean, "title": title}
                weights.update({"facet-text": text, "bm25": lex, "bm25-facet": facet_lex})
                if sentence is not None:
                    weights[sentence] = 0.2
                for level in RERANK_LEVELS if rerank else (0.0,):
                    chosen = {k: w for k, w in {**weights, RERANK: level}.items() if w > 0}
                    if len(chosen) < 2:
                        continue
                    name = f"{fusion}:" + ",".join(f"{t}={chosen[t]}" for t in Preset(chosen).terms)
                    grid[name] = Preset(chosen, fusion, name=name)
    return grid
