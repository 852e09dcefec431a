"""Deleting papers from an index and compacting it: the steps behind ``Index.delete`` and
``Index.compacted`` (``finesim index delete`` / ``finesim index compact``).

Why two steps: a delete must be cheap and take effect at once, so it only adds tombstones
(``finesim.search.tombstones``); their vectors stay in faiss, hidden from every search.
Compaction rebuilds the faiss structure, the per-paper arrays and the document store from
the live papers alone, renumbering positions. Both are saved like any index change: a new
folder written beside the old one and swapped in, so a kill leaves the old index or the new.

What a compacted index keeps of the old one: the model, precision, search knobs, tagger, and
the trained parts of the faiss structure (int8 value ranges, IVF centroids), so every live
sentence keeps exactly its stored code. Flat float32/float16 indexes then hold exactly what an
index built from the live papers alone holds; HNSW gets a new graph over the live vectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from finesim._util.errors import FinesimError
from finesim.search.ann import ADD_BLOCK
from finesim.search.tombstones import Tombstones

if TYPE_CHECKING:
    from finesim.search.index import Index

SHOWN = 5  # unknown ids named in the error


def positions_to_delete(index: Index, ids: Iterable[str], ignore_missing: bool) -> list[int]:
    """The positions of the papers ``ids`` (each once, in index order); ids that no search
    finds (never added, or deleted already) are an error naming the first few, unless
    ``ignore_missing``."""
    wanted = list(dict.fromkeys(str(i) for i in ids))
    if not wanted:
        raise FinesimError("no document ids to delete")
    missing = [i for i in wanted if i not in index]
    if missing and not ignore_missing:
        first = ", ".join(repr(i) for i in missing[:SHOWN])
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        stored = set(index.ids)  # a rerun of a delete that was done: say so
        gone = sum(i in stored for i in missing)
        already = f", {gone} of them deleted already" if gone else ""
        raise FinesimError(
            f"{len(missing)} of the {len(wanted)} ids to delete are not in the index "
            f"({first}{more}{already}); ignore_missing (--ignore-missing) skips them"
        )
    return sorted(index.position(i) for i in wanted if i in index)


def sentence_rows(doc_start: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The sentence ids of the documents at ``positions``, in order."""
    starts, sizes = doc_start[positions], np.diff(doc_start)[positions]
    if not len(positions) or not sizes.sum():
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.r_[0, np.cumsum(sizes)[:-1]], sizes)
    return (np.arange(int(sizes.sum()), dtype=np.int64) + offsets).astype(np.int64)


def compact(index: Index) -> Index:
    """A new ``Index`` (same path and model) holding only the live papers of ``index``."""
    if not len(index.tombstones):
        return index
    keep = index.tombstones.live(len(index.ids))
    rows = sentence_rows(index.doc_start, keep)
    ann = index.ann.emptied()
    sizes = np.diff(index.doc_start)[keep]
    papers = np.repeat(np.arange(len(keep)), sizes)  # the new positions, row by row
    for start in range(0, len(rows), ADD_BLOCK):  # decoded vectors, re-encoded as they were
        block = rows[start : start + ADD_BLOCK]
        ann.add(
            index.ann.reconstruct(block),
            papers=papers[start : start + ADD_BLOCK],
            facets=index.labels[block],
        )
    compacted = type(index)(
        ann,
        model=index.model,
        fingerprint=index.fingerprint,
        precision=index.precision,
        ids=[index.ids[p] for p in keep],
        doc_start=np.r_[0, np.cumsum(sizes)].astype(np.int64),
        labels=index.labels[rows],
        means=index.means[keep],
        wholes=index.wholes[keep] if index.wholes is not None else None,
        titles=index.titles[keep] if index.titles is not None else None,
        docs=index.docs.subset(keep),
        tagger=index.tagger,
        search_params=dict(index.search_params),
        spec=index.spec,
        tombstones=Tombstones(),
    )
    compacted.encoder, compacted.path = index.encoder, index.path
    return compacted
