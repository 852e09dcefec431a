"""``SearchQuery``: the pieces of one search that always travel together, and how an index
makes one from a text or from one of its papers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from finesim._util.errors import FinesimError
from finesim.data.documents import FACETS, split_sentences, whole_text
from finesim.docsim.docs import Doc

if TYPE_CHECKING:
    from finesim.search.index import Index


@dataclass(frozen=True)
class SearchQuery:
    """A query paper or text as the index sees it.

    ``doc``: its sentence vectors and facet labels (stored for an indexed paper, tagged for a
    text when the index has a tagger); ``texts``: its sentences; ``facet``: the facet asked
    for (None: all sentences); ``exclude``: the position of the query paper in the index,
    left out of the results (None: nothing is left out); ``paper``: the query paper's id
    (None: a text query).
    """

    doc: Doc
    texts: Sequence[str]
    facet: str | None = None
    exclude: int | None = None
    paper: str | None = None


def make_query(
    index: Index,
    query: str | Sequence[str] | None,
    query_doc: str | None,
    facet: str | None,
    include_self: bool,
) -> SearchQuery:
    """``Index.query``: a paper's stored vectors, or a text's sentences encoded (and tagged
    when the index has a tagger)."""
    if facet is not None and facet not in FACETS:
        raise FinesimError(f"unknown facet {facet!r}; one of {', '.join(FACETS)}")
    if (query is None) == (query_doc is None):
        raise FinesimError("give either a query text or a query document id, not both")
    if query_doc is not None:
        position = index.position(query_doc)
        texts = index.docs.get(position)["sentences"]
        exclude = None if include_self else position
        return SearchQuery(index.doc(position), texts, facet, exclude, query_doc)
    sentences = split_sentences(query) if isinstance(query, str) else list(query or [])
    sentences = [s.strip() for s in sentences if s.strip()]
    if not sentences:
        raise FinesimError("the query text is empty")
    if index.encoder is None:
        raise FinesimError("a text query needs the index's model (Index.use(encoder))")
    from finesim.models.cache import task_options

    vectors = index.encoder.encode(sentences, **task_options(index.encoder, "query"))
    labels = index.tagger.predict(vectors, sentences) if index.tagger is not None else None
    return SearchQuery(Doc(vectors, labels), sentences, facet)


def whole_query_text(index: Index, asked: SearchQuery) -> str:
    """The query's whole text: an indexed paper's title + abstract, a text's sentences."""
    if asked.paper is not None:
        title = str(index.docs.get(index.position(asked.paper)).get("title") or "")
        return whole_text(title, asked.texts)
    return " ".join(asked.texts)
