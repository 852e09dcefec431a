"""Compressed first stages: binary codes (Hamming) or IVF-PQ, rescored from int8 rows on disk.

Why: at millions of papers float vectors do not fit in RAM beside everything else. Here RAM
holds only short codes (48 bytes a 384-dimensional vector for both); each search fetches
``RESCORE`` times the neighbours asked for from the codes, rescores them in L2 against their
int8 copies memory-mapped from disk (``finesim.search.rows``) and returns the nearest with
those distances, so stage 1 (``candidates``) and the exact stage 2 (``reconstruct``) work as
with a float index.

- ``binary``: the sign bits of each vector minus the mean of the training vectors (centring
  makes every bit informative), in ``faiss.IndexBinaryFlat`` (exact Hamming), ``IndexBinaryIVF``
  (lists around Hamming centroids, ``nprobe``) or ``IndexBinaryHNSW``.
- ``pq``: ``OPQ{m},IVF{lists},PQ{m}`` (``OPQ{m},PQ{m}`` for kind ``flat``), ``m`` sub-vectors
  of 8 dimensions, ``lists`` about 4 sqrt(n) and at least 39 training vectors each.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.search.knobs import search_params
from finesim.search.rows import RowFile

COMPRESSED = ("binary", "pq")
RESCORE = {"binary": 8, "pq": 4}  # codes' neighbours rescored per neighbour asked for
# Hamming lists are coarse: a binary ivf probes at least this share of its lists (CSFCube,
# minilm, 683 lists: 8 probed found 75% of the exact top 100, 32 (4.7%) found 94%, within
# 0.25 MAP of the exact index; ``finesim bench search --part quality``)
BINARY_PROBE_SHARE = 0.05
HNSW_LINKS = 32


def ivf_lists(expected: int) -> int:
    """About 4 sqrt(n) lists, and at least 39 training vectors a list (faiss's advice)."""
    return max(1, min(int(4 * math.sqrt(max(expected, 1))), max(expected, 1) // 39))


def pq_parts(dim: int) -> int:
    """Sub-quantizers: 8 dimensions each where ``dim`` allows, else the largest divisor below."""
    want = max(1, dim // 8)
    return next(m for m in range(want, 0, -1) if dim % m == 0)


def sign_bits(vectors: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Packed sign bits of ``vectors - center`` (uint8 rows, faiss's binary layout)."""
    return np.packbits(np.asarray(vectors, np.float32) > center, axis=1)


def _l2_to(query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return ((rows - query[None, :]) ** 2).sum(axis=1)


class CompressedAnn:
    """Codes in RAM for stage 1, int8 rows on disk for rescoring and stage 2.

    Same methods as ``finesim.search.ann.Ann``; ``codes`` is the faiss index (None until
    trained: its lists are sized from the training sample).
    """

    def __init__(
        self,
        dim: int,
        kind: str,
        precision: str,
        expected: int,
        rows: RowFile | None = None,
        codes: Any = None,
        center: np.ndarray | None = None,
    ) -> None:
        if precision not in COMPRESSED:
            raise FinesimError(f"not a compressed precision: {precision!r}")
        if kind not in ("flat", "hnsw", "ivf") or (precision == "pq" and kind == "hnsw"):
            raise FinesimError(f"precision {precision!r} has no index kind {kind!r}")
        self.dim, self.kind, self.precision, self.expected = dim, kind, precision, expected
        self.rows = rows if rows is not None else RowFile(dim)
        self.codes = codes
        self.center = center if center is not None else np.zeros(dim, dtype=np.float32)

    @property
    def size(self) -> int:
        return self.rows.size

    @property
    def trained(self) -> bool:
        return self.codes is not None and bool(self.codes.is_trained)

    @staticmethod
    def filter_for(tombstones: Any, doc_start: np.ndarray) -> Any:
        """``search``'s ``sel``: the tombstones' faiss selector (its bitmap is read here)."""
        return tombstones.selector(doc_start)

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the structure."""
        out: dict[str, Any] = {"rescore": RESCORE[self.precision], "rows": "int8, scale per row"}
        if self.codes is not None and self.precision == "pq":
            out["lists"] = self._ivf().nlist if self.kind == "ivf" else None
            out["faiss"] = self._factory(self._lists_for(self.expected))
        elif self.codes is not None:
            out["lists"] = int(self.codes.nlist) if self.kind == "ivf" else None
            out["faiss"] = type(self.codes).__name__
        return out

    def _lists_for(self, trained_on: int) -> int:
        return min(ivf_lists(self.expected), max(1, trained_on // 39))

    def _factory(self, lists: int) -> str:
        m = pq_parts(self.dim)
        return f"OPQ{m},IVF{lists},PQ{m}" if self.kind == "ivf" else f"OPQ{m},PQ{m}"

    def _ivf(self) -> Any:
        import faiss

        return faiss.extract_index_ivf(self.codes)

    def train(self, sample: np.ndarray) -> None:
        """Build the code structure, sized from ``sample``, and learn it from ``sample``."""
        import faiss

        if self.trained:
            return
        x = np.ascontiguousarray(sample, dtype=np.float32)
        if self.precision == "pq":
            factory = self._factory(self._lists_for(len(x)))
            bits = int(min(8, max(1, math.floor(math.log2(max(len(x), 2) / 4)))))
            if bits < 8:  # a small sample cannot train 256 centroids a sub-vector
                factory += f"x{bits}"
            self.codes = faiss.index_factory(self.dim, factory)
            self.codes.train(x)
            return
        self.center = x.mean(axis=0).astype(np.float32)
        nbits = 8 * math.ceil(self.dim / 8)
        if self.kind == "flat":
            self.codes = faiss.IndexBinaryFlat(nbits)
        elif self.kind == "hnsw":
            self.codes = faiss.IndexBinaryHNSW(nbits, HNSW_LINKS)
        else:
            self._quantizer = faiss.IndexBinaryFlat(nbits)  # kept alive beside the ivf
            self.codes = faiss.IndexBinaryIVF(self._quantizer, nbits, self._lists_for(len(x)))
            self.codes.own_fields = False
        self.codes.train(sign_bits(x, self.center))

    def add(self, vectors: np.ndarray, papers: Any = None, facets: Any = None) -> None:
        if not self.trained:
            self.train(vectors)
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        self.codes.add(sign_bits(x, self.center) if self.precision == "binary" else x)
        self.rows.append(x)

    def emptied(self) -> CompressedAnn:
        """A copy without vectors that keeps what was learnt (lists, PQ codebooks, OPQ
        rotation, the centre of the sign bits): what compaction adds the live rows to."""
        import faiss

        codes = None
        if self.codes is not None:
            binary = faiss.clone_binary_index  # type: ignore[attr-defined]
            clone = binary if self.precision == "binary" else faiss.clone_index
            codes = clone(self.codes)
            codes.reset()
        return CompressedAnn(
            self.dim, self.kind, self.precision, self.expected, codes=codes,
            center=self.center.copy(),
        )  # fmt: skip

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        ef_search: int = 128,
        nprobe: int = 32,
        sel: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Squared L2 distances (to the int8 rows) and ids, nearest first; -1 past the end.

        ``sel``: a tombstones ``IDSelectorBitmap`` (its ``keep_alive`` bitmap: bit i set for a
        live sentence i); applied to the codes' candidates before rescoring, since faiss's
        binary indexes take no search parameters."""

        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, self.size))
        fetch = min(self.size, k * RESCORE[self.precision])
        if self.precision == "binary":
            if self.kind != "flat":  # faiss's binary indexes take their knobs as fields
                self._set_knobs(nprobe, max(ef_search, fetch))
            _, found = self.codes.search(sign_bits(q, self.center), fetch)
        else:
            params = search_params(self.kind, max(ef_search, fetch), nprobe)
            _, found = self.codes.search(q, fetch, params=params)
        distances = np.full((len(q), k), np.inf, dtype=np.float32)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        keep = getattr(sel, "keep_alive", None)
        for i, row in enumerate(found):
            row = row[row >= 0]
            if keep is not None:
                row = row[(keep[row >> 3] >> (row & 7)) & 1 == 1]
            exact = _l2_to(q[i], self.rows.rows(row))
            order = np.argsort(exact, kind="stable")[:k]
            distances[i, : len(order)], ids[i, : len(order)] = exact[order], row[order]
        return distances, ids

    def _set_knobs(self, nprobe: int, ef_search: int) -> None:
        if self.kind == "ivf":
            floor = math.ceil(BINARY_PROBE_SHARE * int(self.codes.nlist))
            self.codes.nprobe = min(int(self.codes.nlist), max(nprobe, floor))
        else:
            self.codes.hnsw.efSearch = ef_search

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The int8 rows (decoded) of sentence ``ids``: what stage 2 scores exactly."""
        return self.rows.rows(np.asarray(ids, dtype=np.int64))

    # ---- files: the codes at ``path``, the rows and the centre beside it ---------------

    @staticmethod
    def siblings(path: Path) -> tuple[Path, Path, Path]:
        return (
            path.with_name(path.stem + ".rows.i8"),
            path.with_name(path.stem + ".scales.f4"),
            path.with_name(path.stem + ".center.npy"),
        )

    def save(self, path: Path) -> None:
        import faiss

        if self.codes is None:
            raise FinesimError("an empty compressed index cannot be saved (add vectors first)")
        if self.precision == "binary":
            faiss.write_index_binary(self.codes, str(path))
        else:
            faiss.write_index(self.codes, str(path))
        codes, scales, center = self.siblings(path)
        self.rows.save(codes, scales)
        np.save(center, self.center)

    @classmethod
    def load(cls, path: Path, kind: str, precision: str, dim: int) -> CompressedAnn:
        import faiss

        codes_path, scales_path, center_path = cls.siblings(path)
        reader = faiss.read_index_binary if precision == "binary" else faiss.read_index
        try:
            codes = reader(str(path))
            center = np.load(center_path)
        except (RuntimeError, OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable"
            raise FinesimError(f"{path}: not a readable {precision} index ({first})") from None
        rows = RowFile(dim, codes_path, scales_path)
        if int(codes.ntotal) != rows.size or center.shape != (dim,):
            raise FinesimError(f"{path}: codes and rows disagree (corrupt index)")
        return cls(dim, kind, precision, rows.size, rows=rows, codes=codes, center=center)
