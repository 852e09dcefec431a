"""Deleted papers of an index: their positions, and the filter that hides them from search.

Why tombstones rather than removing vectors: HNSW graphs cannot drop a node, and rewriting
the faiss structure on every delete costs as much as building it. A delete only records the
papers' positions (``tombstones.npy``); stage 1 asks faiss to skip their sentences (an
``IDSelector`` in the search parameters, which flat, HNSW and IVF all honour) and leaves
their positions out of every per-paper ranking. ``finesim.search.lifecycle.compact`` later
rebuilds the index without them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

COMPACT_SHARE = 0.2  # deleted share of the documents past which compaction is advised


class Tombstones:
    """The positions of deleted documents (sorted, unique), and their faiss filter."""

    def __init__(self, positions: np.ndarray | None = None) -> None:
        found = positions if positions is not None else np.zeros(0, dtype=np.int64)
        self.positions = np.unique(np.asarray(found, dtype=np.int64))
        self._filter: tuple[tuple[int, int], Any] | None = None

    def __len__(self) -> int:
        return len(self.positions)

    def added(self, positions: np.ndarray | list[int]) -> Tombstones:
        """These tombstones and ``positions`` (a new value: the filter is rebuilt for it)."""
        return Tombstones(np.concatenate([self.positions, np.asarray(positions, np.int64)]))

    def live(self, count: int) -> np.ndarray:
        """The positions among ``0..count-1`` that are not deleted, in order."""
        keep = np.ones(count, dtype=bool)
        keep[self.positions[self.positions < count]] = False
        return np.nonzero(keep)[0].astype(np.int64)

    def left_out(self, exclude: int | None) -> int | np.ndarray | None:
        """What a per-paper ranking leaves out: the deleted papers and ``exclude`` (the
        query paper), as one position, several, or None."""
        if not len(self.positions):
            return exclude
        if exclude is None:
            return self.positions
        return np.union1d(self.positions, [exclude]).astype(np.int64)

    def selector(self, doc_start: np.ndarray) -> Any:
        """A faiss ``IDSelector`` that keeps the sentences of live documents (None: nothing is
        deleted). Built once per (sentences, tombstones); it holds its own bitmap, so a search
        that got it stays safe when another thread replaces it."""
        if not len(self.positions):
            return None
        total = int(doc_start[-1])
        key = (total, len(self.positions))
        cached = self._filter
        if cached is None or cached[0] != key:
            import faiss

            edges = np.zeros(total + 1, dtype=np.int64)  # +1 where a deleted paper starts
            np.add.at(edges, doc_start[self.positions], 1)
            np.add.at(edges, doc_start[self.positions + 1], -1)
            keep = np.cumsum(edges[:-1]) == 0
            bitmap = np.packbits(keep, bitorder="little")  # faiss: bit i of byte i >> 3
            selector: Any = faiss.IDSelectorBitmap(total, faiss.swig_ptr(bitmap))
            selector.keep_alive = bitmap  # freed with the selector, not before
            cached = self._filter = (key, selector)
        return cached[1]


def advice(documents: int, deleted: int) -> dict[str, Any]:
    """Whether compacting an index of ``documents`` live and ``deleted`` papers is worthwhile:
    past ``COMPACT_SHARE`` deleted, their vectors cost memory and search time (HNSW: recall too,
    as the graph walks through hidden nodes)."""
    total = documents + deleted
    share = deleted / total if total else 0.0
    worthwhile = deleted > 0 and share >= COMPACT_SHARE
    if not deleted:
        why = "nothing deleted"
    elif worthwhile:
        why = f"{share:.0%} of the papers are deleted: `finesim index compact` drops them"
    else:
        why = f"{share:.0%} of the papers are deleted (compaction pays from {COMPACT_SHARE:.0%})"
    return {"deleted": deleted, "share": round(share, 4), "worthwhile": worthwhile, "why": why}
