"""The two benchmark text sets: short STS-B sentences and long CSFCube abstracts."""

from __future__ import annotations

TEXT_SETS = {"stsb": 2000, "abstracts": 400}


def bench_texts(name: str, count: int | None = None) -> list[str]:
    """``stsb``: the first sentences of STS-B train (both sides of each pair, in order);
    ``abstracts``: the first CSFCube papers as title + abstract."""
    from finesim._util.errors import FinesimError

    if name not in TEXT_SETS:
        raise FinesimError(f"unknown text set {name!r}; one of {', '.join(TEXT_SETS)}")
    count = count or TEXT_SETS[name]
    if name == "stsb":
        from finesim.data.sts import load_stsb

        pairs = load_stsb("train")
        texts = [s for pair in zip(pairs.sentences1, pairs.sentences2, strict=True) for s in pair]
    else:
        from finesim.data.csfcube import load_papers

        texts = [paper.text for paper in load_papers().values()]
    return texts[:count]
