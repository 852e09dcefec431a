"""BERT-whitening (Su et al., 2021): a linear map fitted on a corpus that makes its vectors
zero-mean with identity covariance, optionally keeping only the top ``k`` directions.

Why: sentence vectors of a pretrained encoder crowd into a narrow cone (high anisotropy), so
cosine mostly measures where the cone points; whitening spreads them out using nothing but the
corpus texts (no labels). It is saved as a sentence-transformers ``Dense`` module (identity
activation: ``y = (x - mean) @ W``) followed by ``Normalize``, so sentence-transformers applies
it too. A ``finesim_whitening.json`` beside the Dense weights marks it, so finesim can switch
it off (``Encoder(folder, whitening=False)``) and tell what it was fitted on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.models.dense import Dense

MARKER = "finesim_whitening.json"
IDENTITY = "torch.nn.modules.linear.Identity"


@dataclass
class WhiteningFit:
    """``mean`` (d,) and ``matrix`` (d, k): whitened = (x - mean) @ matrix."""

    mean: np.ndarray
    matrix: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Whitened (not normalised) vectors, float32."""
        return ((vectors.astype(np.float64) - self.mean) @ self.matrix).astype(np.float32)


def fit_whitening(vectors: np.ndarray, dim: int | None = None, eps: float = 1e-6) -> WhiteningFit:
    """Fit on ``vectors`` (n x d); ``dim`` keeps the top directions (None: all d).

    ``eps`` guards directions with almost no variance (a normalised model has one).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError("whitening needs at least two vectors (an n x d matrix)")
    d = x.shape[1]
    k = d if dim is None else dim
    if not 1 <= k <= d:
        raise ValueError(f"whitening dimension must be between 1 and {d}, not {dim}")
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    u, s, _ = np.linalg.svd(cov)
    matrix = u[:, :k] / np.sqrt(s[:k] + eps)
    return WhiteningFit(mean, matrix)


class Whitening(Dense):
    """The fitted map as a Dense layer; ``pre_normalize`` L2-normalises its input first
    (the map was fitted on the model's normalised output)."""

    def __init__(self, in_features: int, out_features: int, pre_normalize: bool = False) -> None:
        super().__init__(in_features, out_features, True, IDENTITY)
        self.pre_normalize = pre_normalize
        self.record: dict[str, Any] = {}

    @classmethod
    def from_fit(
        cls, fit: WhiteningFit, pre_normalize: bool, record: dict[str, Any] | None = None
    ) -> Whitening:
        layer = cls(fit.matrix.shape[0], fit.dim, pre_normalize)
        with torch.no_grad():
            layer.linear.weight.copy_(torch.from_numpy(fit.matrix.T.copy()).float())
            layer.linear.bias.copy_(torch.from_numpy(-fit.mean @ fit.matrix).float())
        layer.record = dict(record or {})
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_normalize:
            x = F.normalize(x, p=2, dim=-1)
        return self.linear(x)

    def marker(self) -> dict[str, Any]:
        """What ``finesim_whitening.json`` holds (``pre_normalize`` is also whether the model
        normalised its output before it was whitened: switched off, it does so again)."""
        return {**self.record, "dim": self.linear.out_features, "pre_normalize": self.pre_normalize}


def whiten_encoder(
    encoder: Any,
    texts: Sequence[str],
    dim: int | None = None,
    *,
    batch_size: int = 32,
    vectors: np.ndarray | None = None,
    record: dict[str, Any] | None = None,
) -> Any:
    """Append a whitening layer fitted on ``texts`` to ``encoder`` (in place) and return it.

    ``vectors`` may pass the encoder's own vectors of ``texts`` (e.g. from the cache). The
    output is L2-normalised afterwards, as cosine similarity expects.
    """
    if any(isinstance(layer, Whitening) for layer in encoder.dense):
        raise ValueError("the model is already whitened; load it with whitening=False first")
    if vectors is None:
        vectors = encoder.encode(list(texts), batch_size=batch_size)
    fit = fit_whitening(vectors, dim)
    info = {"texts": len(texts), **(record or {})}
    layer = Whitening.from_fit(fit, pre_normalize=bool(encoder.normalize), record=info)
    encoder.dense.append(layer)
    encoder.normalize = True
    return encoder


def load_whitening(dense: Dense, folder: Path) -> Whitening:
    """The Dense layer read from ``folder`` as a Whitening layer, with its marker."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        pre = bool(marker["pre_normalize"])
    except (OSError, *JSON_ERRORS, KeyError, TypeError) as e:
        raise FinesimError(f"{folder / MARKER}: bad whitening record ({json_problem(e)})") from None
    if dense.activation_name != IDENTITY:
        raise FinesimError(f"{folder}: a whitening layer must have the identity activation")
    layer = Whitening(dense.linear.in_features, dense.linear.out_features, pre)
    layer.linear.load_state_dict(dense.linear.state_dict())
    layer.record = {k: v for k, v in marker.items() if k not in ("dim", "pre_normalize")}
    return layer
