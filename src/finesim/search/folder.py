"""An index folder on disk: which file holds what, written whole and read back checked.

Why apart from ``Index``: the folder format (file names, manifest fields, the checks that
every file agrees with the manifest) is one concern; building and searching are others.

Deleted papers: ``tombstones.npy`` holds their positions, and the manifest counts
``documents`` (searchable) and ``deleted`` apart. Such a folder is written as format version 2,
which older finesims refuse (rather than search deleted papers); without tombstones it stays
version 1, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.facets.tagger import FacetTagger
from finesim.search import saved, store
from finesim.search.ann import load_ann
from finesim.search.docstore import TEXTS, DocStore
from finesim.search.saved import Saved
from finesim.search.tombstones import Tombstones

if TYPE_CHECKING:
    from finesim.search.index import Index

ANN, STARTS, LABEL_FILE, MEANS = "ann.faiss", "doc_start.npy", "labels.npy", "means.npy"
IDS, TAGGER, WHOLES, TITLES = "ids.json", "tagger", "wholes.npy", "titles.npy"
TOMBSTONES = "tombstones.npy"


def write(index: Index, folder: Path) -> Saved | None:
    """Every file of ``index`` into the (new, empty) ``folder``, the manifest last; the parts
    unchanged since the index was read or saved are hard links to those files
    (``finesim.search.saved``). Returns what the folder holds of the index."""
    linked = saved.link_unchanged(index.saved, _parts(index), _sizes(index), folder)

    def fresh(name: str) -> bool:
        return name not in linked

    if fresh(ANN):
        index.ann.save(folder / ANN)
    for name, array in ((STARTS, index.doc_start), (LABEL_FILE, index.labels)):
        if fresh(name):
            np.save(folder / name, array)
    for name, vectors in ((MEANS, index.means), (WHOLES, index.wholes), (TITLES, index.titles)):
        if vectors is not None and fresh(name):
            np.save(folder / name, vectors)
    if fresh(IDS):
        (folder / IDS).write_text(json.dumps(index.ids, ensure_ascii=False), encoding="utf-8")
    if fresh(TEXTS):
        index.docs.write(folder)
    if index.tagger is not None and not (folder / TAGGER).exists():
        index.tagger.save(folder / TAGGER)
    deleted = len(index.tombstones)
    if deleted:
        np.save(folder / TOMBSTONES, index.tombstones.positions)
    version = store.DELETES_VERSION if deleted else store.VERSION
    files = store.write_manifest(folder, manifest(index), version=version, known=linked)["files"]
    return saved.snapshot(folder, files, saved.stamp(folder), _parts(index), _sizes(index))


def _parts(index: Index) -> dict[str, Any]:
    """Each part of the folder (its main file or folder) and the object written to it."""
    return {
        ANN: index.ann,
        STARTS: index.doc_start,
        LABEL_FILE: index.labels,
        MEANS: index.means,
        WHOLES: index.wholes,
        TITLES: index.titles,
        IDS: index.ids,
        TEXTS: index.docs,
        TAGGER: index.tagger,
    }


def _sizes(index: Index) -> tuple[int, int]:
    return index.ann.size, len(index.ids)


def stamp(folder: Path) -> saved.Stamp:
    """The identity of the folder's files, taken before ``read``."""
    return saved.stamp(folder) if folder.is_dir() else {}


def opened(index: Index, folder: Path, seen: saved.Stamp) -> Saved | None:
    """What ``folder``, just read into ``index``, holds of it (None: it changed meanwhile)."""
    files = json.loads((folder / store.MANIFEST).read_text(encoding="utf-8"))["files"]
    return saved.snapshot(folder, files, seen, _parts(index), _sizes(index))


def manifest(index: Index) -> dict[str, Any]:
    """What the manifest says of the index (checksums are added by ``store``)."""
    model = {"source": index.model, "fingerprint": index.fingerprint, "dim": index.ann.dim}
    out = {
        "model": model,
        "kind": index.ann.kind,
        "precision": index.precision,
        "documents": len(index),  # searchable
        "deleted": len(index.tombstones),  # still stored, until compacted
        "tombstones": TOMBSTONES if len(index.tombstones) else None,
        "sentences": index.ann.size,
        "search": index.search_params,
        "tagger": TAGGER if index.tagger is not None else None,
        "wholes": WHOLES if index.wholes is not None else None,
        "titles": TITLES if index.titles is not None else None,
    }
    if index.ann.describe():  # compressed: codes, rescoring rows (absent before them)
        out["first_stage"] = index.ann.describe()
    if index.spec is not None:
        out["encoder"] = index.spec.to_json()
    return out


