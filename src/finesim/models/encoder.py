"""``finesim.Encoder``: transformer + pooling + optional dense layers + optional L2 norm."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from finesim._util.atomic import save_folder
from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.models import registry
from finesim.models.dense import Dense
from finesim.models.spec import EncoderSpec
from finesim.models.st_format import Parts, load_parts, save_parts
from finesim.models.st_modules import RouterConfig, Settings, resolve_prompt
from finesim.models.towers import Route, TransformerTower

log = logging.getLogger(__name__)

ConvertTo = Literal["numpy", "torch", "list"]


@dataclass
class EncodeStats:
    """What the last ``encode``/``encode_iter`` call did; ``truncated`` counts cut inputs."""

    texts: int = 0
    truncated: int = 0
    tokens: int = 0


class Encoder(nn.Module):
    """A sentence encoder loaded from a model name (``minilm``, ``mpnet``) or a folder.

    Folders may be sentence-transformers models (``modules.json``) or plain transformers
    models, pooled with ``pooling`` (default ``mean``). ``normalize`` and ``max_length``
    override what the folder says. ``backend`` runs ``encode`` on torch, ``onnx`` (fp32) or
    ``onnx-int8`` (onnxruntime; exported once into the cache if the folder has no export);
    None takes a folder's own choice (``finesim export``), else torch. ``forward`` (training)
    is always torch. ``whitening=False`` leaves out a saved whitening layer (``finesim whiten``).
    ``truncate_dim`` keeps the first N components of each vector (Matryoshka models), then
    normalises if the model normalises (see ``encode``); ``dim`` reports N.
    ``spec`` is the ``EncoderSpec`` that loads the same encoder again (``from_spec``).

    As sentence-transformers 6.2: the folder's ``prompts`` are prepended (``encode_query``...);
    a ``Router`` model has a Route per task, each a transformer with pooling or a static
    embedding; ``transformer``, ``tokenizer`` and ``pooling`` are the default route's.

    Bad settings (an unknown pooling or backend) raise ``FinesimError`` naming the value.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = registry.DEFAULT_MODEL,
        *,
        pooling: str | None = None,
        normalize: bool | None = None,
        max_length: int | None = None,
        trust_pickle: bool = False,
        device: str | torch.device | None = None,
        backend: str | None = None,
        whitening: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        folder = registry.resolve(model)
        parts = load_parts(folder, pooling=pooling, trust_pickle=trust_pickle, whitening=whitening)
        self.source = str(model)
        self.routes = nn.ModuleDict(parts.routes)
        self.router: RouterConfig | None = parts.router
        self.dense = nn.ModuleList(parts.tail)  # after the routes; all Dense layers if one route
        ends_normalised = parts.normalize
        if not parts.tail and all(r.normalize for r in parts.routes.values()):
            ends_normalised = True  # every route normalises last: one final Normalize
            for route in parts.routes.values():
                route.normalize = False
        self.normalize = ends_normalised if normalize is None else normalize
        if max_length is not None:
            for route in parts.routes.values():
                route.tower.max_length = min(max_length, route.tower.max_length)
        widths = {r.full_dim for r in parts.routes.values()}
        if len(widths) > 1:
            raise FinesimError(f"{folder}: the routes give vectors of different lengths {widths}")
        self.settings: Settings = parts.settings
        self.prompts: dict[str, str] = dict(parts.settings.prompts)
        self.default_prompt_name = parts.settings.default_prompt_name
        self.similarity_fn_name = parts.settings.similarity_fn_name
        saved_cut = parts.settings.truncate_dim if truncate_dim is None else truncate_dim
        self.truncate_dim = self._check_truncate(saved_cut)
        self.stats = EncodeStats()
        self.to(torch.device(device) if device is not None else torch.device("cpu"))
        self.eval()
        self.backend = "torch"
        self._onnx: Any = None
        self._loaded_with = EncoderSpec(
            model=self.source,
            pooling=pooling,
            trust_pickle=trust_pickle,
            backend="torch",
            whitening=whitening,
            max_length=max_length,
            normalize=normalize,
            truncate_dim=truncate_dim,
        )
        # A complete torch encoder from here on; only then is another backend attached.
        if backend not in (None, "torch") and not self._plain:
            raise FinesimError(f"backend {backend!r} runs one-transformer models only; use torch")
        if backend != "torch" and self._plain:  # None: an exported folder's choice, else torch
            self._attach_backend(folder, backend)

    @classmethod
    def from_spec(cls, spec: EncoderSpec, *, device: str | torch.device | None = None) -> Encoder:
        """The encoder ``spec`` describes, on ``device`` (default cpu)."""
        return cls(
            spec.model,
            pooling=spec.pooling,
            normalize=spec.normalize,
            max_length=spec.max_length,
            trust_pickle=spec.trust_pickle,
            device=device,
            backend=spec.backend,
            whitening=spec.whitening,
            truncate_dim=spec.truncate_dim,
        )

    def _attach_backend(self, folder: Path, backend: str | None) -> None:
        """Run ``encode`` on ``backend`` (None: the folder's own choice) from now on.

        Called once this torch encoder is complete: a folder never exported is exported from
        it (into the cache) on the way, so the export traces a finished model.
        """
        from finesim.models.onnx.backend import open_backend

        def export(out: Path) -> None:
            from finesim.models.onnx.export import export_onnx

            export_onnx(self, out, int8=True, overwrite=True)

        self.backend, self._onnx = open_backend(
            folder,
            backend,
            fingerprint=lambda: self.fingerprint(backend="torch"),
            export=export,
            source=self.source,
        )

    # ---- routes --------------------------------------------------------------------------

    @property
    def _plain(self) -> bool:
        """One transformer route: what ONNX export and the token-level tools handle."""
        return self.router is None and isinstance(self._route(None).tower, TransformerTower)

    def route_name(self, task: str | None) -> str:
        """The route ``task`` takes ("query", "document", None: the default)."""
        return "default" if self.router is None else self.router.resolve(task)

    def _route(self, task: str | None) -> Route:
        route: Route = self.routes[self.route_name(task)]  # type: ignore[assignment]
        return route

    @property
    def transformer(self) -> Any:
        """The default route's transformers model (a StaticEmbedding route has none)."""
        tower = self._route(None).tower
        if not isinstance(tower, TransformerTower):
            raise FinesimError(f"{self.source}: a StaticEmbedding model has no transformer")
        return tower.transformer

    @property
    def tokenizer(self) -> Any:
        return self._route(None).tower.tokenizer

    @property
    def pooling(self) -> tuple[str, ...]:
        return self._route(None).tower.pooling

    @property
    def max_length(self) -> int:
        return int(self._route(None).tower.max_length)

    @property
    def do_lower_case(self) -> bool:
        return bool(self._route(None).tower.do_lower_case)

    def _prompt(self, prompt: str | None, prompt_name: str | None) -> str:
        return resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)

    # ---- description -------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Length of the output vectors: ``truncate_dim`` where set, else ``full_dim``."""
        return self.truncate_dim or self.full_dim

    @property
    def full_dim(self) -> int:
        """Length of the model's vectors before any truncation (what ``forward`` returns)."""
        if len(self.dense):
            last: Dense = self.dense[-1]  # type: ignore[assignment]
            return last.linear.out_features
        return self._route(None).full_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def spec(self) -> EncoderSpec:
        """What this encoder was loaded from and with, and the backend it runs.

        ``Encoder.from_spec(encoder.spec)`` loads the same encoder again,
        here or in another process. Training or whitening in place changes the weights, not
        the spec; ``fingerprint`` tells such encoders apart.
        """
        return self._loaded_with.replace(backend=self.backend)

    def info(self) -> dict[str, Any]:
        """What ``finesim info`` prints."""
        from finesim.models.describe import describe

        return describe(self)

    def fingerprint(self, backend: str | None = None) -> str:
        """A hash of the weights, tokenizer and settings: equal fingerprints, equal vectors.

        Computed from what is in memory (not file names or dates), so a model changed by
        training gets a new fingerprint and caches keyed by it never serve stale vectors.
        ``backend``: whose vectors (default the backend this encoder runs); an ONNX export
        records its torch weights' fingerprint, ``fingerprint(backend="torch")``.
        """
        from finesim.models.describe import fingerprint

        return fingerprint(self, backend)

    # ---- tokenising and the forward pass -----------------------------------------------

    def tokenize(
        self, texts: Sequence[str], max_length: int | None = None, task: str | None = None
    ) -> tuple[dict[str, torch.Tensor], int]:
        """Model inputs for ``texts`` (on ``task``'s route) and how many were truncated."""
        tower = self._route(task).tower
        encodings = tower.encodings(texts, max_length)
        return tower.collate(encodings), sum(bool(e.overflowing) for e in encodings)

    def _encodings(self, texts: Sequence[str], max_length: int | None) -> list[Any]:
        return self._route(None).tower.encodings(texts, max_length)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        normalize: bool | None = None,
        *,
        task: str | None = None,
        prompt_length: int = 0,
    ) -> torch.Tensor:
        """Sentence vectors for tokenised inputs (dropout follows ``train()``/``eval()``).

        ``prompt_length``: leading positions the pooling leaves out (``include_prompt`` off).
        """
        route = self._route(task)
        features = {k: v.to(self.device) for k, v in features.items()}
        vectors = route.tower(features, prompt_length)
        for layer in route.dense:
            vectors = layer(vectors)
        if route.normalize:
            vectors = F.normalize(vectors, p=2, dim=-1)
        for layer in self.dense:
            vectors = layer(vectors)
        if self.normalize if normalize is None else normalize:
            vectors = F.normalize(vectors, p=2, dim=-1)
        return vectors

    def _check_truncate(self, truncate_dim: int | None) -> int | None:
        """``truncate_dim`` if it is a length within the model's vectors, else a FinesimError."""
        if truncate_dim is None:
            return None
        full = self.full_dim
        if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, int):
            raise FinesimError(f"truncate_dim {truncate_dim!r} is not an integer")
        if not 1 <= truncate_dim <= full:
            raise FinesimError(f"truncate_dim {truncate_dim}: must be 1..{full} for this model")
        return truncate_dim

    def _vectors(
        self,
        features: dict[str, torch.Tensor],
        normalize: bool | None,
        truncate_dim: int | None,
        task: str | None = None,
        prompt_length: int = 0,
    ) -> torch.Tensor:
        """``forward`` on torch or through the ONNX session, cut, then normalised.

        Cut before normalising, so a truncated vector of a normalising model is unit length.
        The ONNX graph pools every token: a prompt left out of the pooling runs on torch.
        """
        if self._onnx is None or prompt_length:
            out = self.forward(features, normalize=False, task=task, prompt_length=prompt_length)
        else:
            out = torch.from_numpy(self._onnx({k: v.numpy() for k, v in features.items()}))
        if truncate_dim is not None:
            out = out[:, :truncate_dim]
        if self.normalize if normalize is None else normalize:
            out = F.normalize(out, p=2, dim=-1)
        return out

    # ---- encoding ----------------------------------------------------------------------

    def _encode_chunk(
        self,
        texts: Sequence[str],
        batch_size: int,
        normalize: bool | None,
        max_length: int | None,
        truncate_dim: int | None,
        on_batch: Callable[[int], None] | None = None,
        task: str | None = None,
        prompt: str = "",
    ) -> torch.Tensor:
        """Vectors for ``texts`` in input order, batched by token count to cut padding."""
        tower = self._route(task).tower
        cut = tower.prompt_length(prompt, max_length)
        encodings = tower.encodings([prompt + t for t in texts] if prompt else texts, max_length)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        result = torch.empty(len(texts), truncate_dim or self.full_dim, dtype=torch.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tower.collate([encodings[i] for i in idx])
            vectors = self._vectors(batch, normalize, truncate_dim, task, cut)
            # index_copy_, not result[idx] = ...: that index_put took 8 ms a batch here
            result.index_copy_(0, torch.tensor(idx), vectors.float().cpu())
            if on_batch is not None:
                on_batch(len(idx))
        self.stats.texts += len(texts)
        self.stats.truncated += sum(bool(e.overflowing) for e in encodings)
        self.stats.tokens += sum(len(e.ids) for e in encodings)
        return result

    def encode_iter(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        normalize: bool | None = None,
        max_length: int | None = None,
        chunk_size: int = 4096,
        total: int | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int], None] | None = None,
        truncate_dim: int | None = None,
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        task: str | None = None,
    ) -> Iterator[np.ndarray]:
        """Encode a stream chunk by chunk, yielding float32 arrays in input order.

        Only ``chunk_size`` texts are tokenised at a time, so a corpus never sits in memory.
        ``on_batch`` is called with the number of texts after each batch (for progress bars).
        ``truncate_dim``, ``prompt_name``, ``prompt`` and ``task`` as in ``encode``.
        """
        if batch_size < 1 or chunk_size < 1:
            raise ValueError("batch_size and chunk_size must be >= 1")
        cut = self._check_truncate(truncate_dim) or self.truncate_dim
        text_prompt = self._prompt(prompt, prompt_name)
        self.route_name(task)  # an unknown task fails before any work
        self.stats = EncodeStats()
        iterator = iter(texts)
        with progress_bar(show_progress, total) as advance, torch.inference_mode():
            callback = advance or on_batch
            while chunk := list(islice(iterator, chunk_size)):
                args = (batch_size, normalize, max_length, cut, callback, task, text_prompt)
                yield self._encode_chunk(chunk, *args).numpy()
        if self.stats.truncated:
            log.info(
                "%d of %d inputs were longer than %d tokens and were truncated",
                self.stats.truncated,
                self.stats.texts,
                min(max_length or self.max_length, self.max_length),
            )

    def encode(
        self,
        texts: str | Sequence[str],
        batch_size: int = 32,
        normalize: bool | None = None,
        max_length: int | None = None,
        show_progress: bool | None = None,
        convert_to: ConvertTo = "numpy",
        truncate_dim: int | None = None,
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        task: str | None = None,
    ) -> Any:
        """Embed one text (a vector) or a list of texts (a matrix, rows in input order).

        ``normalize`` None keeps the model's own choice; ``max_length`` may only shorten the
        model's limit. ``convert_to`` is ``numpy``, ``torch`` or ``list``.

        ``prompt`` (text prepended to every input) beats ``prompt_name`` (a key of
        ``prompts``), which beats ``default_prompt_name``; ``task`` picks a Router's route.

        ``truncate_dim`` (None: the encoder's own) keeps the first N components, then
        normalises if the model normalises (or ``normalize=True``): truncated vectors of a
        normalising model are unit length. sentence-transformers 6.2 cuts after its Normalize
        module and does not normalise again (unless ``normalize_embeddings=True``), so its
        vectors are shorter than 1; finesim's equal them normalised again.
        """
        single = isinstance(texts, str)
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in batch):
            raise TypeError("encode takes a string or a list of strings")
        if show_progress is None:
            show_progress = len(batch) >= 1024  # a bar at a terminal, log lines elsewhere
        blocks = (
            list(
                self.encode_iter(
                    batch,
                    batch_size,
                    normalize,
                    max_length,
                    chunk_size=max(len(batch), 1),
                    total=len(batch),
                    show_progress=show_progress,
                    truncate_dim=truncate_dim,
                    prompt_name=prompt_name,
                    prompt=prompt,
                    task=task,
                )
            )
            if batch
            else []
        )
        if blocks:
            matrix = np.concatenate(blocks)
        else:  # encode_iter checked its arguments only if it ran
            self._prompt(prompt, prompt_name)
            self.route_name(task)
            width = self._check_truncate(truncate_dim) or self.dim
            matrix = np.zeros((0, width), dtype=np.float32)
        out = matrix[0] if single else matrix
        if convert_to == "torch":
            return torch.from_numpy(out)
        if convert_to == "list":
            return out.tolist()
        if convert_to != "numpy":
            raise ValueError(f"convert_to must be numpy, torch or list, not {convert_to!r}")
        return out

    def encode_query(
        self, texts: str | Sequence[str], prompt_name: str | None = None, **kwargs: Any
    ) -> Any:
        """``encode`` for search queries: the "query" prompt (if the model has one and no
        prompt is given) and the query route, as sentence-transformers' ``encode_query``."""
        return self._encode_as("query", texts, prompt_name, **kwargs)

    def encode_document(
        self, texts: str | Sequence[str], prompt_name: str | None = None, **kwargs: Any
    ) -> Any:
        """``encode`` for searched texts: the "document" prompt and route (``encode_query``)."""
        return self._encode_as("document", texts, prompt_name, **kwargs)

    def _encode_as(
        self, task: str, texts: str | Sequence[str], prompt_name: str | None, **kwargs: Any
    ) -> Any:
        if prompt_name is None and kwargs.get("prompt") is None and task in self.prompts:
            prompt_name = task
        return self.encode(texts, prompt_name=prompt_name, task=task, **kwargs)

    # ---- saving ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write a sentence-transformers folder (safetensors), atomically."""
        return save_folder(Path(path), overwrite, self.write_folder)

    def write_folder(self, folder: Path) -> None:
        """Write the sentence-transformers files into an existing, empty ``folder``."""
        settings = Settings(
            dict(self.prompts), self.default_prompt_name, self.similarity_fn_name, self.truncate_dim
        )
        routes = dict(self.routes.items())
        save_parts(folder, Parts(routes, self.router, list(self.dense), self.normalize, settings))  # type: ignore[arg-type]
