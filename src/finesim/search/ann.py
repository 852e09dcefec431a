"""The faiss side of the index: which structure, at which precision, and its search knobs.

Sentence vectors live only here (no second copy): stage 1 searches them approximately,
stage 2 reads the candidates' vectors back (``reconstruct``) for exact scoring. Distances are
L2, the metric of min-l2; for unit vectors L2 order is cosine order too.

- ``flat``: exact, brute force; the default up to ``FLAT_LIMIT`` sentence vectors.
- ``hnsw``: a graph (32 links a node), fast and accurate; the default up to ``IVF_LIMIT``.
- ``ivf``: inverted lists around k-means centroids; quickest to build at very large sizes.

Precision: ``float32`` (exact vectors), ``float16`` (half the memory, ~1e-4 error) or ``int8``
(a quarter, per-dimension ranges learnt from the first vectors added). ``binary`` and ``pq``
keep only codes in RAM and their rescoring vectors on disk (``finesim.search.codes``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.search.codes import COMPRESSED, CompressedAnn
from finesim.search.knobs import search_params
from finesim.search.milvus import KIND as MILVUS
from finesim.search.milvus import MilvusAnn, MilvusStore

if TYPE_CHECKING:
    from finesim.search.tombstones import Tombstones

KINDS = ("auto", "flat", "hnsw", "ivf")
PRECISIONS = ("float32", "float16", "int8", *COMPRESSED)
FLAT_LIMIT = 50_000  # brute force over more takes tens of ms a query sentence on 2 cores
BINARY_FLAT_LIMIT = 1_000_000  # Hamming over 48-byte codes: a few ms a query sentence
IVF_LIMIT = 5_000_000
HNSW_LINKS = 32
ADD_BLOCK = 100_000  # vectors added to faiss at a time (progress is reported between)
CODECS = {"float32": "Flat", "float16": "SQfp16", "int8": "SQ8"}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise FinesimError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    return precision


def choose_kind(kind: str, expected: int, precision: str = "float32") -> str:
    """``auto`` picks by the number of sentence vectors expected (and the precision: codes
    are searched by brute force longer, and have no graph)."""
    if kind not in KINDS:
        raise FinesimError(f"unknown index kind {kind!r}; one of {', '.join(KINDS)}")
    if kind != "auto":
        return kind
    if precision in COMPRESSED:
        limit = BINARY_FLAT_LIMIT if precision == "binary" else FLAT_LIMIT
        return "flat" if expected <= limit else "ivf"
    if expected <= FLAT_LIMIT:
        return "flat"
    return "hnsw" if expected <= IVF_LIMIT else "ivf"


def factory_string(kind: str, precision: str, expected: int) -> str:
    """The faiss ``index_factory`` description, e.g. ``HNSW32,SQfp16``."""
    if check_precision(precision) in COMPRESSED:
        raise FinesimError(f"precision {precision!r} is not a faiss codec (finesim.search.codes)")
    codec = CODECS[precision]
    if kind == "flat":
        return codec
    if kind == "hnsw":
        return f"HNSW{HNSW_LINKS},{codec}"
    if kind == "ivf":
        # about 4 sqrt(n) lists, and at least 39 training vectors a list (faiss's advice)
        lists = max(1, min(int(4 * math.sqrt(max(expected, 1))), max(expected, 1) // 39))
        return f"IVF{lists},{codec}"
    raise FinesimError(f"unknown index kind {kind!r}; one of {', '.join(KINDS[1:])}")


def create_ann(
    dim: int, kind: str, precision: str, expected: int, store: MilvusStore | None = None
) -> Ann | CompressedAnn | MilvusAnn:
    """An empty index of ``kind`` (not ``auto``) at ``precision``; with ``store``, a Milvus
    collection (exact, float32) instead of faiss."""
    if store is not None:
        if precision != "float32":
            raise FinesimError(
                f"the milvus store keeps float32 vectors (searched exactly); not {precision!r}"
            )
        return MilvusAnn.create(store, dim)
    if check_precision(precision) in COMPRESSED:
        return CompressedAnn(dim, kind, precision, expected)
    return Ann.create(dim, kind, precision, expected)


def load_ann(path: Path, kind: str, precision: str, dim: int) -> Ann | CompressedAnn | MilvusAnn:
    """The index saved at ``path`` (compressed ones keep their rows beside it; a Milvus
    store's is a pointer to its collection)."""
    if kind == MILVUS:
        return MilvusAnn.load(path)
    if precision in COMPRESSED:
        return CompressedAnn.load(path, kind, precision, dim)
    return Ann.load(path, kind)


class Ann:
    """A faiss index over sentence vectors, ids 0..n-1 in the order they were added."""

    def __init__(self, index: Any, kind: str) -> None:
        self.index = index  # a faiss.Index (faiss's stubs do not know every subclass)
        self.kind = kind

    @classmethod
    def create(cls, dim: int, kind: str, precision: str, expected: int) -> Ann:
        import faiss

        return cls(faiss.index_factory(dim, factory_string(kind, precision, expected)), kind)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def trained(self) -> bool:
        return bool(self.index.is_trained)

    def train(self, sample: np.ndarray) -> None:
        """Learn centroids (ivf) or value ranges (int8) from a sample of the vectors."""
        import faiss

        if self.trained:
            return
        self.index.train(np.ascontiguousarray(sample, dtype=np.float32))
        if self.kind == "ivf":  # so that stage 2 can read vectors back by id
            faiss.extract_index_ivf(self.index).make_direct_map()

    def add(self, vectors: np.ndarray, papers: Any = None, facets: Any = None) -> None:
        """Append ``vectors`` (ids ``size..``); ``papers`` and ``facets`` are for stores
        that keep them beside each vector (Milvus), not faiss."""
        if not self.trained:
            self.train(vectors)
        # in blocks, so that building a large graph (HNSW: minutes) reports its progress
        block = ADD_BLOCK if self.kind != "flat" else max(len(vectors), 1)
        with progress_bar(len(vectors) > block, len(vectors), "indexing vectors") as advance:
            for start in range(0, len(vectors), block):
                self.index.add(np.ascontiguousarray(vectors[start : start + block], np.float32))
                if advance is not None:
                    advance(len(vectors[start : start + block]))

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        ef_search: int = 128,
        nprobe: int = 32,
        sel: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Squared L2 distances and ids (-1 where fewer than ``k`` were found), nearest first;
        ``sel``: a faiss ``IDSelector`` of the ids it may return (None: all)."""

        k = max(1, min(k, self.size))
        params = search_params(self.kind, max(ef_search, k), nprobe, sel)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        return self.index.search(q, k, params=params)

    @staticmethod
    def filter_for(tombstones: Tombstones, doc_start: np.ndarray) -> Any:
        """What ``search``'s ``sel`` takes to leave deleted papers out: a faiss selector."""
        return tombstones.selector(doc_start)

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the structure beyond kind and precision: nothing."""
        return {}

    def emptied(self) -> Ann:
        """A copy without vectors but with what it learnt (int8 ranges, IVF centroids and its
        direct map), so that vectors added again get the codes they had."""
        import faiss

        fresh = faiss.clone_index(self.index)
        fresh.reset()
        return Ann(fresh, self.kind)

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors (decoded from float16/int8) of sentence ``ids``."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        return np.asarray(out, dtype=np.float32)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str) -> Ann:
        import faiss

        try:
            return cls(faiss.read_index(str(path)), kind)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable"
            raise FinesimError(f"{path}: not a readable faiss index ({first})") from None
