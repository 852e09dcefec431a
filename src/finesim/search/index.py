"""``finesim.Index``: faceted paper search over sentence vectors, with explanations.

A search has two stages. Stage 1 asks faiss for the nearest sentence vectors of each query
sentence (of the chosen facet) and turns them into candidate papers (``candidates.stage_one``).
Stage 2 scores those candidates exactly with the scorers of the CSFCube evaluator
(``finesim.docsim.score_candidates``) on their stored sentence vectors, and explains each hit
by its best aligned query/candidate sentence pairs. An optional third stage reorders the best
hits with a cross-encoder (``rerank=``, ``finesim.search.rerank``).

The index also keeps one whole-document (title + abstract) and one title vector per paper
(``wholes.npy``, ``titles.npy``; indexes built before hybrid scoring lack them). Hybrid
scoring is a layer on top: ``finesim.search.hybrid.HybridSearcher`` asks the index through
its public methods and owns what it builds; the index knows nothing of it.

``delete`` hides papers from every search at once (tombstones: ``search/tombstones.py``, a
filter in stage 1); ``compacted`` drops them for good (``search/lifecycle.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.threads import one_thread
from finesim.data.documents import Document
from finesim.docsim import Doc, score_candidates
from finesim.facets.tagger import FacetTagger, fill_labels
from finesim.fusion.terms import Reranker
from finesim.models.cache import encode_cached, sentence_vectors
from finesim.models.encoder import Encoder
from finesim.models.spec import EncoderSpec
from finesim.search import docvectors as dv
from finesim.search import folder
from finesim.search.ann import Ann, check_precision, choose_kind, create_ann
from finesim.search.candidates import stage_one
from finesim.search.docstore import DocStore
from finesim.search.hits import Hit, Pair, top_hits
from finesim.search.milvus import MilvusAnn, MilvusStore
from finesim.search.precision import choose_precision
from finesim.search.query import SearchQuery, make_query
from finesim.search.rerank import query_text, rerank_depth, rerank_hits
from finesim.search.saved import Saved
from finesim.search.tombstones import Tombstones

if TYPE_CHECKING:
    from finesim.search.codes import CompressedAnn

SCORINGS = ("min-l2", "max-sim", "ot", "mean-vec")
__all__ = ["SCORINGS", "Hit", "Index", "Pair", "default_budget"]


def default_budget(scoring: str, k: int) -> int:
    """Candidates scored exactly in stage 2 when the caller does not say.

    Measured on CSFCube (``finesim bench agreement``): 100 papers give min-l2's exact top 100;
    the scorers that use every query sentence need about 5 times ``k`` (500 for the top 100);
    hybrid pools as many from each of its signals.
    """
    return max(100, 10 * k) if scoring in ("min-l2", "mean-vec") else max(500, 10 * k)


class Index:
    """Sentence vectors of documents in faiss, with their documents, facets and model.

    Build with ``Index.build(encoder, documents)`` (or ``Index.new`` + ``add_vectors`` for
    precomputed vectors), ``save`` it, ``Index.open`` it, then ``search``.
    """

    def __init__(
        self,
        ann: Ann | CompressedAnn | MilvusAnn,
        *,
        model: str,
        fingerprint: str,
        precision: str,
        ids: list[str] | None = None,
        doc_start: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        means: np.ndarray | None = None,
        wholes: np.ndarray | None = None,
        titles: np.ndarray | None = None,
        docs: DocStore | None = None,
        tagger: FacetTagger | None = None,
        search_params: dict[str, int] | None = None,
        spec: EncoderSpec | None = None,
        tombstones: Tombstones | None = None,
    ) -> None:
        self.ann = ann
        self.model, self.fingerprint, self.precision = model, fingerprint, precision
        self.ids = ids or []  # by position, deleted papers' included (until compacted)
        # deleted papers: kept in every array, left out of every search (search/tombstones.py)
        self.tombstones = tombstones or Tombstones()
        live = self.tombstones.live(len(self.ids))
        self._position = {self.ids[i]: int(i) for i in live}
        self.doc_start = doc_start if doc_start is not None else np.zeros(1, dtype=np.int64)
        self.labels = labels if labels is not None else np.zeros(0, dtype=np.int8)
        # one unit mean vector per document: exact stage 1 for mean-vec
        self.means = means if means is not None else np.zeros((0, ann.dim), dtype=np.float32)
        # one title+abstract vector per document (hybrid scoring); None: the index has none
        self.wholes = wholes
        # one title vector per document (hybrid term ``title``); None: encoded when needed
        self.titles = titles
        # bumped whenever documents are added, so layers that cache per-document data
        # (hybrid search) know to rebuild it
        self.generation = 0
        self.docs = docs or DocStore()
        self.tagger = tagger
        self.search_params = {"ef_search": 128, "nprobe": 32, **(search_params or {})}
        self.encoder: Encoder | None = None
        self.spec = spec  # how to build the index's model (None: an index saved before it)
        self.path: Path | None = None
        self.saved: Saved | None = None  # the folder it was read from or saved to, if unchanged
        self.precision_note: str | None = None  # why ``precision='auto'`` chose (new only)

    # ---- building ----------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        dim: int,
        *,
        model: str,
        fingerprint: str,
        precision: str = "float32",
        kind: str = "auto",
        expected: int = 0,
        tagger: FacetTagger | None = None,
        spec: EncoderSpec | None = None,
        store: MilvusStore | None = None,
    ) -> Index:
        """An empty index; ``expected`` (sentence vectors) lets ``kind='auto'`` and
        ``precision='auto'`` choose (the latter says why in ``precision_note``). ``store``:
        keep the sentence vectors in a Milvus collection (``finesim.search.milvus``)."""
        if store is not None:
            ann = create_ann(dim, "flat", check_precision(precision), expected, store)
            note = None
        else:
            precision, note = choose_precision(precision, expected, dim)
            chosen = choose_kind(kind, expected, check_precision(precision))
            ann = create_ann(dim, chosen, precision, expected)
        empty = np.zeros((0, dim), dtype=np.float32)
        index = cls(
            ann,
            model=model,
            fingerprint=fingerprint,
            precision=precision,
            wholes=empty,
            titles=empty.copy(),
            tagger=tagger,
            spec=spec,
        )
        index.precision_note = note
        return index

    @classmethod
    def build(
        cls,
        encoder: Encoder,
        documents: Iterable[Document],
        *,
        precision: str = "float32",
        kind: str = "auto",
        tagger: FacetTagger | None = None,
        batch_size: int = 32,
        cache: bool = True,
        store: MilvusStore | None = None,
    ) -> Index:
        """Encode ``documents`` sentence by sentence and index them (in faiss, or in Milvus
        with ``store``).

        Documents without labels are labelled by ``tagger`` when one is given (and the tagger
        is kept in the index to label text queries); otherwise they stay unlabelled.
        """
        docs = list(documents)
        if not docs:
            raise FinesimError("no documents to index")
        if tagger is not None:
            tagger.check(encoder.fingerprint())
        index = cls.new(
            encoder.dim,
            model=encoder.source,
            fingerprint=encoder.fingerprint(),
            precision=precision,
            kind=kind,
            expected=sum(len(d.sentences) for d in docs),
            tagger=tagger,
            spec=encoder.spec,
            store=store,
        )
        index.encoder = encoder
        index.add(docs, batch_size=batch_size, cache=cache)
        return index

    @property
    def truncate_dim(self) -> int | None:
        """The ``truncate_dim`` the index was built with (None: full vectors, or an index saved
        before the spec): its queries must be encoded at it too."""
        return self.spec.truncate_dim if self.spec is not None else None

    def use(self, encoder: Encoder) -> None:
        """Encode text queries and new documents with ``encoder``; it must be the index's model,
        at the index's dimension (``truncate_dim``)."""
        if encoder.dim != self.ann.dim or encoder.truncate_dim != self.truncate_dim:
            built, given = (
                f"truncate_dim {n}" if n else "no truncate_dim"
                for n in (self.truncate_dim, encoder.truncate_dim)
            )
            want = f"--truncate-dim {self.truncate_dim}" if self.truncate_dim else "none"
            raise FinesimError(
                f"the index holds {self.ann.dim}-dimensional vectors ({built}), the encoder "
                f"gives {encoder.dim} ({given}): load the model with the index's truncation "
                f"({want}) or rebuild the index"
            )
        fingerprint = encoder.fingerprint()
        if fingerprint != self.fingerprint:
            raise FinesimError(
                f"the index was built with model {self.model!r} (fingerprint {self.fingerprint}); "
                f"model {encoder.source!r} has fingerprint {fingerprint}: its vectors are not "
                "comparable (use the index's model or rebuild the index)"
            )
        self.encoder = encoder

    def add(
        self, documents: Iterable[Document], *, batch_size: int = 32, cache: bool = True
    ) -> int:
        """Encode and append documents (ids must be new); returns how many were added."""
        if self.encoder is None:
            raise FinesimError("adding documents needs the index's model (Index.use(encoder))")
        docs = list(documents)
        self._check_new(docs)
        vectors = sentence_vectors(
            self.encoder, docs, batch_size=batch_size, cache=cache, task="document"
        )
        if self.tagger is not None:
            fill_labels(self.tagger, docs, vectors)
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, self.ann.dim), np.float32)
        encoder = self.encoder

        def encoded(kind: dv.DocVectors, kept: np.ndarray | None) -> np.ndarray | None:
            if kept is None or not docs:
                return None
            texts = [kind.text(d) for d in docs]
            return encode_cached(
                encoder, texts, batch_size=batch_size, cache=cache, task="document"
            )

        self.add_vectors(
            docs, matrix, encoded(dv.WHOLE, self.wholes), encoded(dv.TITLE, self.titles)
        )
        return len(docs)

    def _check_new(self, documents: Sequence[Document]) -> None:
        seen = set()
        for doc in documents:
            if doc.id in self._position or doc.id in seen:
                raise FinesimError(f"document id {doc.id!r} is already in the index")
            seen.add(doc.id)

    def add_vectors(
        self,
        documents: Sequence[Document],
        vectors: np.ndarray,
        wholes: np.ndarray | None = None,
        titles: np.ndarray | None = None,
    ) -> None:
        """Append documents whose sentence vectors (in order) are already computed.

        ``wholes`` and ``titles``: their title+abstract and title vectors (one row each), for
        hybrid scoring. Without them they are encoded with the index's model if it is set;
        otherwise an empty index keeps none (hybrid unavailable without wholes; titles are
        then encoded at search time) and a non-empty one that has them refuses.
        """
        total = sum(len(d.sentences) for d in documents)
        if vectors.shape != (total, self.ann.dim):
            raise FinesimError(
                f"expected {total} sentence vectors of dimension {self.ann.dim}, "
                f"got an array of shape {vectors.shape}"
            )
        self._check_new(documents)
        if not documents:
            return
        new_wholes = dv.doc_vectors(self, documents, wholes, self.wholes, dv.WHOLE)
        new_titles = dv.doc_vectors(self, documents, titles, self.titles, dv.TITLE)
        sizes = np.array([len(d.sentences) for d in documents], dtype=np.int64)
        codes = dv.label_codes(documents)
        papers = np.repeat(np.arange(len(self.ids), len(self.ids) + len(documents)), sizes)
        self.ann.add(vectors, papers=papers, facets=codes)
        self.labels = np.concatenate([self.labels, codes])
        self.means = np.concatenate([self.means, dv.unit_means(vectors, sizes)])
        self.wholes = dv.appended(self.wholes, new_wholes, self.ann.dim)
        self.titles = dv.appended(self.titles, new_titles, self.ann.dim)
        self.generation += 1
        self.doc_start = np.concatenate([self.doc_start, self.doc_start[-1] + np.cumsum(sizes)])
        for doc in documents:
            self._position[doc.id] = len(self.ids)
            self.ids.append(doc.id)
            self.docs.append(doc)

    # ---- persistence -------------------------------------------------------------------

    def save(self, path: Path | str | None = None, *, overwrite: bool = False) -> Path:
        """Write the index folder atomically (written beside the target, then swapped in)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise FinesimError("no path to save the index to")
        if target.exists() and not overwrite and target != self.path:
            raise FinesimError(f"{target} exists; pass --overwrite to replace it")
        if not target.parent.is_dir():
            raise FinesimError(f"{target.parent}: no such folder for the index")
        with atomic_path(target, directory=True) as tmp:
            written = folder.write(self, tmp)
        self.docs.moved(target)
        self.path, self.saved = target, written.moved(target) if written else None
        return target

    @classmethod
    def open(
        cls, path: Path | str, encoder: Encoder | None = None, *, verify: bool = True
    ) -> Index:
        """Load an index after checking every file against its manifest.

        ``encoder`` (needed for text queries) must be the model the index was built with.
        ``verify=False`` checks file sizes but skips the checksums (faster for huge indexes).
        """
        seen = folder.stamp(Path(path))  # the files read (linked by the next save if unchanged)
        index = cls(**folder.read(Path(path), verify=verify))
        index.path = Path(path)
        index.saved = folder.opened(index, Path(path), seen)
        if encoder is not None:
            index.use(encoder)
        return index

    # ---- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        """How many papers a search can find (deleted ones are not counted)."""
        return len(self.ids) - len(self.tombstones)

    def __contains__(self, ident: object) -> bool:
        """Whether a search can find the paper with id ``ident`` (a deleted one: no)."""
        return ident in self._position

    @property
    def live_ids(self) -> list[str]:
        """The ids of the papers a search can find, in index order."""
        return [self.ids[i] for i in self.tombstones.live(len(self.ids))]

    def delete(self, ids: Iterable[str], *, ignore_missing: bool = False) -> list[str]:
        """Leave papers out of every search from now on (saved with the index as tombstones;
        ``compacted`` drops them for good); returns the ids deleted. An id not in the index is
        an error unless ``ignore_missing``. A deleted id can be added again."""
        from finesim.search.lifecycle import positions_to_delete

        positions = positions_to_delete(self, ids, ignore_missing)
        self.tombstones = self.tombstones.added(positions)
        for position in positions:
            del self._position[self.ids[position]]
        self.generation += 1
        return [self.ids[p] for p in positions]

    def compacted(self) -> Index:
        """This index without its deleted papers: faiss structure, arrays and documents
        rewritten, positions renumbered; searches answer exactly as before."""
        from finesim.search.lifecycle import compact

        return compact(self)

    def info(self) -> dict[str, Any]:
        return {**folder.manifest(self), "path": str(self.path) if self.path else None}

    def position(self, ident: str) -> int:
        if ident not in self._position:
            raise FinesimError(f"no document with id {ident!r} in the index")
        return self._position[ident]

    def doc(self, position: int) -> Doc:
        """The stored sentence vectors and labels of the document at ``position``."""
        a, b = int(self.doc_start[position]), int(self.doc_start[position + 1])
        return Doc(self.ann.reconstruct(np.arange(a, b)), dv.label_names(self.labels[a:b]))

    def docs_at(self, positions: Sequence[int] | np.ndarray) -> list[Doc]:
        """Several documents at once (one faiss call)."""
        bounds = [(int(self.doc_start[p]), int(self.doc_start[p + 1])) for p in positions]
        ids = np.concatenate([np.arange(a, b) for a, b in bounds]) if bounds else np.zeros(0)
        vectors = self.ann.reconstruct(ids.astype(np.int64))
        out, at = [], 0
        for a, b in bounds:
            out.append(Doc(vectors[at : at + b - a], dv.label_names(self.labels[a:b])))
            at += b - a
        return out

    # ---- searching ---------------------------------------------------------------------

    def query(
        self,
        query: str | Sequence[str] | None = None,
        *,
        query_doc: str | None = None,
        facet: str | None = None,
        include_self: bool = False,
    ) -> SearchQuery:
        """A search query from a text (split into sentences), a list of sentences, or the id
        of an indexed paper (left out of the results unless ``include_self``)."""
        return make_query(self, query, query_doc, facet, include_self)

    def search(
        self,
        query: str | Sequence[str] | None = None,
        *,
        query_doc: str | None = None,
        facet: str | None = None,
        scoring: str = "min-l2",
        k: int = 10,
        candidates: int | None = None,
        explain: int = 3,
        include_self: bool = False,
        rerank: Reranker | None = None,
        rerank_top: int | None = None,
    ) -> list[Hit]:
        """The ``k`` papers most similar to a query on ``facet``, best first.

        ``query`` is text (split into sentences) or a list of sentences; ``query_doc`` the id
        of an indexed paper (which is then left out of the results unless ``include_self``).
        ``candidates`` is the stage-1 budget: how many papers stage 2 scores exactly
        (default ``default_budget``). Each hit carries its ``explain`` best sentence pairs.
        ``rerank``: a cross-encoder (``finesim.CrossEncoder``) that reorders the best
        ``rerank_top`` hits of stage 2 (default ``RERANK_TOP``; ``finesim.search.rerank``).
        Scoring ``hybrid`` runs through ``finesim.HybridSearcher(index)``.
        """
        if scoring not in SCORINGS:
            if scoring == "hybrid":
                raise FinesimError(
                    "scoring 'hybrid' runs through finesim.HybridSearcher(index).search(...)"
                )
            raise FinesimError(f"unknown scoring {scoring!r}; one of {', '.join(SCORINGS)}")
        if k < 1:
            raise FinesimError("k must be at least 1")
        top = rerank_depth(rerank, rerank_top)
        asked = self.query(query, query_doc=query_doc, facet=facet, include_self=include_self)
        if top:
            query_text(self, asked)  # a query without text cannot be reranked: say so first
        with one_thread():
            budget = min(candidates or default_budget(scoring, k), len(self))
            vectors = asked.doc.restrict(facet)[0].vectors
            pool = self.stage_one_pool(vectors, scoring, budget, asked.exclude)
            if len(pool) == 0:
                return []
            docs = self.docs_at(pool)
            scores, _ = score_candidates(asked.doc, docs, scoring, facet=facet)
            wanted = max(k, top)
            hits = top_hits(self, asked, pool, docs, scores, why=scoring, k=wanted, explain=explain)
        return rerank_hits(self, asked, hits, rerank, top, k)

    def stage_one_pool(
        self, vectors: np.ndarray, scoring: str, budget: int, exclude: int | None
    ) -> np.ndarray:
        """Stage 1 of a plain scoring: candidate positions for the query sentence vectors
        (never a deleted paper's: faiss skips their sentences)."""
        return stage_one(
            self.ann,
            self.doc_start,
            self.means,
            vectors,
            scoring,
            budget,
            self.tombstones.left_out(exclude),
            ef_search=int(self.search_params["ef_search"]),
            nprobe=int(self.search_params["nprobe"]),
            sel=self.ann.filter_for(self.tombstones, self.doc_start),
        )
