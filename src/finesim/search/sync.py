"""Keep an index equal to a library: build it once, then on every later run add only the
papers that are new.

Why: ``finesim papers LIBRARY`` is run again whenever the library grows. Encoding is the
slow part, so a run on a grown library encodes only the new papers and appends them. When a
paper was changed or removed since the index was built, the index is built afresh (faiss
cannot drop vectors); the embedding cache holds every text encoded before, so that costs
reading the cache, not encoding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.data.documents import Document
from finesim.facets.tagger import FacetTagger
from finesim.models.encoder import Encoder
from finesim.search.index import Index


@dataclass
class Synced:
    """What ``sync_index`` did: the index, how many papers it added, and, when it built the
    index afresh, why (``None``: it was new, or updated in place)."""

    index: Index
    added: int
    kept: int
    rebuilt: str | None = None
    new: bool = False


def _stored(document: Document) -> dict[str, Any]:
    """A document as the index's document store keeps it (what a later run compares)."""
    record = {"id": document.id, "title": document.title, "sentences": document.sentences}
    return json.loads(json.dumps({**record, **document.extra}))


def _changes(index: Index, documents: Sequence[Document]) -> tuple[list[str], list[str]]:
    """Ids of indexed papers that are no longer in ``documents``, and of those that changed."""
    wanted = {d.id: d for d in documents}
    removed, changed = [], []
    deleted = set(index.tombstones.positions.tolist())  # gone already: neither removed nor kept
    for position, record in enumerate(index.docs.records()):
        if position in deleted:
            continue
        doc = wanted.get(str(record.get("id")))
        if doc is None:
            removed.append(str(record.get("id")))
        elif _stored(doc) != record:
            changed.append(doc.id)
    return removed, changed


def _why(removed: list[str], changed: list[str]) -> str:
    parts = []
    if changed:
        parts.append(f"{len(changed)} changed (first: {changed[0]})")
    if removed:
        parts.append(f"{len(removed)} no longer in the library (first: {removed[0]})")
    return "papers since the last run: " + "; ".join(parts)


def sync_index(
    path: Path,
    documents: Sequence[Document],
    encoder: Encoder,
    *,
    tagger: FacetTagger | None,
    rebuild: bool = False,
    batch_size: int = 32,
) -> Synced:
    """Make the index at ``path`` hold exactly ``documents`` (written atomically).

    A new index is built with ``tagger``; an existing one must have been built with
    ``encoder``'s model (``rebuild`` builds it afresh otherwise) and keeps its own tagger when
    papers are only added.
    """
    docs = list(documents)
    if not path.exists():
        index = Index.build(encoder, docs, tagger=tagger, batch_size=batch_size)
        index.save(path)
        return Synced(index, len(docs), 0, new=True)
    opened = Index.open(path)
    reason = "--rebuild" if rebuild else None
    if reason is None and opened.fingerprint != encoder.fingerprint():
        raise FinesimError(
            f"{path} was built with model {opened.model!r}, not {encoder.source!r}: pass "
            "--rebuild to build it again with this model, or another --out"
        )
    if reason is None:
        removed, changed = _changes(opened, docs)
        if removed or changed:
            reason = _why(removed, changed)
    if reason is not None:
        index = Index.build(encoder, docs, tagger=tagger, batch_size=batch_size)
        index.save(path, overwrite=True)
        return Synced(index, len(docs), 0, rebuilt=reason)
    known = set(opened.live_ids)
    new = [d for d in docs if d.id not in known]
    if new:
        opened.use(encoder)
        opened.add(new, batch_size=batch_size)
        opened.save()
    return Synced(opened, len(new), len(known))
