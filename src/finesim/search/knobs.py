"""faiss's per-search knobs, shared by the float (``ann``) and compressed (``codes``) indexes."""

from __future__ import annotations

from typing import Any


def search_params(kind: str, ef_search: int, nprobe: int, sel: Any = None) -> Any:
    """faiss's per-search knobs for an index of ``kind`` (None: a flat index, no filter)."""
    import faiss

    if kind == "hnsw":
        return faiss.SearchParametersHNSW(efSearch=ef_search, sel=sel)  # type: ignore[attr-defined]
    if kind == "ivf":
        return faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)  # type: ignore[call-arg]
    return faiss.SearchParameters(sel=sel) if sel is not None else None  # type: ignore[call-arg]
