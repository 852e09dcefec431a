"""``finesim.CrossEncoder``: a transformer that reads two texts together and scores the pair.

A bi-encoder (``Encoder``) embeds each text alone; a cross-encoder sees ``[CLS] a [SEP] b``
and a classification head scores it: slower (one forward pass per pair) but more accurate,
hence the second stage of retrieval (reranking) and pair classification (NLI).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from finesim._util.atomic import save_folder
from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.models import registry
from finesim.models.cross_format import CrossParts, activation_name, load_cross, save_cross
from finesim.models.describe import hash_weights
from finesim.models.onnx.format import check_backend, read_meta
from finesim.models.towers import pad

Pair = tuple[str, str]
Activation = str | Callable[[torch.Tensor], torch.Tensor] | None

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "tanh": torch.tanh,
    "relu": torch.relu,
}


@dataclass
class PredictStats:
    """What the last ``predict`` did: pairs scored, pairs cut to fit, tokens read."""

    pairs: int = 0
    truncated: int = 0
    tokens: int = 0


def _pairs(value: Any) -> tuple[list[Pair], bool]:
    """(pairs, whether one pair was given alone); a TypeError for anything else."""
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(t, str) for t in value)
    ):
        return [(value[0], value[1])], True
    if not isinstance(value, (tuple, list)):
        raise TypeError("predict takes a pair of strings or a list of pairs")
    pairs = []
    for item in value:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError("predict takes a pair of strings or a list of pairs")
        if not all(isinstance(t, str) for t in item):
            raise TypeError("each pair must hold two strings")
        pairs.append((item[0], item[1]))
    return pairs, False


def _own_default(folder: Path) -> str:
    """The backend a folder's own cross-encoder export chose, else torch (a sentence
    encoder's export in the folder is another graph, not this model's)."""
    meta = read_meta(folder)
    if meta is not None and meta.get("kind") == "cross-encoder":
        return str(meta.get("default_backend", "onnx"))
    return "torch"


class CrossEncoder(nn.Module):
    """A cross-encoder from a folder (sentence-transformers' CrossEncoder format, any version).

    ``num_labels`` 1 scores relevance or similarity (the saved activation, default sigmoid,
    as sentence-transformers 6.2); more labels classify (NLI), raw logits by default. A folder
    without a head (a sentence encoder such as ``minilm``, a plain BERT) gets a fresh random
    head of ``num_labels`` (default 1), to be trained. ``max_length`` may only shorten the
    folder's limit; ``activation`` replaces the saved one (a name of ``ACTIVATIONS``).
    Pickled weights load only with ``trust_pickle``. ``backend`` runs ``predict`` on torch,
    ``onnx`` (fp32) or ``onnx-int8`` (onnxruntime; exported once into the cache); training
    always runs on torch.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        num_labels: int | None = None,
        max_length: int | None = None,
        activation: str | None = None,
        trust_pickle: bool = False,
        device: str | torch.device | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__()
        if backend is not None:
            check_backend(backend)
        folder = registry.resolve(model)
        parts = load_cross(folder, num_labels=num_labels, trust_pickle=trust_pickle)
        self.source = str(model)
        self.model = parts.model
        self.tokenizer = parts.tokenizer
        self.fresh_head = parts.fresh_head
        limit = parts.max_length
        self.max_length = min(max_length, limit) if max_length is not None else limit
        self.activation = (
            parts.activation if activation is None else activation_name(activation, "activation")
        )
        self.backend = "torch"
        self.stats = PredictStats()
        self._fast: Tokenizer | None = None
        self._fast_length = -1
        self._onnx: Any = None
        self.to(torch.device(device) if device is not None else torch.device("cpu"))
        self.eval()
        chosen = backend or _own_default(folder)
        if chosen != "torch":
            self._attach_backend(folder, chosen)

    def _attach_backend(self, folder: Path, backend: str) -> None:
        """Run ``predict`` on ``backend``: the folder's export when it is of these weights,
        else one made once into the cache (``onnx.backend``)."""
        from finesim.models.onnx.backend import open_backend

        def export(out: Path) -> None:
            from finesim.models.onnx.export_cross import export_cross_onnx

            export_cross_onnx(self, out, overwrite=True)

        self.backend, self._onnx = open_backend(
            folder,
            backend,
            fingerprint=self.fingerprint,
            export=export,
            source=self.source,
            output="logits",
        )

    def fingerprint(self) -> str:
        """A hash of the weights, tokenizer and limits: equal fingerprints, equal logits (on
        torch). An ONNX export records the fingerprint of the weights it was made from."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr(("cross", self.num_labels, self.max_length)).encode())
        digest.update(self.tokenizer.backend_tokenizer.to_str().encode())
        hash_weights(digest, self.model.state_dict())
        return digest.hexdigest()

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels or 1)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---- tokenising and the forward pass -------------------------------------------------

    def _backend(self, max_length: int) -> Tokenizer:
        """The fast tokenizer, truncating pairs longest-first at ``max_length``, no padding."""
        if self._fast is None or self._fast_length != max_length:
            fast = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
            fast.no_padding()
            fast.enable_truncation(max_length, strategy="longest_first")
            self._fast, self._fast_length = fast, max_length
        return self._fast

    def _encodings(self, pairs: Sequence[Pair], max_length: int | None) -> list[Any]:
        limit = min(max_length or self.max_length, self.max_length)
        return self._backend(limit).encode_batch(list(pairs))

    def _collate(self, encodings: Sequence[Any]) -> dict[str, torch.Tensor]:
        return pad(encodings, self.tokenizer)

    def tokenize(
        self, pairs: Sequence[Pair], max_length: int | None = None
    ) -> tuple[dict[str, torch.Tensor], int]:
        """Model inputs for ``pairs`` and how many were truncated."""
        encodings = self._encodings(pairs, max_length)
        return self._collate(encodings), sum(bool(e.overflowing) for e in encodings)

    def count_tokens(self, pairs: Sequence[Pair]) -> list[int]:
        """Tokens per pair after truncation (a server's batch budget counts these)."""
        return [len(e.ids) for e in self._encodings(pairs, None)]

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits, one row of ``num_labels`` per pair (dropout follows ``train()``/``eval()``)."""
        features = {k: v.to(self.device) for k, v in features.items()}
        logits: torch.Tensor = self.model(**features, return_dict=True).logits
        return logits

    def _run(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits at inference: on the ONNX graph when this model runs one, else ``forward``."""
        if self._onnx is None:
            return self.forward(features)
        return torch.from_numpy(self._onnx({k: v.numpy() for k, v in features.items()}))

    def logits(
        self, pairs: Sequence[Pair], max_length: int | None = None, bucket: int = 16
    ) -> torch.Tensor:
        """Logits of ``pairs`` with a graph, for training (dropout follows ``train()``), in
        input order: shape (pairs, ``num_labels``).

        The pairs run in groups of ``bucket`` of similar token length (padding every pair to
        the longest of a batch wastes a CPU's time on short ones); the grouping depends on the
        pairs only, so a rerun of the same batch draws the same dropout masks.
        """
        if not pairs:
            return torch.empty(0, self.num_labels, device=self.device)
        encodings = self._encodings(pairs, max_length)
        order = sorted(range(len(pairs)), key=lambda i: len(encodings[i].ids))
        parts = [
            self.forward(self._collate([encodings[i] for i in order[start : start + bucket]]))
            for start in range(0, len(order), bucket)
        ]
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        return torch.cat(parts)[inverse.to(parts[0].device)]

    # ---- scoring -------------------------------------------------------------------------

    def _activation(self, activation: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
        if activation is None:
            return _FUNCTIONS[self.activation]
        if isinstance(activation, str):
            return _FUNCTIONS[activation_name(activation, "activation")]
        return activation

    def predict(
        self,
        pairs: Pair | Sequence[Pair],
        batch_size: int = 32,
        activation: Activation = None,
        max_length: int | None = None,
        show_progress: bool | None = None,
    ) -> Any:
        """Scores of ``pairs`` in input order: a float per pair (``num_labels`` 1) or a row of
        ``num_labels``; one pair alone gives a float (or a row).

        Pairs are batched by token count (fewest pads), as sentence-transformers does.
        ``activation``: None the model's own, a name (``identity`` gives logits) or a function
        of a tensor.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        batch, single = _pairs(pairs)
        act = self._activation(activation)
        encodings = self._encodings(batch, max_length)
        order = sorted(range(len(batch)), key=lambda i: -len(encodings[i].ids))
        result = torch.empty(len(batch), self.num_labels, dtype=torch.float32)
        with progress_bar(show_progress, len(batch)) as advance, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                scores = act(self._run(self._collate([encodings[i] for i in idx])).float())
                result.index_copy_(0, torch.tensor(idx), scores.cpu())
                if advance is not None:
                    advance(len(idx))
        self.stats = PredictStats(
            len(batch),
            sum(bool(e.overflowing) for e in encodings),
            sum(len(e.ids) for e in encodings),
        )
        out = result.numpy()
        if self.num_labels == 1:
            out = out[:, 0]
        return out[0] if single else out

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        activation: Activation = None,
    ) -> list[dict[str, Any]]:
        """Documents by score for ``query``, best first, as sentence-transformers' ``rank``:
        ``{"corpus_id", "score"}`` (and ``"text"`` with ``return_documents``), the best
        ``top_k`` (None: all). Ties keep input order. A one-score model only."""
        if self.num_labels != 1:
            raise FinesimError(
                f"rank needs a model with one score; this one has {self.num_labels} labels"
            )
        if not isinstance(query, str) or not all(isinstance(d, str) for d in documents):
            raise TypeError("rank takes a query string and a list of document strings")
        if top_k is not None and top_k < 0:
            raise ValueError("top_k must be >= 0")
        if not documents:
            return []
        scores = self.predict([(query, d) for d in documents], batch_size, activation)
        order = sorted(range(len(documents)), key=lambda i: -float(scores[i]))
        hits = []
        for i in order[:top_k]:
            hit: dict[str, Any] = {"corpus_id": i, "score": float(scores[i])}
            if return_documents:
                hit["text"] = documents[i]
            hits.append(hit)
        return hits

    # ---- saving --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write a sentence-transformers 6.2 CrossEncoder folder (safetensors), atomically."""
        return save_folder(Path(path), overwrite, self.write_folder)

    def write_folder(self, folder: Path) -> None:
        """Write the folder's files into an existing, empty ``folder`` (a checkpoint's temp
        folder, swapped in whole by its caller)."""
        parts = CrossParts(self.model, self.tokenizer, self.max_length, self.activation, False)
        save_cross(folder, parts)
