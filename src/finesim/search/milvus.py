"""Sentence vectors in a Milvus collection: the ``milvus`` store of an index.

``Index.new(..., store=MilvusStore(uri))`` keeps its sentence vectors in Milvus instead of
faiss: Milvus Lite when ``uri`` is a local file (embedded, ``pymilvus`` + ``milvus-lite``, the
``milvus`` extra), or a Milvus server or cluster at an ``http://`` address. One row per
sentence: ``row`` (its sentence id, the primary key), ``paper`` (the paper's position in the
index), ``facet`` (its label code) and ``vector``. Stage 1 is a Milvus search (exact FLAT, L2:
the faiss flat index's distances and order) whose filter runs inside Milvus; stage 2 reads the
candidates' rows back by key and scores them in finesim, as for faiss. Everything else of the
index (ids, documents, per-paper vectors, the manifest) stays in the index folder, whose
``ann.faiss`` then holds a pointer to the collection (uri, name, rows) instead of a faiss index.

Why this keeps "the old index or the new one": a collection only grows (rows are upserted
under their sentence ids, so an add killed half-way and run again rewrites the same rows) and
every search is bounded to ``row < rows`` of the index that runs it, the count its saved
pointer records. An index folder swapped in by ``finesim index add`` sees its new rows; an
index opened before sees exactly its old ones. Deleted papers are a filter on ``paper``
(tombstones, as for faiss); compaction writes a new collection (name + generation) and leaves
the old one for readers that still hold it (``finesim index compact`` says which).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem

KIND = "milvus"
POINTER = "finesim-milvus"
INSERT_BLOCK = 10_000  # rows sent to Milvus at a time
QUERY_BLOCK = 8_192  # keys read back at a time (Milvus caps a query's result window)
MAX_TOPK = 16_384  # Milvus's largest search limit
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


@dataclass(frozen=True)
class MilvusStore:
    """Where an index's sentence vectors go: ``uri`` (a local ``.db`` file for Milvus Lite,
    or ``http://host:port``) and the collection's name."""

    uri: str
    collection: str = "finesim_sentences"

    def checked(self) -> MilvusStore:
        if not NAME.match(self.collection):
            raise FinesimError(
                f"--collection {self.collection!r}: Milvus names are letters, digits and "
                "underscores, starting with a letter or underscore"
            )
        uri = self.uri
        if not uri.startswith(("http://", "https://", "tcp://")):
            path = Path(uri).expanduser()
            if not path.parent.is_dir():
                raise FinesimError(f"--uri {uri}: no such folder for a Milvus Lite file")
            if path.suffix != ".db":
                raise FinesimError(f"--uri {uri}: a Milvus Lite file ends in .db")
            uri = str(path.absolute())
        return MilvusStore(uri, self.collection)


_CLIENTS: dict[str, Any] = {}