def read(folder: Path, *, verify: bool = True) -> dict[str, Any]:
    """The keyword arguments of ``Index(...)`` for the index in ``folder``, each file checked
    against the manifest (``verify=False`` checks sizes but skips the checksums)."""
    from finesim.models.spec import EncoderSpec

    meta = store.read_manifest(folder, verify=verify)
    try:
        model = meta["model"]
        n_deleted = int(meta.get("deleted") or 0)  # absent before deletes
        n_docs, n_sent = int(meta["documents"]) + n_deleted, int(meta["sentences"])
        kind, precision = str(meta["kind"]), str(meta["precision"])
        dim, source, fingerprint = int(model["dim"]), str(model["source"]), model["fingerprint"]
        search = meta.get("search") or {}
        if not isinstance(search, dict):
            raise TypeError("'search' is not an object")
        search = {key: int(search[key]) for key in ("ef_search", "nprobe") if key in search}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise FinesimError(f"{folder / store.MANIFEST}: incomplete manifest ({e})") from None
    ann = load_ann(folder / ANN, kind, precision, dim)
    ids = _load(folder / IDS, lambda p: json.loads(p.read_text(encoding="utf-8")))
    doc_start = _load(folder / STARTS, np.load)
    labels = _load(folder / LABEL_FILE, np.load)
    means = _load(folder / MEANS, lambda p: np.load(p, mmap_mode="r"))  # mean-vec only
    _agree(folder / ANN, ann.size == n_sent and ann.dim == dim)
    _agree(folder / IDS, isinstance(ids, list) and len(ids) == n_docs)
    _agree(folder / STARTS, len(doc_start) == n_docs + 1 and int(doc_start[-1]) == n_sent)
    _agree(folder / LABEL_FILE, len(labels) == n_sent)
    _agree(folder / MEANS, means.shape == (n_docs, ann.dim))
    tombstones = _tombstones(folder, meta, n_deleted, n_docs)
    live = tombstones.live(n_docs)
    _agree(folder / IDS, len({str(ids[i]) for i in live}) == len(live))  # live ids unique
    spec = None
    if meta.get("encoder") is not None:  # absent from indexes saved before the spec
        spec = EncoderSpec.from_json(meta["encoder"], f"{folder / store.MANIFEST}: encoder")
    return {
        "ann": ann,
        "model": source,
        "fingerprint": str(fingerprint),
        "precision": precision,
        "ids": [str(i) for i in ids],
        "doc_start": doc_start.astype(np.int64),
        "labels": labels.astype(np.int8),
        "means": np.asarray(means, dtype=np.float32),
        # absent from indexes saved before hybrid scoring / before the title term
        "wholes": _vectors(folder, meta, "wholes", WHOLES, (n_docs, ann.dim)),
        "titles": _vectors(folder, meta, "titles", TITLES, (n_docs, ann.dim)),
        "docs": DocStore.load(folder, n_docs),
        "tagger": FacetTagger.load(folder / TAGGER) if meta.get("tagger") else None,
        "search_params": search or None,
        "spec": spec,
        "tombstones": tombstones,
    }


def _tombstones(folder: Path, meta: dict[str, Any], deleted: int, positions: int) -> Tombstones:
    """The deleted positions the manifest announces (none in an index saved before deletes)."""
    if not deleted:
        return Tombstones()
    name = meta.get("tombstones")
    if name != TOMBSTONES:
        raise FinesimError(f"{folder / store.MANIFEST}: {deleted} deleted but no tombstones file")
    found = _load(folder / TOMBSTONES, np.load)
    ok = found.ndim == 1 and found.dtype.kind == "i" and len(np.unique(found)) == deleted
    _agree(folder / TOMBSTONES, ok and 0 <= found.min() and found.max() < positions)
    return Tombstones(found)


def _vectors(
    folder: Path, meta: dict[str, Any], key: str, name: str, shape: tuple[int, int]
) -> np.ndarray | None:
    if not meta.get(key):
        return None
    vectors = _load(folder / name, np.load)
    _agree(folder / name, vectors.shape == shape)
    return np.asarray(vectors, dtype=np.float32)


def _load(path: Path, reader: Callable[[Path], Any]) -> Any:
    try:
        return reader(path)
    except (OSError, *JSON_ERRORS) as e:  # JSONDecodeError is a ValueError
        raise FinesimError(f"{path}: unreadable ({json_problem(e)})") from None


def _agree(path: Path, ok: bool) -> None:
    if not ok:
        raise FinesimError(f"{path}: does not agree with the index manifest (corrupt index)")
