"""``finesim.Index``: faceted paper search over sentence vectors, with explanations.

A search has two stages. Stage 1 asks faiss for the nearest sentence vectors of each query
sentence (of the chosen facet) and turns them into candidate papers (``candidates.gather``).
Stage 2 scores those candidates exactly with the scorers of the CSFCube evaluator
(``finesim.docsim.score_candidates``) on their stored sentence vectors, and explains each hit
by its best aligned query/candidate sentence pairs.

Scoring ``hybrid`` fuses several terms (``finesim.docsim.hybrid`` presets); it also needs one
whole-document vector per paper (``wholes.npy``), which indexes built before it lack: they
still search with the other scorings. Its stages are described in ``finesim.search.hybrid``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.threads import one_thread
from finesim.data.documents import LABELS, Document, split_sentences
from finesim.docsim import FACETS, Doc, Match, facet_of, score_candidates
from finesim.docsim.hybrid import Preset, explaining_term
from finesim.facets.tagger import FacetTagger, fill_labels
from finesim.models.encoder import Encoder
from finesim.search import hybrid, store
from finesim.search.ann import Ann, choose_kind, factory_string
from finesim.search.candidates import stage_one
from finesim.search.docstore import DocStore
from finesim.search.hybrid import HYBRID

SCORINGS = ("min-l2", "max-sim", "ot", "mean-vec")
ANN, STARTS, LABEL_FILE, MEANS = "ann.faiss", "doc_start.npy", "labels.npy", "means.npy"
IDS, TAGGER, WHOLES, TITLES = "ids.json", "tagger", "wholes.npy", "titles.npy"
NO_LABEL = -1


@dataclass(frozen=True)
class DocVectors:
    """One vector per document beside the sentence vectors (hybrid scoring)."""

    what: str  # in messages
    about: str  # the text, in messages
    keyword: str  # the argument of add_vectors that carries them
    text: Callable[[Document], str]  # what is encoded


WHOLE = DocVectors("whole-document", "title+abstract", "wholes", lambda d: d.text)
TITLE = DocVectors("title", "title", "titles", lambda d: d.title)


@dataclass(frozen=True)
class Pair:
    """Why a hit matched: one query sentence, one of the hit's sentences, and how close."""

    query: str
    query_facet: str | None
    candidate: str
    candidate_facet: str | None
    distance: float
    similarity: float
    weight: float | None = None  # transport mass (ot only)


@dataclass
class Hit:
    rank: int
    id: str
    title: str
    score: float
    pairs: list[Pair]
    fields: dict[str, Any] = field(default_factory=dict)  # other fields of the document

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["pairs"] = [{k: v for k, v in p.items() if v is not None} for p in out["pairs"]]
        if not self.fields:
            out.pop("fields")
        return out


def default_budget(scoring: str, k: int) -> int:
    """Candidates scored exactly in stage 2 when the caller does not say.

    Measured on CSFCube (``finesim bench agreement``): 100 papers give min-l2's exact top 100;
    the scorers that use every query sentence need about 5 times ``k`` (500 for the top 100);
    hybrid pools as many from each of its signals.
    """
    return max(100, 10 * k) if scoring in ("min-l2", "mean-vec") else max(500, 10 * k)


def _label_names(codes: np.ndarray) -> list[str] | None:
    if len(codes) == 0 or (codes == NO_LABEL).any():
        return None
    return [LABELS[int(c)] for c in codes]