def client(uri: str) -> Any:
    """One ``MilvusClient`` per uri and process (Milvus Lite runs one server per file)."""
    if uri not in _CLIENTS:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise FinesimError(
                "the milvus store needs pymilvus and milvus-lite: pip install 'finesim[milvus]'"
            ) from None
        try:
            _CLIENTS[uri] = MilvusClient(uri)
        except Exception as e:  # noqa: BLE001 - pymilvus raises many kinds; name the uri
            why = _first_line(e)
            if not uri.startswith(("http://", "https://", "tcp://")):
                why += "; Milvus Lite opens a file in one process at a time: is another finesim "
                why += "(a server) using it? Several processes need a Milvus server"
            raise FinesimError(f"--uri {uri}: cannot connect to Milvus ({why})") from None
    return _CLIENTS[uri]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class MilvusAnn:
    """Sentence vectors ``0..rows-1`` in a Milvus collection, with the faiss ``Ann``'s
    interface (``size``, ``add``, ``search``, ``reconstruct``, ``save``...)."""

    kind = KIND

    def __init__(self, store: MilvusStore, dim: int, rows: int = 0, generation: int = 0) -> None:
        self.store, self._dim, self.rows, self.generation = store, dim, rows, generation
        self.client = client(store.uri)

    @property
    def name(self) -> str:
        """The collection: the store's name, then ``_g<n>`` for the n-th compaction."""
        base = self.store.collection
        return base if not self.generation else f"{base}_g{self.generation}"

    @classmethod
    def create(cls, store: MilvusStore, dim: int, generation: int = 0) -> MilvusAnn:
        """A new, empty collection (an existing one of that name is an error, not replaced:
        another index may read it)."""
        ann = cls(store.checked(), dim, 0, generation)
        if ann.client.has_collection(ann.name):
            raise FinesimError(
                f"Milvus collection {ann.name!r} exists at {ann.store.uri}; choose another "
                "--collection (or drop it)"
            )
        from pymilvus import DataType

        schema = ann.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("paper", DataType.INT64)
        schema.add_field("facet", DataType.INT8)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        params = ann.client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type="L2")  # exact, as faiss flat
        ann.client.create_collection(ann.name, schema=schema, index_params=params)
        return ann

    @property
    def size(self) -> int:
        return self.rows

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def trained(self) -> bool:
        return True

    def train(self, sample: np.ndarray) -> None:
        """Nothing to learn: the collection is searched exactly."""

    def add(
        self,
        vectors: np.ndarray,
        papers: np.ndarray | None = None,
        facets: np.ndarray | None = None,
    ) -> None:
        """Append ``vectors`` as rows ``size..``, with their papers' positions and facet codes
        (upserted: a rerun after a killed add rewrites the same rows)."""
        n = len(vectors)
        if papers is None or facets is None or len(papers) != n or len(facets) != n:
            raise FinesimError("the milvus store needs each sentence's paper and facet")
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        for start in range(0, n, INSERT_BLOCK):
            stop = min(n, start + INSERT_BLOCK)
            rows = [
                {
                    "row": self.rows + i,
                    "paper": int(papers[i]),
                    "facet": int(facets[i]),
                    "vector": data[i].tolist(),
                }
                for i in range(start, stop)
            ]
            self.client.upsert(self.name, rows)
        self.rows += n

    def search(
        self, queries: np.ndarray, k: int, *, sel: Any = None, **_knobs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Squared L2 distances and ids (-1 where fewer than ``k`` were found), nearest first.
        ``sel``: deleted paper positions (``filter_for``), left out inside Milvus."""
        k = max(1, min(k, self.rows, MAX_TOPK))
        where = f"row < {self.rows}"
        if sel is not None and len(sel):
            where += f" and paper not in {json.dumps([int(p) for p in sel])}"
        found = self.client.search(
            self.name,
            data=[q.tolist() for q in np.asarray(queries, dtype=np.float32)],
            limit=k,
            filter=where,
            search_params={"metric_type": "L2"},
            output_fields=["row"],  # the key alone: vectors are read back in stage 2
        )
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for i, hits in enumerate(found):
            for j, hit in enumerate(hits):
                ids[i, j], distances[i, j] = int(hit["row"]), float(hit["distance"])
        return distances, ids

    @staticmethod
    def filter_for(tombstones: Any, doc_start: np.ndarray) -> np.ndarray | None:
        """What ``search``'s ``sel`` takes: the deleted positions (None: none deleted)."""
        return tombstones.positions if len(tombstones) else None

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of sentence ``ids``, in that order."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(ids), self._dim), dtype=np.float32)
        if not len(ids):
            return out
        unique, back = np.unique(ids, return_inverse=True)
        if unique[0] < 0 or unique[-1] >= self.rows:
            raise FinesimError(f"sentence ids outside 0..{self.rows - 1} asked of Milvus")
        got = np.zeros((len(unique), self._dim), dtype=np.float32)
        where = {int(r): i for i, r in enumerate(unique)}
        filled = 0
        for start in range(0, len(unique), QUERY_BLOCK):
            keys = [int(r) for r in unique[start : start + QUERY_BLOCK]]
            for row in self.client.get(self.name, ids=keys, output_fields=["vector"]):
                got[where[int(row["row"])]] = np.asarray(row["vector"], dtype=np.float32)
                filled += 1
        if filled != len(unique):
            raise FinesimError(
                f"Milvus collection {self.name!r} lacks {len(unique) - filled} of the index's rows"
            )
        return got[back]

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the store: where and which collection."""
        return {"store": KIND, "uri": self.store.uri, "collection": self.name}

    def emptied(self) -> MilvusAnn:
        """A new, empty collection of the next generation (compaction fills it)."""
        return MilvusAnn.create(self.store, self._dim, self.generation + 1)

    def save(self, path: Path) -> None:
        """Flush the rows to Milvus's storage, then write the pointer that bounds this index
        to its rows."""
        self.client.flush(self.name)
        pointer = {
            "format": POINTER,
            "uri": self.store.uri,
            "collection": self.store.collection,
            "generation": self.generation,
            "dim": self._dim,
            "rows": self.rows,
        }
        path.write_text(json.dumps(pointer, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> MilvusAnn:
        try:
            pointer = json.loads(path.read_text(encoding="utf-8"))
            if pointer.get("format") != POINTER:
                raise ValueError("not a finesim Milvus pointer")
            store = MilvusStore(str(pointer["uri"]), str(pointer["collection"]))
            dim, rows, generation = (int(pointer[k]) for k in ("dim", "rows", "generation"))
        except (OSError, *JSON_ERRORS, KeyError, TypeError, AttributeError) as e:
            raise FinesimError(f"{path}: not a Milvus store pointer ({json_problem(e)})") from None
        ann = cls(store, dim, rows, generation)
        if not ann.client.has_collection(ann.name):
            raise FinesimError(f"{path}: Milvus collection {ann.name!r} is gone from {store.uri}")
        ann.client.load_collection(ann.name)  # another process's collection starts released
        stored = _count(ann)
        if stored < rows:
            raise FinesimError(
                f"{path}: Milvus collection {ann.name!r} holds {stored} rows, the index {rows}"
            )
        return ann


def _count(ann: MilvusAnn) -> int:
    found = ann.client.query(ann.name, filter="", output_fields=["count(*)"])
    return int(found[0]["count(*)"])
