"""MTEB adapter: ``mteb.evaluate`` runs a finesim ``Encoder`` through MTEB's encoder protocol.

Written against mteb 2.x (``mteb.models.models_protocols.EncoderProtocol``): ``encode`` takes
a DataLoader of batches (``{"text": [...]}``) and keyword-only ``task_metadata``, ``hf_split``,
``hf_subset`` and ``prompt_type``; ``similarity`` / ``similarity_pairwise`` score embeddings;
``mteb_model_meta`` describes the model. mteb's protocol is structural (``runtime_checkable``),
so the class needs no mteb base class and mteb is imported only when metadata or an evaluation
is asked for: finesim itself never needs it (``pip install finesim[mteb]``).

MTEB's ``prompt_type`` (query or document, None for symmetric tasks such as STS) picks the
encoder's route when its ``encode`` takes ``task=`` (``_encode``); an encoder without routes
embeds both sides alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.models import registry
from finesim.models.cache import task_options

if TYPE_CHECKING:
    from finesim.models.encoder import Encoder

INSTALL_HINT = "mteb is not installed: pip install finesim[mteb]"
ROUTES = ("query", "document")  # MTEB's PromptType values, also the encoder's task names


def require_mteb() -> ModuleType:
    """``import mteb``, or a one-line ``FinesimError`` saying how to install it."""
    try:
        import mteb
    except ImportError:
        raise FinesimError(INSTALL_HINT) from None
    return mteb


def _route(prompt_type: Any) -> str | None:
    """``PromptType.query`` / ``"query"`` -> ``"query"``; None (symmetric tasks) -> None."""
    if prompt_type is None:
        return None
    value = str(getattr(prompt_type, "value", prompt_type))
    if value not in ROUTES:
        raise FinesimError(f"MTEB prompt_type {value!r}: expected one of {', '.join(ROUTES)}")
    return value


def _encode(
    encoder: Encoder,
    texts: Sequence[str],
    prompt_type: str | None,
    batch_size: int = 32,
    show_progress: bool | None = None,
) -> np.ndarray:
    """Embed ``texts`` as ``prompt_type`` (query, document or None), float32 rows in order.

    The one place the side is chosen: a query as ``encode_query`` (the model's "query" prompt
    and a Router's query route), a document as ``encode_document``; a model that encodes both
    alike gets plain ``encode`` calls."""
    options: dict[str, Any] = {"batch_size": batch_size, "show_progress": show_progress}
    options.update(task_options(encoder, prompt_type))
    vectors = np.asarray(encoder.encode(list(texts), **options), dtype=np.float32)
    return vectors.reshape(len(texts), -1)


def _texts(inputs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The texts of MTEB's batches, in order; anything but text is refused in one line."""
    texts: list[str] = []
    for batch in inputs:
        if "text" not in batch:
            raise FinesimError(f"MTEB batch with fields {sorted(batch)}: finesim encodes text only")
        for text in batch["text"]:
            if not isinstance(text, str):
                raise FinesimError(
                    f"MTEB input of type {type(text).__name__}: finesim encodes strings only"
                )
            texts.append(text)
    return texts


def _matrix(embeddings: Any) -> np.ndarray:
    """Embeddings as a 2-d float64 array (MTEB may hand back torch tensors or single vectors)."""
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu().numpy()
    array = np.asarray(embeddings, dtype=np.float64)
    return array.reshape(1, -1) if array.ndim == 1 else array


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def cosine_matrix(embeddings1: Any, embeddings2: Any) -> np.ndarray:
    """Cosine of every row of ``embeddings1`` with every row of ``embeddings2``.

    float64, as finesim's own evaluators compute it, so MTEB's figures equal theirs."""
    return _unit(_matrix(embeddings1)) @ _unit(_matrix(embeddings2)).T


def cosine_pairwise(embeddings1: Any, embeddings2: Any) -> np.ndarray:
    """Cosine of row i of ``embeddings1`` with row i of ``embeddings2``."""
    a, b = _matrix(embeddings1), _matrix(embeddings2)
    if a.shape != b.shape:
        raise FinesimError(f"pairwise similarity of shapes {a.shape} and {b.shape}: must match")
    return np.asarray((_unit(a) * _unit(b)).sum(axis=1))


def model_name(source: str) -> str:
    """MTEB's ``organization/model`` name: the hub name of ``minilm``/``mpnet``, else
    ``finesim/<folder name>`` (MTEB refuses names without a slash)."""
    if source in registry.NAMES:
        return registry.NAMES[source]
    return f"finesim/{Path(source).name or source}"


class MTEBEncoder:
    """A finesim ``Encoder`` as MTEB's ``EncoderProtocol``.

    ``model_name`` is an ``Encoder`` already loaded, or a model name or folder to load (with
    ``device`` and ``encoder_options`` such as ``backend`` or ``pooling``), which is how
    MTEB's own loader calls it. ``revision`` names the weights in MTEB's results; default
    ``finesim-`` and the start of the encoder's fingerprint, so results of different weights
    (a fine-tuned copy, an int8 export) never share a cache entry. ``name`` overrides
    ``model_name(encoder.source)``.
    """

    def __init__(
        self,
        model_name: str | os.PathLike[str] | Encoder = registry.DEFAULT_MODEL,
        revision: str | None = None,
        *,
        device: str | None = None,
        name: str | None = None,
        **encoder_options: Any,
    ) -> None:
        if isinstance(model_name, (str, os.PathLike)):
            from finesim.models.encoder import Encoder

            self.encoder = Encoder(model_name, device=device, **encoder_options)
        else:
            self.encoder = model_name
        self.revision = revision
        self.name = name
        self._meta: Any = None

    def encode(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Embed MTEB's batches: one float32 row per text, on ``prompt_type``'s route.

        ``kwargs`` are MTEB's ``encode_kwargs``: ``batch_size`` and ``show_progress_bar`` are
        used; ``precision`` other than float32 is refused (finesim returns float32 only)."""
        precision = kwargs.get("precision")
        if precision not in (None, "float32"):
            raise FinesimError(f"MTEB precision {precision!r}: finesim returns float32 only")
        return _encode(
            self.encoder,
            _texts(inputs),
            _route(prompt_type),
            batch_size=int(kwargs.get("batch_size", 32)),
            show_progress=kwargs.get("show_progress_bar"),
        )

    def similarity(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        """All-pairs cosine (the model's ``similarity_fn_name``), rows x columns."""
        return cosine_matrix(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        """Row-by-row cosine of two aligned sets of embeddings."""
        return cosine_pairwise(embeddings1, embeddings2)

    @property
    def mteb_model_meta(self) -> Any:
        """``mteb.models.ModelMeta`` of this encoder (built once: the fingerprint hashes the
        weights)."""
        if self._meta is None:
            self._meta = model_meta(self.encoder, name=self.name, revision=self.revision)
        return self._meta


def model_meta(encoder: Encoder, name: str | None = None, revision: str | None = None) -> Any:
    """What MTEB records about ``encoder``: fields finesim does not know (licence, release
    date, training data, languages) are left None, as MTEB allows for unknown values."""
    require_mteb()
    from mteb.models import ModelMeta
    from mteb.models.model_meta import ScoringFunction

    backend = getattr(encoder, "backend", "torch")
    return ModelMeta(
        loader=None,
        name=name or model_name(encoder.source),
        revision=revision or f"finesim-{encoder.fingerprint()[:12]}",
        release_date=None,
        languages=None,
        n_parameters=sum(p.numel() for p in encoder.parameters()),
        memory_usage_mb=None,
        max_tokens=encoder.max_length,
        embed_dim=encoder.dim,
        license=None,
        open_weights=None,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch"] if backend == "torch" else ["ONNX"],
        similarity_fn_name=ScoringFunction("cosine"),
        use_instructions=False,
        training_datasets=None,
    )


def evaluate_mteb(
    model: Encoder | MTEBEncoder,
    tasks: Any,
    *,
    results_folder: str | os.PathLike[str] | None = None,
    batch_size: int = 32,
) -> Any:
    """``mteb.evaluate`` of ``model`` on ``tasks`` (an ``AbsTask`` or several); its
    ``ModelResult``.

    Results are written under ``results_folder`` (MTEB's result cache) or nowhere (None), and
    always computed afresh: a figure never comes from an earlier run's file."""
    mteb = require_mteb()
    adapter = model if isinstance(model, MTEBEncoder) else MTEBEncoder(model)
    cache = mteb.ResultCache(cache_path=results_folder) if results_folder is not None else None
    return mteb.evaluate(
        adapter,
        tasks,
        cache=cache,
        overwrite_strategy="always",
        encode_kwargs={"batch_size": batch_size, "show_progress_bar": False},
        show_progress_bar=False,
        co2_tracker=False,
    )