class Index:
    """Sentence vectors of documents in faiss, with their documents, facets and model.

    Build with ``Index.build(encoder, documents)`` (or ``Index.new`` + ``add_vectors`` for
    precomputed vectors), ``save`` it, ``Index.open`` it, then ``search``.
    """

    def __init__(
        self,
        ann: Ann,
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
    ) -> None:
        self.ann = ann
        self.model, self.fingerprint, self.precision = model, fingerprint, precision
        self.ids = ids or []
        self._position = {ident: i for i, ident in enumerate(self.ids)}
        self.doc_start = doc_start if doc_start is not None else np.zeros(1, dtype=np.int64)
        self.labels = labels if labels is not None else np.zeros(0, dtype=np.int8)
        # one unit mean vector per document: exact stage 1 for mean-vec
        self.means = means if means is not None else np.zeros((0, ann.dim), dtype=np.float32)
        # one title+abstract vector per document (hybrid scoring); None: the index has none
        self.wholes = wholes
        # one title vector per document (hybrid term ``title``); None: encoded when needed
        self.titles = titles
        self.hybrid_cache = hybrid.Cache()  # what hybrid search builds on first use
        self.docs = docs or DocStore()
        self.tagger = tagger
        self.search_params = {"ef_search": 128, "nprobe": 32, **(search_params or {})}
        self.encoder: Encoder | None = None
        self.path: Path | None = None

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
    ) -> Index:
        """An empty index; ``expected`` (sentence vectors) lets ``kind='auto'`` choose."""
        chosen = choose_kind(kind, expected)
        factory_string(chosen, precision, expected)  # validates precision
        ann = Ann.create(dim, chosen, precision, expected)
        empty = np.zeros((0, dim), dtype=np.float32)
        return cls(
            ann,
            model=model,
            fingerprint=fingerprint,
            precision=precision,
            wholes=empty,
            titles=empty.copy(),
            tagger=tagger,
        )

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
    ) -> Index:
        """Encode ``documents`` sentence by sentence and index them.

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
        )
        index.encoder = encoder
        index.add(docs, batch_size=batch_size, cache=cache)
        return index

    def use(self, encoder: Encoder) -> None:
        """Encode text queries and new documents with ``encoder``; it must be the index's model."""
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
        from finesim.facets.train import sentence_vectors
        from finesim.models.cache import encode_cached

        if self.encoder is None:
            raise FinesimError("adding documents needs the index's model (Index.use(encoder))")
        docs = list(documents)
        self._check_new(docs)
        vectors = sentence_vectors(self.encoder, docs, batch_size=batch_size, cache=cache)
        if self.tagger is not None:
            fill_labels(self.tagger, docs, vectors)
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, self.ann.dim), np.float32)
        encoder = self.encoder

        def encoded(kind: DocVectors, kept: np.ndarray | None) -> np.ndarray | None:
            if kept is None or not docs:
                return None
            texts = [kind.text(d) for d in docs]
            return encode_cached(encoder, texts, batch_size=batch_size, cache=cache)

        self.add_vectors(docs, matrix, encoded(WHOLE, self.wholes), encoded(TITLE, self.titles))
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
        new_wholes = self._doc_vectors(documents, wholes, self.wholes, WHOLE)
        new_titles = self._doc_vectors(documents, titles, self.titles, TITLE)
        self.ann.add(vectors)
        codes = [
            code
            for d in documents
            for code in (
                [NO_LABEL] * len(d.sentences)
                if d.labels is None
                else [LABELS.index(x) for x in d.labels]
            )
        ]
        self.labels = np.concatenate([self.labels, np.array(codes, dtype=np.int8)])
        sizes = np.array([len(d.sentences) for d in documents], dtype=np.int64)
        bounds = np.r_[0, np.cumsum(sizes)[:-1]]
        means = np.add.reduceat(vectors.astype(np.float32), bounds, axis=0) / sizes[:, None]
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        self.means = np.concatenate([self.means, means.astype(np.float32)])
        self.wholes = _appended(self.wholes, new_wholes, self.ann.dim)
        self.titles = _appended(self.titles, new_titles, self.ann.dim)
        self.hybrid_cache = hybrid.Cache()
        self.doc_start = np.concatenate([self.doc_start, self.doc_start[-1] + np.cumsum(sizes)])
        for doc in documents:
            self._position[doc.id] = len(self.ids)
            self.ids.append(doc.id)
            self.docs.append(doc)

    def _doc_vectors(
        self,
        documents: Sequence[Document],
        given: np.ndarray | None,
        kept: np.ndarray | None,
        kind: DocVectors,
    ) -> np.ndarray | None:
        """The ``kind`` vectors of new documents (None: the index will keep none): given,
        or encoded with the index's model, as the index already keeps them or not."""
        what = kind.what
        if given is not None:
            if kept is None and self.ids:
                raise FinesimError(
                    f"the index keeps no {what} vectors; add documents without them "
                    "(or rebuild the index)"
                )
            if given.shape != (len(documents), self.ann.dim):
                raise FinesimError(
                    f"expected {len(documents)} {what} vectors of dimension "
                    f"{self.ann.dim}, got an array of shape {given.shape}"
                )
            return given.astype(np.float32)
        if kept is None:
            return None
        if self.encoder is not None:
            return self.encoder.encode([kind.text(d) for d in documents]).astype(np.float32)
        if self.ids:
            raise FinesimError(
                f"the index keeps a {what} vector per document: pass the {kind.about} "
                f"vectors ({kind.keyword}) or set the index's model (Index.use(encoder))"
            )
        return None

    # ---- persistence -------------------------------------------------------------------

    def save(self, path: Path | str | None = None, *, overwrite: bool = False) -> Path:
        """Write the index folder atomically (temp folder, then rename)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise FinesimError("no path to save the index to")
        if target.exists() and not overwrite and target != self.path:
            raise FinesimError(f"{target} exists; pass --overwrite to replace it")
        if not target.parent.is_dir():
            raise FinesimError(f"{target.parent}: no such folder for the index")
        with atomic_path(target, directory=True) as tmp:
            self.ann.save(tmp / ANN)
            np.save(tmp / STARTS, self.doc_start)
            np.save(tmp / LABEL_FILE, self.labels)
            np.save(tmp / MEANS, self.means)
            if self.wholes is not None:
                np.save(tmp / WHOLES, self.wholes)
            if self.titles is not None:
                np.save(tmp / TITLES, self.titles)
            (tmp / IDS).write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")
            self.docs.write(tmp)
            if self.tagger is not None:
                self.tagger.save(tmp / TAGGER)
            store.write_manifest(tmp, self._manifest())
        self.docs.moved(target)
        self.path = target
        return target

    def _manifest(self) -> dict[str, Any]:
        return {
            "model": {"source": self.model, "fingerprint": self.fingerprint, "dim": self.ann.dim},
            "kind": self.ann.kind,
            "precision": self.precision,
            "documents": len(self.ids),
            "sentences": self.ann.size,
            "search": self.search_params,
            "tagger": TAGGER if self.tagger is not None else None,
            "wholes": WHOLES if self.wholes is not None else None,
            "titles": TITLES if self.titles is not None else None,
        }

    @classmethod
    def open(
        cls, path: Path | str, encoder: Encoder | None = None, *, verify: bool = True
    ) -> Index:
        """Load an index after checking every file against its manifest.

        ``encoder`` (needed for text queries) must be the model the index was built with.
        ``verify=False`` checks file sizes but skips the checksums (faster for huge indexes).
        """
        folder = Path(path)
        manifest = store.read_manifest(folder, verify=verify)
        try:
            model = manifest["model"]
            n_docs, n_sent = int(manifest["documents"]), int(manifest["sentences"])
            kind, precision = str(manifest["kind"]), str(manifest["precision"])
        except (KeyError, TypeError, ValueError) as e:
            raise FinesimError(f"{folder / store.MANIFEST}: incomplete manifest ({e})") from None
        ann = Ann.load(folder / ANN, kind)
        ids = _load(folder / IDS, lambda p: json.loads(p.read_text(encoding="utf-8")))
        doc_start = _load(folder / STARTS, np.load)
        labels = _load(folder / LABEL_FILE, np.load)
        means = _load(folder / MEANS, np.load)
        _agree(folder / ANN, ann.size == n_sent and ann.dim == int(model["dim"]))
        _agree(folder / IDS, isinstance(ids, list) and len(ids) == n_docs)
        _agree(folder / STARTS, len(doc_start) == n_docs + 1 and int(doc_start[-1]) == n_sent)
        _agree(folder / LABEL_FILE, len(labels) == n_sent)
        _agree(folder / MEANS, means.shape == (n_docs, ann.dim))
        wholes = None
        if manifest.get("wholes"):  # absent from indexes saved before hybrid scoring
            wholes = _load(folder / WHOLES, np.load)
            _agree(folder / WHOLES, wholes.shape == (n_docs, ann.dim))
        titles = None
        if manifest.get("titles"):  # absent from indexes saved before the title term
            titles = _load(folder / TITLES, np.load)
            _agree(folder / TITLES, titles.shape == (n_docs, ann.dim))
        tagger = FacetTagger.load(folder / TAGGER) if manifest.get("tagger") else None
        index = cls(
            ann,
            model=str(model["source"]),
            fingerprint=str(model["fingerprint"]),
            precision=precision,
            ids=[str(i) for i in ids],
            doc_start=doc_start.astype(np.int64),
            labels=labels.astype(np.int8),
            means=means.astype(np.float32),
            wholes=None if wholes is None else wholes.astype(np.float32),
            titles=None if titles is None else titles.astype(np.float32),
            docs=DocStore.load(folder, n_docs),
            tagger=tagger,
            search_params=manifest.get("search"),
        )
        index.path = folder
        if encoder is not None:
            index.use(encoder)
        return index

    # ---- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    def info(self) -> dict[str, Any]:
        return {**self._manifest(), "path": str(self.path) if self.path else None}

    def position(self, ident: str) -> int:
        if ident not in self._position:
            raise FinesimError(f"no document with id {ident!r} in the index")
        return self._position[ident]

    def doc(self, position: int) -> Doc:
        """The stored sentence vectors and labels of the document at ``position``."""
        a, b = int(self.doc_start[position]), int(self.doc_start[position + 1])
        return Doc(self.ann.reconstruct(np.arange(a, b)), _label_names(self.labels[a:b]))

    def docs_at(self, positions: Sequence[int] | np.ndarray) -> list[Doc]:
        """Several documents at once (one faiss call)."""
        bounds = [(int(self.doc_start[p]), int(self.doc_start[p + 1])) for p in positions]
        ids = np.concatenate([np.arange(a, b) for a, b in bounds]) if bounds else np.zeros(0)
        vectors = self.ann.reconstruct(ids.astype(np.int64))
        out, at = [], 0
        for a, b in bounds:
            out.append(Doc(vectors[at : at + b - a], _label_names(self.labels[a:b])))
            at += b - a
        return out

    # ---- searching ---------------------------------------------------------------------

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
        preset: str | Preset | None = None,
    ) -> list[Hit]:
        """The ``k`` papers most similar to a query on ``facet``, best first.

        ``query`` is text (split into sentences) or a list of sentences; ``query_doc`` the id
        of an indexed paper (which is then left out of the results unless ``include_self``).
        ``candidates`` is the stage-1 budget: how many papers stage 2 scores exactly
        (default ``default_budget``). Each hit carries its ``explain`` best sentence pairs.
        ``preset`` (scoring ``hybrid`` only): a shipped preset name, a JSON file or a ``Preset``
        (default: the ``default`` preset); hits then carry its fused scores.
        """
        if scoring not in (*SCORINGS, HYBRID):
            known = ", ".join((*SCORINGS, HYBRID))
            raise FinesimError(f"unknown scoring {scoring!r}; one of {known}")
        if preset is not None and scoring != HYBRID:
            raise FinesimError(f"a preset applies to scoring {HYBRID!r} only, not {scoring!r}")
        if facet is not None and facet not in FACETS:
            raise FinesimError(f"unknown facet {facet!r}; one of {', '.join(FACETS)}")
        if k < 1:
            raise FinesimError("k must be at least 1")
        chosen = hybrid.check_preset(self, preset) if scoring == HYBRID else None
        qdoc, qtexts, exclude = self._query(query, query_doc)
        if chosen is not None:
            hquery = hybrid.hybrid_query(self, qdoc, qtexts, query_doc, facet, chosen)
            with one_thread():
                budget = min(candidates or default_budget(HYBRID, k), len(self.ids))
                found = hybrid.scored_pool(
                    self, hquery, facet, chosen, budget, None if include_self else exclude
                )
                if found is None:
                    return []
                pool, docs, scores = found
                why = explaining_term(chosen)
                return self.ranked(pool, docs, scores, hquery.doc, qtexts, facet, why, k, explain)
        with one_thread():
            return self._search(
                qdoc, qtexts, exclude, facet, scoring, k, candidates, explain, include_self
            )

    def _search(
        self,
        qdoc: Doc,
        qtexts: Sequence[str],
        exclude: int | None,
        facet: str | None,
        scoring: str,
        k: int,
        candidates: int | None,
        explain: int,
        include_self: bool,
    ) -> list[Hit]:
        if include_self:
            exclude = None
        budget = candidates or default_budget(scoring, k)
        vectors = qdoc.restrict(facet)[0].vectors
        pool = self.stage_one_pool(vectors, scoring, min(budget, len(self.ids)), exclude)
        if len(pool) == 0:
            return []
        docs = self.docs_at(pool)
        scores, _ = score_candidates(qdoc, docs, scoring, facet=facet)
        return self.ranked(pool, docs, scores, qdoc, qtexts, facet, scoring, k, explain)

    def ranked(
        self,
        pool: np.ndarray,
        docs: Sequence[Doc],
        scores: np.ndarray,
        qdoc: Doc,
        qtexts: Sequence[str],
        facet: str | None,
        why: str,
        k: int,
        explain: int,
    ) -> list[Hit]:
        """The top ``k`` of the scored pool (ties by position), explained by scorer ``why``."""
        order = np.lexsort((pool, -scores))[:k]
        matches: list[list[Match]] = [[] for _ in order]
        if explain > 0:
            explained = score_candidates(
                qdoc, [docs[i] for i in order], why, facet=facet, explain=explain
            )[1]
            matches = explained or matches
        hits = []
        for rank, (i, found) in enumerate(zip(order, matches, strict=True), start=1):
            hits.append(self._hit(rank, int(pool[i]), float(scores[i]), qdoc, qtexts, found))
        return hits

    # ---- hybrid scoring (the stages live in finesim.search.hybrid) --------------------

    def stage_one_pool(
        self, vectors: np.ndarray, scoring: str, budget: int, exclude: int | None
    ) -> np.ndarray:
        """Stage 1 of a plain scoring: candidate positions for the query sentence vectors."""
        return stage_one(
            self.ann,
            self.doc_start,
            self.means,
            vectors,
            scoring,
            budget,
            exclude,
            ef_search=int(self.search_params["ef_search"]),
            nprobe=int(self.search_params["nprobe"]),
        )

    def _query(
        self, query: str | Sequence[str] | None, query_doc: str | None
    ) -> tuple[Doc, list[str], int | None]:
        if (query is None) == (query_doc is None):
            raise FinesimError("give either a query text or a query document id, not both")
        if query_doc is not None:
            position = self.position(query_doc)
            return self.doc(position), self.docs.get(position)["sentences"], position
        sentences = split_sentences(query) if isinstance(query, str) else list(query or [])
        sentences = [s.strip() for s in sentences if s.strip()]
        if not sentences:
            raise FinesimError("the query text is empty")
        if self.encoder is None:
            raise FinesimError("a text query needs the index's model (Index.use(encoder))")
        vectors = self.encoder.encode(sentences)
        labels = self.tagger.predict(vectors) if self.tagger is not None else None
        return Doc(vectors, labels), sentences, None

    def _hit(
        self,
        rank: int,
        position: int,
        score: float,
        qdoc: Doc,
        qtexts: Sequence[str],
        matches: Sequence[Match],
    ) -> Hit:
        record = self.docs.get(position)
        a = int(self.doc_start[position])
        pairs = []
        for m in matches:
            code = int(self.labels[a + m.candidate])
            pairs.append(
                Pair(
                    qtexts[m.query],
                    facet_of(qdoc.labels[m.query]) if qdoc.labels is not None else None,
                    record["sentences"][m.candidate],
                    facet_of(LABELS[code]) if code != NO_LABEL else None,
                    m.distance,
                    m.similarity,
                    m.weight,
                )
            )
        fields = {k: v for k, v in record.items() if k not in ("id", "title", "sentences")}
        return Hit(rank, self.ids[position], str(record.get("title", "")), score, pairs, fields)


def _appended(kept: np.ndarray | None, new: np.ndarray | None, dim: int) -> np.ndarray | None:
    if new is None:
        return None
    old = kept if kept is not None else np.zeros((0, dim), dtype=np.float32)
    return np.concatenate([old, new]).astype(np.float32)


def _load(path: Path, reader: Callable[[Path], Any]) -> Any:
    try:
        return reader(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise FinesimError(f"{path}: unreadable ({e})") from None


def _agree(path: Path, ok: bool) -> None:
    if not ok:
        raise FinesimError(f"{path}: does not agree with the index manifest (corrupt index)")
