"""``finesim index build --engine ray``: sentences encoded on Ray, the faiss index built here.

Only the encoding (the costly part) is spread out: the sentences and, in the same job, each
document's title + abstract and its title (for hybrid scoring). The vectors come back
through the parquet parts and enter ``Index.add_vectors`` as ``Index.build`` would add them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from finesim._util.errors import FinesimError
from finesim.data.documents import Document
from finesim.engine.local import EncodeOptions
from finesim.engine.options import RayOptions
from finesim.engine.ray_encode import encode_texts_ray
from finesim.facets.tagger import FacetTagger, fill_labels
from finesim.models.encoder import Encoder
from finesim.search.index import Index
from finesim.search.milvus import MilvusStore


def build_index_ray(
    encoder: Encoder,
    documents: Sequence[Document],
    ray_options: RayOptions,
    workdir: Path,
    *,
    precision: str = "float32",
    kind: str = "auto",
    tagger: FacetTagger | None = None,
    batch_size: int = 32,
    store: MilvusStore | None = None,
) -> Index:
    """``Index.build`` with the sentence vectors from the actor pool (staged in ``workdir``).

    The actors load ``encoder.spec``. ``encoder`` is loaded here too: its fingerprint and
    dimension go into the index, and text queries need it later.
    """
    if not documents:
        raise FinesimError("no documents to index")
    fingerprint = encoder.fingerprint()
    if tagger is not None:
        tagger.check(fingerprint)
    texts = [s for doc in documents for s in doc.sentences]
    options = EncodeOptions(encoder.spec, batch_size)  # the whole spec: pooling, whitening too
    wholes = [doc.text for doc in documents]
    titles = [doc.title for doc in documents]
    encoded = encode_texts_ray(texts + wholes + titles, options, ray_options, workdir)
    n, m = len(texts), len(texts) + len(wholes)
    matrix, whole_vectors, title_vectors = encoded[:n], encoded[n:m], encoded[m:]
    index = Index.new(
        encoder.dim,
        model=encoder.source,
        fingerprint=fingerprint,
        precision=precision,
        kind=kind,
        expected=len(texts),
        tagger=tagger,
        spec=encoder.spec,
        store=store,
    )
    index.encoder = encoder
    if tagger is not None:
        bounds = np.cumsum([0, *(len(doc.sentences) for doc in documents)])
        fill_labels(
            tagger, documents, [matrix[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        )
    index.add_vectors(documents, matrix, whole_vectors, title_vectors)
    return index
