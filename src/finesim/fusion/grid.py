"""The grid of presets that ``finesim eval csfcube --cv`` chooses from."""

from __future__ import annotations

import itertools

from finesim.fusion.preset import FUSIONS, Preset
from finesim.fusion.terms import TERMS


def standard_grid() -> dict[str, Preset]:
    """The candidates ``--cv`` chooses from: the plain scorers alone, and the abstract cosine
    plus a few weights of each other kind of term (one weight set for all facets, since
    per-facet weights overfit 8-9 dev queries), fused by each of ``FUSIONS``."""
    grid = {t: Preset({t: 1.0}, name=t) for t in TERMS}
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
                if sum(w > 0 for w in weights.values()) < 2:
                    continue
                preset = Preset({k: w for k, w in weights.items() if w > 0}, fusion)
                name = f"{fusion}:" + ",".join(f"{t}={preset.weights[t]}" for t in preset.terms)
                grid[name] = Preset(preset.weights, fusion, name=name)
    return grid
