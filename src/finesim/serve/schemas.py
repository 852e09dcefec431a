"""Request bodies of the HTTP API (pydantic validates types; ``app.py`` checks the limits)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from finesim.data.documents import FACETS
from finesim.search.hybrid import HYBRID
from finesim.search.index import SCORINGS

SEARCH_SCORINGS = (*SCORINGS, HYBRID)

Facet = Literal[FACETS]  # type: ignore[valid-type]
Scoring = Literal[SEARCH_SCORINGS]  # type: ignore[valid-type]


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request; unknown fields are ignored, as OpenAI's clients add some."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)  # truncate, then normalise (OpenAI's)
    user: str | None = None
    # finesim's (sentence-transformers'): one of the model's prompts, or the side of a search
    # (query / document: that prompt and a Router's route, as encode_query/encode_document)
    prompt_name: str | None = None
    input_type: Literal["query", "document"] | None = None


class SimilarityRequest(BaseModel):
    """Cosine similarity of every pair of ``texts`` (what ``finesim similarity`` prints)."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str]
    model: str | None = None


class SearchRequest(BaseModel):
    """A faceted search: ``query`` text or ``query_doc`` (an indexed paper id), not both."""

    model_config = ConfigDict(extra="forbid")

    index: str | None = None
    query: str | None = None
    query_doc: str | None = None
    facet: Facet | None = None
    scoring: Scoring = "min-l2"
    k: int = Field(10, ge=1)
    candidates: int | None = Field(None, ge=1, le=100_000)
    explain: int = Field(3, ge=0, le=20)
    preset: str | None = None  # hybrid scoring only: a shipped preset's name, never a path
    # the rerank stage: the server's --reranker reorders the best rerank_top hits
    rerank: bool = False
    rerank_top: int | None = Field(None, ge=1)


class RerankDocument(BaseModel):
    """A document as an object (Cohere's and Jina's clients may send ``{"text": ...}``)."""

    model_config = ConfigDict(extra="ignore")

    text: str


class RerankRequest(BaseModel):
    """Cohere's rerank request (v1 and v2, Jina's too): ``query`` against ``documents``
    (strings or ``{"text"}`` objects; ``texts``, text-embeddings-inference's name, also).
    Unknown fields (``max_tokens_per_doc``, ``priority``, ``rank_fields``) are ignored."""

    model_config = ConfigDict(extra="ignore")

    query: str
    documents: list[str | RerankDocument] | None = None
    texts: list[str] | None = None
    model: str | None = None
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False


class ErrorDetail(BaseModel):
    """OpenAI's error: one line naming the field, its kind, the field, the HTTP status."""

    message: str
    type: str
    param: str | None = None
    code: int | None = None


class ErrorResponse(BaseModel):
    """The body of every error answer (4xx and 5xx)."""

    error: ErrorDetail
