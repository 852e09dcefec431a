"""The facet tagger that ships with finesim, and how a ``--tagger`` value names a tagger.

The shipped tagger reads the sentences' words (``finesim.facets.text``), not their vectors,
so it works with every encoder. It was trained on CSFCube's labelled abstracts exactly as
``finesim facets train --features text`` trains one (80% of the papers; the other 841 held
out), and its held-out figures travel in its ``head.json`` (``evaluation``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from finesim.facets.tagger import FacetTagger

SHIPPED_DIR = Path(__file__).parent / "taggers" / "csfcube-text"
SHIPPED, NONE = "shipped", "none"


@lru_cache(maxsize=1)
def shipped_tagger() -> FacetTagger:
    """The tagger in the package (loaded once)."""
    return FacetTagger.load(SHIPPED_DIR)


def resolve_tagger(value: str | Path | None) -> FacetTagger | None:
    """``shipped`` (or None): the shipped tagger; ``none``: no tagger; else a tagger folder."""
    if value is None or str(value) == SHIPPED:
        return shipped_tagger()
    if str(value) == NONE:
        return None
    return FacetTagger.load(Path(value))
