"""An index folder on disk: which file holds what, written whole and read back checked.

Why apart from ``Index``: the folder format (file names, manifest fields, the checks that
every file agrees with the manifest) is one concern; building and searching are others.
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
from finesim.search import store
from finesim.search.ann import load_ann
from finesim.search.docstore import DocStore

if TYPE_CHECKING:
    from finesim.search.index import Index

ANN, STARTS, LABEL_FILE, MEANS = "ann.faiss", "doc_start.npy", "labels.npy", "means.npy"
IDS, TAGGER, WHOLES, TITLES = "ids.json", "tagger", "wholes.npy", "titles.npy"


def write(index: Index, folder: Path) -> None:
    """Every file of ``index`` into the (new, empty) ``folder``, the manifest last."""
    index.ann.save(folder / ANN)
    np.save(folder / STARTS, index.doc_start)
    np.save(folder / LABEL_FILE, index.labels)
    np.save(folder / MEANS, index.means)
    if index.wholes is not None:
        np.save(folder / WHOLES, index.wholes)
    if index.titles is not None:
        np.save(folder / TITLES, index.titles)
    (folder / IDS).write_text(json.dumps(index.ids, ensure_ascii=False), encoding="utf-8")
    index.docs.write(folder)
    if index.tagger is not None:
        index.tagger.save(folder / TAGGER)
    store.write_manifest(folder, manifest(index))


def manifest(index: Index) -> dict[str, Any]:
    """What the manifest says of the index (checksums are added by ``store``)."""
    model = {"source": index.model, "fingerprint": index.fingerprint, "dim": index.ann.dim}
    out = {
        "model": model,
        "kind": index.ann.kind,
        "precision": index.precision,
        "documents": len(index.ids),
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
        n_docs, n_sent = int(meta["documents"]), int(meta["sentences"])
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
    }


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
